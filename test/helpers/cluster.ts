/**
 * A simulated Kubernetes cluster of network namespaces, for the agent's end-to-end tests:
 *
 *   underlay netns: bridge br0 (192.168.77.254/24, fd00:77::fe/64) and the fake API server process
 *                   listening on 192.168.77.254:6443 (its process form, fakeApiServerMain)
 *   node netns i:   eth0 (192.168.77.1i/24, fd00:77::1i/64), a veth into br0; its own `tether agent`
 *                   process (the single executable) with its own bin, conf, state and IPAM dirs
 *   pod netns:      attached by the tether the agent installed, with the conflist it wrote
 *                   (`tether exec add`, as a runtime would), run inside the node netns
 *
 * Everything lives in namespaces and a temporary directory made here; close() kills the processes
 * started here (by their own handles) and removes the namespaces and the directory.
 */
import { type ChildProcess, spawn, spawnSync } from "node:child_process";
import * as fs from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { DIST_BIN } from "./binary";
import { DEBIAN_CNI_DIR } from "./chain";
import { spawnFakeApiServer, type FakeApiProcess } from "./fakeApiServerAdmin";
import { createNetns, type TestNetns } from "./netns";

export const UNDERLAY_V4 = "192.168.77.254";
export const API_LISTEN = `${UNDERLAY_V4}:6443`;

export interface ClusterNode {
  name: string;
  index: number;
  ns: TestNetns;
  ipv4: string;
  ipv6: string;
  dir: string;
  binDir: string;
  confDir: string;
  stateDir: string;
  ipamDir: string;
  agent: ChildProcess | undefined;
  /** The agent's stderr (pino JSON lines), every run appended. */
  logFile: string;
}

export interface Pod {
  name: string;
  node: ClusterNode;
  ns: TestNetns;
  ipv4: string | undefined;
  ipv6: string | undefined;
}

export function nodeObject(name: string, podCidrs: string[], addrs: { v4?: string; v6?: string }): Record<string, unknown> {
  const addresses: { type: string; address: string }[] = [{ type: "Hostname", address: name }];
  if (addrs.v4 !== undefined) addresses.push({ type: "InternalIP", address: addrs.v4 });
  if (addrs.v6 !== undefined) addresses.push({ type: "InternalIP", address: addrs.v6 });
  const spec: Record<string, unknown> = { podCIDRs: podCidrs };
  if (podCidrs[0] !== undefined) spec["podCIDR"] = podCidrs[0];
  return { apiVersion: "v1", kind: "Node", metadata: { name }, spec, status: { addresses } };
}

export function defaultCidrs(index: number): string[] {
  return [`10.244.${index}.0/24`, `fd00:244:${index}::/64`];
}

/** No IPv6 duplicate address detection on links made later (link-local addresses usable at once). */
function noDad(ns: TestNetns): void {
  for (const k of ["all", "default"]) ns.exec(["sysctl", "-q", "-w", `net.ipv6.conf.${k}.accept_dad=0`]);
}

export class SimCluster {
  readonly nodes: ClusterNode[] = [];
  readonly pods: Pod[] = [];
  api: FakeApiProcess | undefined;
  private closers: (() => void)[] = [];

  private constructor(
    readonly dir: string,
    readonly underlay: TestNetns,
    readonly binary: string,
  ) {}

  static async create(opts: { nodes: number; binary?: string }): Promise<SimCluster> {
    const dir = fs.mkdtempSync(join(tmpdir(), "tether-agent-cluster-"));
    const underlay = createNetns(undefined, "agt-u");
    noDad(underlay);
    const c = new SimCluster(dir, underlay, opts.binary ?? DIST_BIN);
    try {
      underlay.exec(["ip", "link", "add", "br0", "type", "bridge"]);
      underlay.exec(["ip", "link", "set", "br0", "up"]);
      underlay.exec(["ip", "addr", "add", `${UNDERLAY_V4}/24`, "dev", "br0"]);
      underlay.exec(["ip", "addr", "add", "fd00:77::fe/64", "dev", "br0", "nodad"]);
      for (let i = 1; i <= opts.nodes; i++) c.addNodeNetns(i);
      await c.startApi();
    } catch (e) {
      c.close();
      throw e;
    }
    return c;
  }

