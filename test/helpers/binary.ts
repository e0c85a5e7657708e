/**
 * Which tether to run in end-to-end tests.
 *
 * - `TETHER_TEST_BIN=/path/to/tether`: that executable, and only it.
 * - else `dist/tether` when it has been built (the single executable, what runtimes exec);
 * - else `node build/src/main.js` (the compiled sources).
 *
 * `tetherCommands()` lists every variant worth running: the compiled sources always, plus the
 * executable above when there is one, so protocol tests cover both the sources and the bundle.
 */
import { spawn, spawnSync } from "node:child_process";
import { randomBytes } from "node:crypto";
import { accessSync, constants, existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { ATTACHMENT_LOCK_ROOT, lockName, networkLockDir } from "../../src/plugins/attachmentLock";
import { createNetns, type TestNetns } from "./netns";

export interface TetherCommand {
  /** What to exec. */
  cmd: string;
  /** Arguments that come before the test's own. */
  args: string[];
  /** A short name for test titles. */
  label: string;
}

/** The repository root (this file is compiled to build/test/helpers/). */
export const REPO_ROOT = resolve(__dirname, "..", "..", "..");
export const DIST_BIN = join(REPO_ROOT, "dist", "tether");
export const COMPILED_MAIN = join(REPO_ROOT, "build", "src", "main.js");

export function isExecutableFile(path: string): boolean {
  try {
    if (!statSync(path).isFile()) return false;
    accessSync(path, constants.X_OK);
    return true;
  } catch {
    return false;
  }
}

export function compiledMainCommand(): TetherCommand {
  return { cmd: process.execPath, args: [COMPILED_MAIN], label: "node build/src/main.js" };
}

/** dist/tether, when it exists and is executable. */
export function distCommand(): TetherCommand | undefined {
  return isExecutableFile(DIST_BIN) ? { cmd: DIST_BIN, args: [], label: "dist/tether" } : undefined;
}

/**
 * The one tether to use: TETHER_TEST_BIN, else dist/tether if built, else the compiled main.
 * TETHER_TEST_BIN=compiled: the compiled main even when dist/tether exists (the quick tier).
 */
export function tetherCommand(): TetherCommand {
  const explicit = process.env["TETHER_TEST_BIN"];
  if (explicit === "compiled") return compiledMainCommand();
  if (explicit !== undefined && explicit !== "") {
    const cmd = resolve(explicit);
    if (!existsSync(cmd)) throw new Error(`TETHER_TEST_BIN=${explicit}: no such file`);
    return { cmd, args: [], label: `TETHER_TEST_BIN (${explicit})` };
  }
  return distCommand() ?? compiledMainCommand();
}

/** The compiled main, plus tetherCommand() when that is something else. */
export function tetherCommands(): TetherCommand[] {
  const main = compiledMainCommand();
  const preferred = tetherCommand();
  return preferred.cmd === main.cmd && preferred.args.join("\0") === main.args.join("\0") ? [main] : [main, preferred];
}

/** What a runtime sees of one tether invocation. */
export interface CniOutcome {
  status: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
}

/** One CNI invocation, as a runtime makes it: only PATH and CNI_* in the environment, config on stdin. */
export interface CniInvocation {
  command: string;
  containerId: string;
  /** CNI_NETNS (may be "" or a path that no longer exists). */
  netns: string;
  ifname?: string;
  /** CNI_ARGS, when set. */
  args?: string;
  /** CNI_PATH; default: the directory of dist/tether. */
  cniPath?: string;
  /** stdin: the config object (JSON-encoded here) or the exact text. */
  config: string | object;
  /** Run tether inside this `ip netns` namespace (the test's "node"); undefined = the current one. */
  inNetns?: string;
  /** Which tether; default tetherCommand(). */
  tether?: TetherCommand;
  /** More environment variables (e.g. TETHER_FAULT_AT for tether-faults). */
  env?: Record<string, string>;
  timeoutMs?: number;
}

export const RUNTIME_PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";

function cniSpawn(inv: CniInvocation): { cmd: string; args: string[]; env: Record<string, string>; input: string } {
  const t = inv.tether ?? tetherCommand();
  const env: Record<string, string> = {
    PATH: RUNTIME_PATH,
    CNI_COMMAND: inv.command,
    CNI_CONTAINERID: inv.containerId,
    CNI_NETNS: inv.netns,
    CNI_IFNAME: inv.ifname ?? "eth0",
    CNI_PATH: inv.cniPath ?? join(REPO_ROOT, "dist"),
  };
  if (inv.args !== undefined) env["CNI_ARGS"] = inv.args;
  if (inv.env !== undefined) Object.assign(env, inv.env);
  const input = typeof inv.config === "string" ? inv.config : JSON.stringify(inv.config);
  if (inv.inNetns === undefined) return { cmd: t.cmd, args: t.args, env, input };
  return { cmd: "ip", args: ["netns", "exec", inv.inNetns, t.cmd, ...t.args], env, input };
}

/** Run one CNI invocation and wait for it. */
export function runCni(inv: CniInvocation): CniOutcome {
  const { cmd, args, env, input } = cniSpawn(inv);
  const r = spawnSync(cmd, args, { env, input, cwd: "/", timeout: inv.timeoutMs ?? 120_000, maxBuffer: 16 << 20 });
  if (r.error) throw r.error;
  return { status: r.status, signal: r.signal, stdout: r.stdout.toString("utf8"), stderr: r.stderr.toString("utf8") };
}

/** runCni without blocking, for concurrent invocations. */
export function runCniAsync(inv: CniInvocation): Promise<CniOutcome> {
  const { cmd, args, env, input } = cniSpawn(inv);
  return new Promise((resolvePromise, reject) => {
    const child = spawn(cmd, args, { env, cwd: "/", stdio: ["pipe", "pipe", "pipe"] });
    const out: Buffer[] = [];
    const err: Buffer[] = [];
    const timer = setTimeout(() => child.kill("SIGKILL"), inv.timeoutMs ?? 300_000);
    child.stdout.on("data", (b: Buffer) => out.push(b));
    child.stderr.on("data", (b: Buffer) => err.push(b));
    child.on("error", (e) => {
      clearTimeout(timer);
      reject(e);
    });
    child.on("close", (status, signal) => {
      clearTimeout(timer);
      resolvePromise({ status, signal, stdout: Buffer.concat(out).toString("utf8"), stderr: Buffer.concat(err).toString("utf8") });
    });
    child.stdin.on("error", () => {}); // a child that exits before reading its stdin
    child.stdin.end(input);
  });
}

/** A CNI error object as tether prints it. */
export interface CniErrorOutput {
  cniVersion: string;
  code: number;
  msg: string;
  details?: string;
}

function describeOutcome(o: CniOutcome): string {
  return `exit ${o.status}${o.signal ? ` (signal ${o.signal})` : ""}; stdout: ${JSON.stringify(o.stdout)}; stderr: ${o.stderr.slice(-2000)}`;
}

/** Exit 0 and stdout exactly one JSON object (ADD); returns it parsed. Throws an Error describing the outcome otherwise. */
export function successJson<T = Record<string, unknown>>(o: CniOutcome): T {
  if (o.status !== 0 || o.signal !== null) throw new Error(`expected success, got ${describeOutcome(o)}`);
  let doc: unknown;
  try {
    doc = JSON.parse(o.stdout);
  } catch {
    throw new Error(`stdout is not exactly one JSON document: ${describeOutcome(o)}`);
  }
  if (typeof doc !== "object" || doc === null || Array.isArray(doc)) throw new Error(`stdout is not a JSON object: ${describeOutcome(o)}`);
  return doc as T;
}

/** Exit 0 and nothing at all on stdout (DEL, CHECK, GC, STATUS). */
export function successEmpty(o: CniOutcome): void {
  if (o.status !== 0 || o.signal !== null || o.stdout !== "") throw new Error(`expected success with empty stdout, got ${describeOutcome(o)}`);
}

/** Exit 1 and stdout exactly one JSON error object on one line; returns it. */
export function errorJson(o: CniOutcome): CniErrorOutput {
  if (o.status !== 1 || o.signal !== null) throw new Error(`expected exit 1 with an error, got ${describeOutcome(o)}`);
  let doc: unknown;
  try {
    doc = JSON.parse(o.stdout);
  } catch {
    throw new Error(`stdout is not exactly one JSON document: ${describeOutcome(o)}`);
  }
  if (o.stdout.trim().split("\n").length !== 1) throw new Error(`error is not on one line: ${describeOutcome(o)}`);
  const e = doc as Record<string, unknown>;
  if (typeof e !== "object" || e === null || typeof e["code"] !== "number" || typeof e["msg"] !== "string" || typeof e["cniVersion"] !== "string") {
    throw new Error(`stdout is not a CNI error object: ${describeOutcome(o)}`);
  }
  for (const k of Object.keys(e)) {
    if (!["cniVersion", "code", "msg", "details"].includes(k)) throw new Error(`unexpected key ${k} in error: ${describeOutcome(o)}`);
  }
  return e as unknown as CniErrorOutput;
}

/**
 * One end-to-end test's world: a "node" namespace tether runs in, a temp IPAM store, a unique network
 * and bridge name, and a runner that invokes tether as a runtime does. Everything is removed when the
 * test ends (pass `t`, the test context). Container namespaces come from `container()`.
 */
export interface CniWorld {
  node: TestNetns;
  dataDir: string;
  network: string;
  bridge: string;
  /** A new container namespace, removed with the test. */
  container(label?: string): TestNetns;
  /** A tether config: name, cniVersion, bridge, `extra`, and a tether-ipam on this world's store (`ipam` merged in). */
  conf(version: string, extra?: Record<string, unknown>, ipam?: Record<string, unknown>): Record<string, unknown>;
  /** Run tether in the node namespace; the container is a namespace or a CNI_NETNS string; CNI_CONTAINERID is derived from it. */
  cni(command: string, c: { path: string } | string, conf: Record<string, unknown>, opts?: Partial<CniInvocation>): CniOutcome;
  cniAsync(command: string, c: { path: string } | string, conf: Record<string, unknown>, opts?: Partial<CniInvocation>): Promise<CniOutcome>;
  /** The CNI_CONTAINERID cni() uses for that container. */
  containerId(c: { path: string } | string): string;
  /** The store's reservations: file name (the address) -> content. */
  reservations(): Map<string, string>;
  /** Names of the veth links in the node namespace. */
  nodeVeths(): string[];
}

export function cniWorld(
  t: { after(fn: () => void): void },
  opts: { ranges?: unknown[][]; label?: string } = {},
): CniWorld {
  const node = createNetns(t, "node");
  const dataDir = mkdtempSync(join(tmpdir(), `tether-e2e-${opts.label ?? "world"}-`));
  t.after(() => rmSync(dataDir, { recursive: true, force: true }));
  const suffix = randomBytes(3).toString("hex");
  const network = `e2e-${opts.label ?? "net"}-${suffix}`;
  const bridge = `tbr${suffix}`;
  const ranges = opts.ranges ?? [[{ subnet: "10.88.0.0/24" }], [{ subnet: "fd00:88::/64" }]];
  const containerId = (c: { path: string } | string): string => `cid-${typeof c === "string" ? c.split("/").pop() : c.path.split("/").pop()}`;
  // The attachment locks tether keeps in /run/tether/locks for every network this world's calls name.
  const networksUsed = new Set<string>();
  t.after(() => {
    for (const name of networksUsed) rmSync(join(ATTACHMENT_LOCK_ROOT, lockName(`network\0${name}`)), { recursive: true, force: true });
  });
  const invocation = (command: string, c: { path: string } | string, conf: Record<string, unknown>, o: Partial<CniInvocation>): CniInvocation => {
    if (typeof conf["name"] === "string") networksUsed.add(conf["name"]);
    return invocationOf(command, c, conf, o);
  };
  const invocationOf = (command: string, c: { path: string } | string, conf: Record<string, unknown>, o: Partial<CniInvocation>): CniInvocation => ({
    command,
    containerId: containerId(c),
    netns: typeof c === "string" ? c : c.path,
    config: conf,
    inNetns: node.name,
    ...o,
  });
  return {
    node,
    dataDir,
    network,
    bridge,
    container: (label = "ctr") => createNetns(t, label),
    conf(version, extra = {}, ipam = {}) {
      return {
        cniVersion: version,
        name: network,
        type: "tether",
        mode: "bridge",
        bridge,
        ...extra,
        ipam: { type: "tether-ipam", dataDir, ranges, ...ipam },
      };
    },
    cni: (command, c, conf, o = {}) => runCni(invocation(command, c, conf, o)),
    cniAsync: (command, c, conf, o = {}) => runCniAsync(invocation(command, c, conf, o)),
    containerId,
    reservations() {
      const out = new Map<string, string>();
      let names: string[];
      try {
        names = readdirSync(join(dataDir, network));
      } catch {
        return out;
      }
      for (const n of names) {
        if (n === "lock" || n.startsWith("last_reserved_ip.")) continue;
        out.set(n, readFileSync(join(dataDir, network, n), "utf8"));
      }
      return out;
    },
    nodeVeths: () => node.links().filter((l) => l.linkinfo?.info_kind === "veth").map((l) => l.ifname),
  };
}

/** The lock files of a world's network (its directory under /run/tether/locks). */
export function worldLockFiles(w: CniWorld): string[] {
  const dir = join(ATTACHMENT_LOCK_ROOT, networkLockDir(w.network));
  return existsSync(dir) ? readdirSync(dir) : [];
}

/** The attachment records and intents of a world's network, sorted. */
export function worldRecordFiles(w: CniWorld): string[] {
  const dir = join(w.dataDir, ".tether-attachments", w.network);
  return existsSync(dir) ? readdirSync(dir).sort() : [];
}
