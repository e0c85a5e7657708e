/**
 * tether in chains with the Debian reference plugins (1.1.1, so cniVersion 1.0.0), driven as libcni
 * drives a conflist (test/helpers/chain.ts), inside a node namespace the test creates:
 *
 * - tether, portmap, bandwidth, tuning: ADD; a TCP connection from the node to the node's own
 *   address:hostPort reaches a server inside the container; tc shaping on the host veth; tuning's
 *   MTU and sysctl in the container; DEL of the whole chain leaves none of tether's links or rules.
 * - the same chain without portmap passes CHECK (Debian's portmap 1.1.1 fails its own CHECK).
 * - tether after another plugin (loopback): the previous result is kept in tether's output.
 */
import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { existsSync } from "node:fs";
import { describe, test, type TestContext } from "node:test";
import { cniWorld, type CniWorld } from "../helpers/binary";
import { DEBIAN_CNI_DIR, chainAdd, chainCheck, chainDel, type ChainTarget, type Conflist } from "../helpers/chain";
import { netnsUnavailable, type TestNetns } from "../helpers/netns";

const missing = ["portmap", "bandwidth", "tuning", "loopback"].filter((p) => !existsSync(`${DEBIAN_CNI_DIR}/${p}`));
const skip = netnsUnavailable() ?? (missing.length > 0 ? `reference plugins missing: ${missing.join(", ")}` : undefined);
const TIMEOUT = 600_000;
const NODE_IP = "192.168.222.1";
const HOST_PORT = 18080;
const CONTAINER_PORT = 8080;

interface Result {
  interfaces?: { name: string; sandbox?: string; mac?: string }[];
  ips?: { address: string; interface?: number }[];
  routes?: unknown[];
}

function tetherPlugin(w: CniWorld, extra: Record<string, unknown> = {}): Record<string, unknown> {
  const { name: _n, cniVersion: _v, ...plugin } = w.conf("1.0.0", { isGateway: true, isDefaultGateway: true, ipMasq: true, ...extra });
  return plugin;
}

const BANDWIDTH = { type: "bandwidth", capabilities: { bandwidth: true } };
const TUNING = { type: "tuning", mtu: 1300, sysctl: { "net.ipv4.conf.eth0.accept_local": "1" } };
const PORTMAP = { type: "portmap", capabilities: { portMappings: true }, snat: true };
const CAPABILITY_ARGS = {
  portMappings: [{ hostPort: HOST_PORT, containerPort: CONTAINER_PORT, protocol: "tcp" }],
  bandwidth: { ingressRate: 8_000_000, ingressBurst: 1_000_000, egressRate: 8_000_000, egressBurst: 1_000_000 },
};

function setup(t: TestContext): { w: CniWorld; c: TestNetns; target: ChainTarget } {
  const w = cniWorld(t, { ranges: [[{ subnet: "10.91.0.0/24" }]], label: "chain" });
  // the node's own address, where the host port is published
  w.node.exec(["ip", "link", "add", "uplink0", "type", "veth", "peer", "name", "uplink0p"]);
  w.node.exec(["ip", "addr", "add", `${NODE_IP}/24`, "dev", "uplink0"]);
  w.node.exec(["ip", "link", "set", "uplink0p", "up"]);
  w.node.exec(["ip", "link", "set", "uplink0", "up"]);
  const c = w.container();
  const target: ChainTarget = { containerId: w.containerId(c), netns: c.path, nodeNetns: w.node.name, capabilityArgs: CAPABILITY_ARGS };
  return { w, c, target };
}

/** A TCP server inside the container answering one line; resolves once it listens. */
function startServer(t: TestContext, c: TestNetns): Promise<void> {
  const script = `require("net").createServer((s) => s.end("hello from the container\\n")).listen(${CONTAINER_PORT}, "0.0.0.0", () => console.log("ready"))`;
  const child = spawn("ip", ["netns", "exec", c.name, process.execPath, "-e", script], { stdio: ["ignore", "pipe", "inherit"] });
  t.after(() => {
    child.kill("SIGKILL");
  });
  return new Promise((resolve, reject) => {
    child.stdout.on("data", (b: Buffer) => {
      if (b.toString().includes("ready")) resolve();
    });
    child.on("exit", (code) => reject(new Error(`server exited ${code}`)));
  });
}

/** Connect from the node namespace; the received text, or the error. */
function connectFromNode(w: CniWorld, host: string, port: number): string {
  const script = `const s = require("net").connect(${port}, "${host}"); let d = ""; s.setTimeout(10000, () => { console.log("timeout"); process.exit(2); });
s.on("data", (b) => d += b); s.on("end", () => { process.stdout.write(d); process.exit(0); }); s.on("error", (e) => { console.log(String(e)); process.exit(1); });`;
  const r = w.node.tryExec([process.execPath, "-e", script]);
  return r.stdout;
}