  private addNodeNetns(i: number): void {
    const ns = createNetns(undefined, `agt-n${i}`);
    this.closers.push(() => ns.remove());
    noDad(ns);
    const peer = `n${i}`;
    this.underlay.exec(["ip", "link", "add", peer, "type", "veth", "peer", "name", "eth0", "netns", ns.name]);
    this.underlay.exec(["ip", "link", "set", peer, "master", "br0", "up"]);
    const ipv4 = `192.168.77.${10 + i}`;
    const ipv6 = `fd00:77::${10 + i}`;
    ns.exec(["ip", "addr", "add", `${ipv4}/24`, "dev", "eth0"]);
    ns.exec(["ip", "addr", "add", `${ipv6}/64`, "dev", "eth0", "nodad"]);
    ns.exec(["ip", "link", "set", "eth0", "up"]);
    const dir = join(this.dir, `node${i}`);
    const node: ClusterNode = {
      name: `node${i}`,
      index: i,
      ns,
      ipv4,
      ipv6,
      dir,
      binDir: join(dir, "bin"),
      confDir: join(dir, "conf"),
      stateDir: join(dir, "state"),
      ipamDir: join(dir, "ipam"),
      agent: undefined,
      logFile: join(dir, "agent.log"),
    };
    fs.mkdirSync(node.binDir, { recursive: true });
    // The runtime's other plugins (portmap is chained after tether), as a node would have them.
    for (const p of ["portmap", "loopback"]) fs.symlinkSync(join(DEBIAN_CNI_DIR, p), join(node.binDir, p));
    this.nodes.push(node);
  }

  async startApi(): Promise<void> {
    this.api = await spawnFakeApiServer({ listen: API_LISTEN, stateDir: join(this.dir, "api"), netns: this.underlay.name });
  }

  get kubeconfig(): string {
    return join(this.dir, "api", "kubeconfig");
  }

  get admin(): FakeApiProcess["admin"] {
    if (this.api === undefined) throw new Error("the fake API server is not running");
    return this.api.admin;
  }

  async upsertNode(name: string, podCidrs: string[], addrs: { v4?: string; v6?: string }): Promise<void> {
    await this.admin.upsert("nodes", nodeObject(name, podCidrs, addrs));
  }

  /** The Node object of a simulated node, with its pod CIDRs. */
  async registerNode(node: ClusterNode, podCidrs = defaultCidrs(node.index)): Promise<void> {
    await this.upsertNode(node.name, podCidrs, { v4: node.ipv4, v6: node.ipv6 });
  }

  /** Start (or restart) the node's agent process inside its netns. */
  startAgent(node: ClusterNode, extra: string[] = []): ChildProcess {
    if (node.agent !== undefined && node.agent.exitCode === null && node.agent.signalCode === null) throw new Error(`${node.name}: agent already running`);
    const args = [
      "netns", "exec", node.ns.name, this.binary, "agent",
      "--kubeconfig", this.kubeconfig,
      "--node-name", node.name,
      "--cni-bin-dir", node.binDir,
      "--cni-conf-dir", node.confDir,
      "--state-dir", node.stateDir,
      "--ipam-data-dir", node.ipamDir,
      "--resync", "2s",
      ...extra,
    ];
    const log = fs.openSync(node.logFile, "a");
    // Only PATH and the log level: the agent must not depend on the test's environment.
    const child = spawn("ip", args, { stdio: ["ignore", "ignore", log], env: { PATH: process.env["PATH"] ?? "/usr/sbin:/usr/bin:/sbin:/bin", TETHER_LOG_LEVEL: "info" } });
    fs.closeSync(log);
    node.agent = child;
    return child;
  }

