/**
 * The single executable's entry (scripts/build.mjs makes it the SEA's main, with its own small code
 * cache). VERSION is answered here with nothing else loaded: runtimes ask it often, and it costs
 * Node's start-up alone. Every other call runs the program (the bundle of src/main.ts, an asset of
 * the executable) compiled with a code cache the build trained on real ADD and DEL calls: the
 * functions those calls run come deserialized with the script, where Node's own SEA code cache
 * (made without running anything) holds only the top level and every function is compiled on its
 * first call. VERSION does not load that cache (it would cost it a few ms).
 *
 * The program asset is the bundle wrapped as a CommonJS function and must be byte for byte the text
 * the cache was made from (V8 checks the length only), so both come from one build. A cache V8
 * rejects (another V8, other flags) is ignored: the program is then compiled as it runs.
 *
 * __TETHER_TRAIN__ (the training build only, run by plain node): the program and the cache to start
 * from come from files, and the cache made after the call is written out (scripts/build.mjs).
 */
import { answerVersion } from "../cni/versionCall";
import { lazy } from "../util/lazy";

declare const __TETHER_TRAIN__: boolean;
/** Node options that undo the executable's V8 flags for the agent ("" when it has none): scripts/build.mjs. */
declare const __TETHER_AGENT_NODE_OPTIONS__: string;

export const PROGRAM_ASSET = "tether.js";
export const CACHE_ASSET = "tether.cache";
/** STATUS (asked every few seconds) has its own, small cache: the big one costs it more than it saves. */
export const STATUS_CACHE_ASSET = "tether.status.cache";
/** DEL has its own too, trained on DELs alone: it runs a smaller part of the program than ADD. */
export const DEL_CACHE_ASSET = "tether.del.cache";
/** The cache of each command that has one of its own; every other call loads CACHE_ASSET. */
const CACHE_OF: Readonly<Record<string, string>> = { STATUS: STATUS_CACHE_ASSET, DEL: DEL_CACHE_ASSET };
/** Where the front leaves what became of the cache, for `tether version --json` (src/buildInfo.ts). */
export const CODE_CACHE_STATE = Symbol.for("tether.codeCache");

const vmModule = lazy(() => require("node:vm") as typeof import("node:vm"));
const seaModule = lazy(() => require("node:sea") as typeof import("node:sea"));
const fsModule = lazy(() => require("node:fs") as typeof import("node:fs"));

type ProgramFn = (exports: object, req: NodeJS.Require, mod: { exports: object }, filename: string, dirname: string) => void;

/** The program's text and its cache: SEA assets (mapped, not copied), or the training files. */
function programSource(env: NodeJS.ProcessEnv): { text: string; cache: Uint8Array | undefined; filename: string } {
  if (__TETHER_TRAIN__) {
    const fs = fsModule();
    const program = env["TETHER_TRAIN_PROGRAM"] ?? "";
    const cacheIn = env["TETHER_TRAIN_CACHE_IN"];
    // The program's __filename: where the natives resolve from (node_modules) outside a SEA.
    const filename = env["TETHER_TRAIN_FILENAME"] ?? program;
    return { text: fs.readFileSync(program, "latin1"), cache: cacheIn ? fs.readFileSync(cacheIn) : undefined, filename };
  }
  const sea = seaModule();
  // The bundle is ASCII (esbuild escapes the rest; the build checks): latin1 is a plain copy.
  const text = Buffer.from(sea.getRawAsset(PROGRAM_ASSET) as ArrayBuffer).toString("latin1");
  let cache: Uint8Array | undefined;
  try {
    cache = new Uint8Array(sea.getRawAsset(CACHE_OF[env["CNI_COMMAND"] ?? ""] ?? CACHE_ASSET) as ArrayBuffer);
  } catch {
    cache = undefined; // every build with this front carries one; without it the program compiles as it runs
  }
  return { text, cache, filename: __filename };
}

function runProgram(env: NodeJS.ProcessEnv): void {
  const { text, cache, filename } = programSource(env);
  const script = new (vmModule().Script)(text, { filename: "tether.cjs", cachedData: cache });
  (globalThis as Record<symbol, unknown>)[CODE_CACHE_STATE] = cache === undefined ? "none" : script.cachedDataRejected === true ? "rejected" : "accepted";
  if (__TETHER_TRAIN__) {
    const out = env["TETHER_TRAIN_CACHE_OUT"] ?? "";
    const rejected = cache !== undefined && script.cachedDataRejected === true;
    process.on("exit", () => {
      fsModule().writeFileSync(out, script.createCachedData());
      fsModule().writeFileSync(`${out}.json`, JSON.stringify({ rejected }) + "\n");
    });
  }
  const fn = script.runInThisContext() as ProgramFn;
  const mod = { exports: {} };
  fn.call(mod.exports, mod.exports, require, mod, filename, filename.slice(0, Math.max(filename.lastIndexOf("/"), 0)) || "/");
}

/**
 * `tether agent` runs for days on the cluster's objects: it gets V8's defaults back (a random hash
 * seed, the small young generation) by executing itself again with `--node-options` (the SEA's
 * execArgvExtension "cli"; same pid, so a container's init sees no change). Once: the second run
 * finds the options in its execArgv.
 */
function reexecAgent(): void {
  const options = __TETHER_AGENT_NODE_OPTIONS__;
  if (process.execArgv.includes(options.split(" ")[0] ?? "")) return;
  // process.execve: Node >= 23.11, not in this @types/node yet.
  const proc = process as NodeJS.Process & { execve?: (file: string, args: string[], env: NodeJS.ProcessEnv) => never };
  try {
    if (proc.execve === undefined) throw new Error("process.execve is missing");
    proc.execve(process.execPath, [process.argv0, `--node-options=${options}`, ...process.argv.slice(2)], process.env);
  } catch (e) {
    // e.g. the executable replaced on disk since it started: run on with the short-call flags.
    process.stderr.write(`tether: agent not re-executed with V8's defaults: ${(e as Error).message}\n`);
  }
}

const env = process.env;
if (env["CNI_COMMAND"] === "VERSION") answerVersion();
else {
  if (!__TETHER_TRAIN__ && __TETHER_AGENT_NODE_OPTIONS__ !== "" && (env["CNI_COMMAND"] ?? "") === "" && process.argv[2] === "agent") reexecAgent();
  runProgram(env);
}
