/**
 * One "node" namespace with pod namespaces on veths, routed ptp-style (a /32 and /128 route per
 * pod on the node side, the pod's default route via a link-local gateway), for policy tests
 * against the real kernel. Each pod runs a probe server on TCP and UDP 80 and 81.
 */
import type { ChildProcess } from "node:child_process";
import type { TestContext } from "node:test";
import { PolicyApplier } from "../../src/policy/apply";
import { createNetns, type TestNetns } from "./netns";
import { startServer } from "./probe";

export interface PolicyPodNs {
  readonly ns: TestNetns;
  readonly v4: string;
  readonly v6: string;
}

export interface PolicyNode {
  readonly node: TestNetns;
  readonly pods: Map<string, PolicyPodNs>;
  readonly applier: PolicyApplier;
  nft(args: string[], input?: string): string;
}

export async function createPolicyNode(t: TestContext, pods: { key: string; v4: string; v6: string }[]): Promise<PolicyNode> {
  const node = createNetns(t, "pol-node");
  node.exec(["sysctl", "-qw", "net.ipv4.ip_forward=1"]);
  node.exec(["sysctl", "-qw", "net.ipv6.conf.all.forwarding=1"]);
  const out = new Map<string, PolicyPodNs>();
  const servers: ChildProcess[] = [];
  t.after(() => servers.forEach((s) => s.kill()));
  let i = 0;
  for (const p of pods) {
    const ns = createNetns(t, "pol-pod");
    const host = `pv${process.pid % 1000}x${i++}`;
    node.exec(["ip", "link", "add", host, "type", "veth", "peer", "name", "eth0", "netns", ns.name]);
    node.exec(["ip", "link", "set", host, "up"]);
    node.exec(["ip", "addr", "add", "169.254.1.1/32", "dev", host]);
    node.exec(["ip", "-6", "addr", "add", "fe80::1/64", "dev", host, "nodad"]);
    node.exec(["ip", "route", "add", `${p.v4}/32`, "dev", host]);
    node.exec(["ip", "-6", "route", "add", `${p.v6}/128`, "dev", host]);
    ns.exec(["ip", "link", "set", "eth0", "up"]);
    ns.exec(["ip", "addr", "add", `${p.v4}/32`, "dev", "eth0"]);
    ns.exec(["ip", "-6", "addr", "add", `${p.v6}/128`, "dev", "eth0", "nodad"]);
    ns.exec(["ip", "route", "add", "169.254.1.1", "dev", "eth0"]);
    ns.exec(["ip", "route", "add", "default", "via", "169.254.1.1", "dev", "eth0"]);
    ns.exec(["ip", "-6", "route", "add", "default", "via", "fe80::1", "dev", "eth0"]);
    out.set(p.key, { ns, v4: p.v4, v6: p.v6 });
    servers.push(await startServer(ns.name, [80, 81]));
  }
  const nft = (args: string[], input?: string): string => {
    if (input === undefined) return node.exec(["nft", ...args]);
    const { spawnSync } = require("node:child_process") as typeof import("node:child_process");
    const r = spawnSync("ip", ["netns", "exec", node.name, "nft", ...args], { input, encoding: "utf8" });
    if (r.status !== 0) throw new Error(`nft ${args.join(" ")}: ${r.stderr}`);
    return r.stdout;
  };
  const applier = new PolicyApplier({ nft: ["ip", "netns", "exec", node.name, "nft"] });
  t.after(() => applier.close());
  return { node, pods: out, applier, nft };
}
