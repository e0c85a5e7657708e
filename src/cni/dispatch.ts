/**
 * One CNI invocation: read the environment and stdin, negotiate the version, parse the config, run the
 * command's handler, and write the result or the error object. Only this module turns an error into
 * a CNI error object.
 */
import { statSync, statfsSync } from "node:fs";
import { parseCniArgs, type CniArgs } from "./args";
import { readEnv, parseCommand, type CniEnv, type Command } from "./env";
import { CniError, ErrorCode, toErrorObject } from "./errors";
import { quoteForeign } from "../util/quote";
import { convertResult, parseResult } from "./result";
import type { Result } from "./types";
import { LATEST_VERSION, assertCommandAllowed, isVersionShaped, requestVersion, versionReply, type CniVersion } from "./version";

export interface Io {
  env: NodeJS.ProcessEnv;
  /** Read all of stdin; undefined when stdin is a terminal or absent. */
  readStdin(): Buffer | undefined;
  writeStdout(text: string): void;
  now(): number;
}

/** Everything a command handler gets. C is the plugin's parsed config. */
export interface Invocation<C> {
  command: Exclude<Command, "VERSION">;
  env: CniEnv;
  conf: C;
  /** The decoded request, as received (for delegation and pass-through). */
  raw: Record<string, unknown>;
  /** The exact stdin bytes (delegated plugins get them unchanged). */
  stdin: Buffer;
  version: CniVersion;
  args: CniArgs;
  prevResult: Result | undefined;
}

export interface Handlers<C> {
  add(inv: Invocation<C>): Promise<Result>;
  del(inv: Invocation<C>): Promise<void>;
  check(inv: Invocation<C>): Promise<void>;
  gc(inv: Invocation<C>): Promise<void>;
  status(inv: Invocation<C>): Promise<void>;
}

export interface PluginSpec<C> {
  /** Validate the decoded config; throw CniError (code 7) naming the field. */
  loadConfig(raw: Record<string, unknown>, command: Exclude<Command, "VERSION">): C;
  /** Called once the config is known, before the handler runs (logging set-up). */
  onConfig?(conf: C, env: CniEnv): void;
  handlers(conf: C): Promise<Handlers<C>> | Handlers<C>;
  /**
   * STATUS without loadConfig: runtimes ask every few seconds, so a plugin may answer from the raw
   * request with a cheaper check of the fields it needs (it still throws code 7 on bad ones).
   */
  status?(req: { raw: Record<string, unknown>; env: CniEnv; stdin: Buffer }): Promise<void>;
  onDone?(outcome: { command: string; ok: boolean; ms: number; error?: unknown }): void;
}

const NSFS_MAGIC = 0x6e736673;

function decode(stdin: Buffer): Record<string, unknown> {
  if (stdin.length === 0) {
    throw new CniError(ErrorCode.DecodingFailure, "no network configuration on stdin");
  }
  let value: unknown;
  try {
    value = JSON.parse(stdin.toString("utf8"));
  } catch (e) {
    throw new CniError(ErrorCode.DecodingFailure, `network configuration is not valid JSON: ${(e as Error).message}`);
  }
  if (typeof value !== "object" || value === null || Array.isArray(value)) {
    throw new CniError(ErrorCode.DecodingFailure, "network configuration must be a JSON object");
  }
  return value as Record<string, unknown>;
}

/** The version to put on an error when the request's own could not be read. */
function bestEffortVersion(stdin: Buffer | undefined): string {
  if (!stdin) return LATEST_VERSION;
  try {
    const v = (JSON.parse(stdin.toString("utf8")) as Record<string, unknown>)["cniVersion"];
    if (typeof v !== "string" || v === "") return "0.1.0";
    // Not echoed when it is no version at all (50 KB, control bytes): the runtime reads our latest.
    return isVersionShaped(v) ? v : LATEST_VERSION;
  } catch {
    return LATEST_VERSION;
  }
}