function assertNothingOfTetherLeft(w: CniWorld): void {
  assert.deepEqual(w.nodeVeths().filter((n) => !n.startsWith("uplink0")), [], "no veth left in the node");
  const ruleset = w.node.exec(["nft", "list", "ruleset"]);
  assert.doesNotMatch(ruleset, /table (inet|bridge) tether|tether:/, ruleset);
  const save = w.node.exec(["iptables-save"]);
  assert.doesNotMatch(save, /TETHER-|tether:/, save);
  assert.deepEqual(w.reservations(), new Map(), "no IP reserved");
}

describe("chains with the reference meta plugins", { skip, timeout: TIMEOUT }, () => {
  test("tether + portmap + bandwidth + tuning: ADD works for each, DEL of the chain leaves nothing of tether", async (t) => {
    const { w, c, target } = setup(t);
    const list: Conflist = { cniVersion: "1.0.0", name: w.network, plugins: [tetherPlugin(w), PORTMAP, BANDWIDTH, TUNING] };
    let result: Result | undefined;
    try {
      result = chainAdd(list, target);
      const hostVeth = result.interfaces?.[1]?.name ?? "";
      assert.match(hostVeth, /^veth/);
      assert.equal(result.ips?.[0]?.address.startsWith("10.91.0."), true);

      // portmap: node address:hostPort -> container:containerPort
      await startServer(t, c);
      assert.equal(connectFromNode(w, NODE_IP, HOST_PORT), "hello from the container\n");
      // bandwidth: a token bucket filter on the host veth
      assert.match(w.node.exec(["tc", "qdisc", "show", "dev", hostVeth]), /qdisc tbf/);
      // tuning: MTU and sysctl in the container
      assert.equal(c.link("eth0").mtu, 1300);
      assert.equal(c.sysctl("net/ipv4/conf/eth0/accept_local"), "1");
      // tether's masquerade rule sits beside portmap's rules
      assert.match(w.node.exec(["nft", "list", "table", "inet", "tether"]), /masquerade/);
    } finally {
      chainDel(list, target, result as Record<string, unknown> | undefined);
    }
    assertNothingOfTetherLeft(w);
    assert.doesNotMatch(w.node.exec(["iptables-save", "-t", "nat"]), /CNI-DN-/, "portmap's per-container chain is gone too");
    // DEL again (the runtime may repeat it)
    chainDel(list, target, result as Record<string, unknown>);
  });

  test("tether + bandwidth + tuning: CHECK of the chain passes after ADD, DEL leaves nothing", (t) => {
    const { w, target } = setup(t);
    const list: Conflist = { cniVersion: "1.0.0", name: w.network, plugins: [tetherPlugin(w, { macspoofchk: true, ipspoofchk: true }), BANDWIDTH, TUNING] };
    let result: Record<string, unknown> | undefined;
    try {
      result = chainAdd(list, target);
      chainCheck(list, target, result);
    } finally {
      chainDel(list, target, result);
    }
    assertNothingOfTetherLeft(w);
  });

  test("ptp mode in the chain: CHECK passes, DEL leaves nothing", (t) => {
    const { w, target } = setup(t);
    const list: Conflist = { cniVersion: "1.0.0", name: w.network, plugins: [tetherPlugin(w, { mode: "ptp" }), BANDWIDTH, TUNING] };
    let result: Record<string, unknown> | undefined;
    try {
      result = chainAdd(list, target);
      const hostVeth = (result as Result).interfaces?.[0]?.name ?? "";
      assert.match(w.node.exec(["tc", "qdisc", "show", "dev", hostVeth]), /qdisc tbf/);
      chainCheck(list, target, result);
    } finally {
      chainDel(list, target, result);
    }
    assertNothingOfTetherLeft(w);
  });

  test("tether after another plugin keeps the previous result in its output; CHECK and DEL work", (t) => {
    const { w, target } = setup(t);
    const list: Conflist = { cniVersion: "1.0.0", name: w.network, plugins: [{ type: "loopback" }, tetherPlugin(w)] };
    let result: Result | undefined;
    try {
      result = chainAdd(list, target);
      const names = result.interfaces?.map((i) => i.name);
      assert.deepEqual(names?.[0], "lo", JSON.stringify(result));
      assert.equal(names?.length, 4, JSON.stringify(result));
      assert.equal(names?.[3], "eth0");
      const lo = result.ips?.filter((ip) => ip.interface === 0).map((ip) => ip.address) ?? [];
      assert.ok(lo.includes("127.0.0.1/8"), `loopback's address kept: ${JSON.stringify(result.ips)}`);
      assert.ok(result.ips?.some((ip) => ip.interface === 3 && ip.address.startsWith("10.91.0.")), JSON.stringify(result.ips));
      chainCheck({ ...list, plugins: [tetherPlugin(w)] }, target, result as Record<string, unknown>);
    } finally {
      chainDel(list, target, result as Record<string, unknown> | undefined);
    }
    assertNothingOfTetherLeft(w);
  });
});