  /** Signal the node's agent and wait until it has exited. */
  async stopAgent(node: ClusterNode, signal: NodeJS.Signals = "SIGTERM"): Promise<number | null> {
    const child = node.agent;
    if (child === undefined || child.exitCode !== null || child.signalCode !== null) return child?.exitCode ?? null;
    const exited = new Promise<number | null>((resolve) => child.once("exit", (code) => resolve(code)));
    // `ip netns exec` execs the agent, so the child's pid is the agent's own.
    child.kill(signal);
    return exited;
  }

  /** GET a path of the agent's health/metrics server (from inside the node netns); ok = HTTP 200. */
  agentHttp(node: ClusterNode, path: string): { ok: boolean; body: string } {
    const script = `require("http").get("http://127.0.0.1:9717${path}",r=>{let d="";r.on("data",c=>d+=c);r.on("end",()=>{process.stdout.write(d);process.exit(r.statusCode===200?0:1)})}).on("error",()=>process.exit(2))`;
    const r = spawnSync("ip", ["netns", "exec", node.ns.name, process.execPath, "-e", script], { encoding: "utf8", timeout: 10_000 });
    return { ok: r.status === 0, body: r.stdout };
  }

  /** Attach a pod netns on the node with the installed tether and the conflist the agent wrote. */
  attachPod(node: ClusterNode, name: string): Pod {
    const ns = createNetns(undefined, `agt-p${node.index}`);
    this.closers.push(() => ns.remove());
    const out = spawnSync(
      "ip",
      [
        "netns", "exec", node.ns.name, join(node.binDir, "tether"), "exec", "add",
        "--conf", join(node.confDir, "10-tether.conflist"),
        "--netns", ns.path,
        "--id", name,
        "--cni-path", node.binDir,
        "--cache-dir", join(node.dir, "cache"),
      ],
      { encoding: "utf8", env: { PATH: process.env["PATH"] ?? "/usr/sbin:/usr/bin:/sbin:/bin", TETHER_FIREWALL_LOCK: join(node.dir, "firewall.lock") } },
    );
    if (out.status !== 0) throw new Error(`attach ${name} on ${node.name} failed (${out.status}): ${out.stdout}${out.stderr}`);
    const result = JSON.parse(out.stdout) as { ips?: { address: string }[] };
    const ips = (result.ips ?? []).map((i) => i.address.split("/")[0] ?? "");
    const pod: Pod = { name, node, ns, ipv4: ips.find((a) => !a.includes(":")), ipv6: ips.find((a) => a.includes(":")) };
    this.pods.push(pod);
    return pod;
  }

  /** Routes of the agent's protocol in a node: "dst via gw", sorted (both families). */
  agentRoutes(node: ClusterNode): string[] {
    const out: string[] = [];
    for (const f of ["-4", "-6"]) {
      const rs = JSON.parse(node.ns.exec(["ip", "-j", f, "route", "show", "proto", "152"]) || "[]") as { dst: string; gateway?: string }[];
      for (const r of rs) out.push(`${r.dst} via ${r.gateway ?? "-"}`);
    }
    return out.sort();
  }

  /** The agent's log so far (for failure messages). */
  agentLog(node: ClusterNode): string {
    try {
      return fs.readFileSync(node.logFile, "utf8");
    } catch {
      return "";
    }
  }

  /** Kill what was started here, delete the namespaces and the directory. Safe to call twice. */
  close(): void {
    for (const n of this.nodes) {
      const a = n.agent;
      if (a !== undefined && a.exitCode === null && a.signalCode === null) a.kill("SIGKILL");
    }
    const api = this.api?.child;
    if (api !== undefined && api.exitCode === null && api.signalCode === null) api.kill("SIGKILL");
    for (const c of this.closers.splice(0).reverse()) c();
    this.underlay.remove();
    fs.rmSync(this.dir, { recursive: true, force: true });
  }
}

/** Poll `fn` until it returns true; throws with `what()` after `timeoutMs`. Not a timed assertion: a generous bound. */
export async function eventually(fn: () => boolean | Promise<boolean>, what: () => string, timeoutMs = 20_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    if (await fn()) return;
    if (Date.now() > deadline) throw new Error(`not reached within ${timeoutMs} ms: ${what()}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}