/** CNI_NETNS for ADD/CHECK must be a network namespace, and not the plugin's own (code 8). */
export function validateNetns(path: string, allowOwn: boolean): void {
  let st;
  try {
    st = statSync(path);
  } catch (e) {
    throw new CniError(ErrorCode.InvalidEnvironment, `CNI_NETNS: ${quoteForeign(path)} cannot be opened (${(e as NodeJS.ErrnoException).code ?? e})`);
  }
  let fsType: number | undefined;
  try {
    fsType = statfsSync(path).type;
  } catch {
    fsType = undefined;
  }
  // A bind-mounted namespace file is on nsfs; /proc/<pid>/ns/net reports proc until opened, so also
  // accept those paths and let setns have the last word.
  const procPath = /^\/proc\/(self|thread-self|\d+)(\/task\/\d+)?\/ns\/net$/.test(path);
  if (fsType !== NSFS_MAGIC && !procPath) {
    const what = st.isDirectory() ? "a directory" : st.isFile() ? "a regular file" : "not a namespace file";
    throw new CniError(ErrorCode.InvalidEnvironment, `CNI_NETNS: ${quoteForeign(path)} is not a network namespace (it is ${what})`);
  }
  if (!allowOwn) refuseOwnNetns(path);
}

function refuseOwnNetns(path: string): void {
  let st;
  try {
    st = statSync(path);
  } catch {
    return;
  }
  const own = statSync("/proc/self/ns/net");
  if (own.ino === st.ino && own.dev === st.dev) {
    throw new CniError(ErrorCode.InvalidNetns, `CNI_NETNS: ${path} is the plugin's own network namespace`);
  }
}

/** Run one invocation; returns the process exit code. Never throws. */
export async function dispatch<C>(io: Io, plugin: PluginSpec<C>): Promise<number> {
  const started = io.now();
  let stdin: Buffer | undefined;
  let version: string = LATEST_VERSION;
  let command = io.env["CNI_COMMAND"] ?? "";
  try {
    const cmd = parseCommand(io.env["CNI_COMMAND"]);
    command = cmd;
    if (cmd === "VERSION") {
      stdin = safeRead(io);
      io.writeStdout(versionReply(stdin));
      return 0;
    }
    stdin = io.readStdin() ?? Buffer.alloc(0);
    version = bestEffortVersion(stdin);
    const env = readEnv(io.env);
    const raw = decode(stdin);
    const reqVersion = requestVersion(raw);
    version = reqVersion;
    assertCommandAllowed(cmd, reqVersion);
    if (cmd === "STATUS" && plugin.status !== undefined) {
      await plugin.status({ raw, env, stdin });
      plugin.onDone?.({ command, ok: true, ms: io.now() - started });
      return 0;
    }
    const conf = plugin.loadConfig(raw, cmd);
    plugin.onConfig?.(conf, env);
    const lenientArgs = cmd === "DEL" || cmd === "GC" || cmd === "STATUS";
    const args = parseCniArgs(env.args, lenientArgs);
    if (cmd === "ADD" || cmd === "CHECK") validateNetns(env.netns, env.netnsOverride);
    // DEL in the plugin's own namespace would delete the node's own CNI_IFNAME: refuse it (a gone
    // or non-namespace path is fine for DEL and handled by the plugin as "nothing to do").
    if (cmd === "DEL" && env.netns !== "" && !env.netnsOverride) refuseOwnNetns(env.netns);
    let prevResult: Result | undefined;
    if (raw["prevResult"] !== undefined && raw["prevResult"] !== null && cmd !== "GC" && cmd !== "STATUS") {
      try {
        prevResult = parseResult(raw["prevResult"], reqVersion, "prevResult");
      } catch (e) {
        if (cmd !== "DEL") throw e; // DEL is best effort without it
      }
    }
    const inv: Invocation<C> = { command: cmd, env, conf, raw, stdin, version: reqVersion, args, prevResult };
    const handlers = await plugin.handlers(conf);
    switch (cmd) {
      case "ADD": {
        const result = await handlers.add(inv);
        io.writeStdout(JSON.stringify(convertResult(result, reqVersion)));
        break;
      }
      case "DEL":
        await handlers.del(inv);
        break;
      case "CHECK":
        await handlers.check(inv);
        break;
      case "GC":
        await handlers.gc(inv);
        break;
      case "STATUS":
        await handlers.status(inv);
        break;
    }
    plugin.onDone?.({ command, ok: true, ms: io.now() - started });
    return 0;
  } catch (err) {
    const obj = toErrorObject(err, version);
    try {
      io.writeStdout(JSON.stringify(obj));
    } catch {
      // stdout closed: nothing more we can tell the runtime
    }
    plugin.onDone?.({ command, ok: false, ms: io.now() - started, error: err });
    return 1;
  }
}

function safeRead(io: Io): Buffer | undefined {
  try {
    return io.readStdin();
  } catch {
    return undefined;
  }
}
