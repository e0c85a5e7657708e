/** Shared IPAM test fixtures: temp data dirs, configs, reading the store, running host-local. */
import { type SpawnSyncReturns, spawn, spawnSync } from "node:child_process";
import * as fs from "node:fs";
import * as os from "node:os";
import { join } from "node:path";
import { after } from "node:test";
import { type IpamConfig, loadIpamConfig } from "../../src/config/ipam";
import { serializeConfig } from "./ipamConfigJson";

export const HOST_LOCAL = "/usr/lib/cni/host-local";
export const WORKER = join(__dirname, "ipamWorker.js");

export function tempDir(prefix = "tether-ipam-"): string {
  return fs.mkdtempSync(join(os.tmpdir(), prefix));
}

export function removeDir(dir: string): void {
  fs.rmSync(dir, { recursive: true, force: true });
}

/**
 * For a test file: a function giving a fresh data dir per call, all under one temp root (made on
 * first use) that is removed when the file's tests end.
 */
export function dataDirs(prefix?: string): () => string {
  let root: string | undefined;
  let n = 0;
  after(() => {
    if (root !== undefined) removeDir(root);
  });
  return () => {
    root ??= tempDir(prefix);
    const d = join(root, `d${n++}`);
    fs.mkdirSync(d);
    return d;
  };
}

/** A loaded config for a network with the given ipam keys (type and dataDir filled in). */
export function config(dataDir: string, ipam: Record<string, unknown>, name = "testnet", extra: Record<string, unknown> = {}): IpamConfig {
  return loadIpamConfig({ name, cniVersion: "1.0.0", ipam: { type: "tether-ipam", dataDir, ...ipam }, ...extra });
}

export function writeConfig(dir: string, cfg: IpamConfig): string {
  const path = join(dir, `cfg-${Math.random().toString(36).slice(2)}.json`);
  fs.writeFileSync(path, serializeConfig(cfg));
  return path;
}

export interface ChildOutput {
  code: number | null;
  stdout: string;
  stderr: string;
}

/** Run node; the IPAM worker gets a long lock wait (128 node start-ups on a small machine are slow). */
export function runNode(args: readonly string[], stdin = ""): Promise<ChildOutput> {
  return runProcess(process.execPath, args, { ...process.env, IPAM_TEST_LOCK_TIMEOUT_MS: "120000" }, stdin);
}

export function runProcess(cmd: string, args: readonly string[], env: NodeJS.ProcessEnv, stdin = ""): Promise<ChildOutput> {
  return new Promise((resolve, reject) => {
    const child = spawn(cmd, args, { env, stdio: ["pipe", "pipe", "pipe"] });
    let stdout = "";
    let stderr = "";
    child.stdout.on("data", (d: Buffer) => (stdout += d.toString()));
    child.stderr.on("data", (d: Buffer) => (stderr += d.toString()));
    child.on("error", reject);
    child.on("close", (code) => resolve({ code, stdout, stderr }));
    child.stdin.end(stdin);
  });
}

/** The files of a network directory: name -> content. */
export function storeFiles(dataDir: string, network = "testnet"): Map<string, string> {
  const dir = join(dataDir, network);
  const out = new Map<string, string>();
  for (const name of fs.readdirSync(dir)) out.set(name, fs.readFileSync(join(dir, name), "utf8"));
  return out;
}

/** The reservations of a network directory: address -> content; none when the directory is not there. */
export function addressFiles(dataDir: string, network = "testnet"): Map<string, string> {
  if (!fs.existsSync(join(dataDir, network))) return new Map();
  const all = storeFiles(dataDir, network);
  for (const k of [...all.keys()]) if (k === "lock" || k.startsWith("last_reserved_ip.")) all.delete(k);
  return all;
}

export function hostLocalAvailable(): boolean {
  try {
    fs.accessSync(HOST_LOCAL, fs.constants.X_OK);
    return true;
  } catch {
    return false;
  }
}

export function hostLocalEnv(command: string, containerId: string, ifname = "eth0"): NodeJS.ProcessEnv {
  return {
    PATH: process.env["PATH"] ?? "/usr/bin:/bin",
    CNI_COMMAND: command,
    CNI_CONTAINERID: containerId,
    CNI_NETNS: "/proc/self/ns/net",
    CNI_IFNAME: ifname,
    CNI_PATH: "/usr/lib/cni",
  };
}

export function hostLocalConfJson(dataDir: string, ipam: Record<string, unknown>, name = "testnet"): string {
  return JSON.stringify({ cniVersion: "1.0.0", name, type: "bridge", ipam: { type: "host-local", dataDir, ...ipam } });
}

export function hostLocalSync(command: string, containerId: string, conf: string, ifname = "eth0"): SpawnSyncReturns<string> {
  return spawnSync(HOST_LOCAL, [], { env: hostLocalEnv(command, containerId, ifname), input: conf, encoding: "utf8" });
}

export function hostLocal(command: string, containerId: string, conf: string, ifname = "eth0"): Promise<ChildOutput> {
  return runProcess(HOST_LOCAL, [], hostLocalEnv(command, containerId, ifname), conf);
}
