/**
 * `tether agent` on a simulated three-node cluster (test/helpers/cluster.ts): each node a network
 * namespace on a shared underlay bridge running its own agent process (the single executable)
 * against the fake API server (an API-compatible fake, not a conformance test), pods attached by the
 * tether each agent installed, with the conflist it wrote. The scenarios run in order on one cluster.
 */
import assert from "node:assert/strict";
import { type ChildProcess, spawn, spawnSync } from "node:child_process";
import * as fs from "node:fs";
import { join } from "node:path";
import { after, before, describe, test } from "node:test";
import { ChainVersions } from "../../src/agent/chain";
import { conflistText as conflistTextOf, type ConflistOptions } from "../../src/agent/conflist";
import { parsePrefix } from "../../src/agent/desired";
import { DIST_BIN, isExecutableFile } from "../helpers/binary";
import { type ClusterNode, type Pod, SimCluster, UNDERLAY_V4, defaultCidrs, eventually } from "../helpers/cluster";
import { netnsUnavailable } from "../helpers/netns";

/** The conflist an agent writes, with the cniVersions the node's portmap (Debian's) allows. */
function conflistText(opts: ConflistOptions): string {
  return conflistTextOf({ ...opts, versions: new ChainVersions(DEBIAN_PORTMAP_DIR).get() });
}
const DEBIAN_PORTMAP_DIR = "/usr/lib/cni";

const skip = netnsUnavailable() ?? (isExecutableFile(DIST_BIN) ? undefined : `${DIST_BIN} is not built (bash scripts/build.sh)`);

/** The routes node `self` must have: every other registered node's CIDRs via its addresses. */
function expectedRoutes(_self: ClusterNode, others: { cidrs: string[]; v4: string; v6: string }[]): string[] {
  return others.flatMap((o) => o.cidrs.map((c) => `${c} via ${c.includes(":") ? o.v6 : o.v4}`)).sort();
}

function sameFile(a: string, b: string): boolean {
  return fs.readFileSync(a).equals(fs.readFileSync(b));
}

/** A TCP server in the namespace that answers each connection with the peer's address. */
function startPeerServer(nsName: string, port: number): Promise<ChildProcess> {
  const script = `const net=require("net");const s=net.createServer(c=>c.end(c.remoteAddress.replace(/^::ffff:/,"")+"\\n"));s.listen(${port},"::",()=>console.log("listening"));`;
  const child = spawn("ip", ["netns", "exec", nsName, process.execPath, "-e", script], { stdio: ["ignore", "pipe", "inherit"] });
  return new Promise((resolve, reject) => {
    child.stdout.once("data", () => resolve(child));
    child.once("exit", (code) => reject(new Error(`server exited ${code}`)));
  });
}

/** Connect from the namespace and return what the server said (the address it saw). */
function askPeer(nsName: string, host: string, port: number): string {
  const script = `const net=require("net");let d="";const c=net.connect({host:${JSON.stringify(host)},port:${port},timeout:5000},()=>{});c.on("data",x=>d+=x);c.on("end",()=>{process.stdout.write(d.trim())});c.on("timeout",()=>{console.error("timeout");process.exit(1)});c.on("error",e=>{console.error(e.message);process.exit(1)});`;
  const r = spawnSync("ip", ["netns", "exec", nsName, process.execPath, "-e", script], { encoding: "utf8", timeout: 15_000 });
  if (r.status !== 0) throw new Error(`connect ${host}:${port} from ${nsName}: ${r.stderr}`);
  return r.stdout;
}

function pingAll(from: Pod, to: Pod): string[] {
  const failed: string[] = [];
  for (const addr of [to.ipv4, to.ipv6]) {
    assert.ok(addr !== undefined, `${to.name} has both families`);
    if (!from.ns.ping(addr, 3)) failed.push(`${from.name} -> ${to.name} ${addr}`);
  }
  return failed;
}

describe("tether agent on a simulated cluster (against a fake API server)", { skip }, () => {
  let c: SimCluster;
  const pods: Pod[] = [];
  const nodeInfo = (n: ClusterNode, cidrs = defaultCidrs(n.index)): { cidrs: string[]; v4: string; v6: string } => ({ cidrs, v4: n.ipv4, v6: n.ipv6 });
  const logs = (): string => c.nodes.map((n) => `--- ${n.name}\n${c.agentLog(n).split("\n").slice(-15).join("\n")}`).join("\n");

  before(async () => {
    c = await SimCluster.create({ nodes: 3 });
    for (const n of c.nodes) await c.registerNode(n);
    for (const n of c.nodes) c.startAgent(n);
    for (const n of c.nodes) await eventually(() => c.agentHttp(n, "/readyz").ok, () => `${n.name} ready\n${logs()}`);
  });
  after(() => c?.close());

  test("each agent installs tether and the tether-ipam link, and writes its node's conflist", () => {
    for (const n of c.nodes) {
      assert.ok(sameFile(join(n.binDir, "tether"), DIST_BIN), `${n.name}: bin/tether is the agent's own executable`);
      assert.equal(fs.statSync(join(n.binDir, "tether")).mode & 0o777, 0o755);
      assert.equal(fs.readlinkSync(join(n.binDir, "tether-ipam")), "tether");
      assert.deepEqual(fs.readdirSync(n.binDir).filter((f) => f.startsWith(".")), [], "no temporary file left");
      const expected = conflistText({ podCidrs: defaultCidrs(n.index).map((t) => parsePrefix(t)!), ipamDataDir: n.ipamDir });
      assert.equal(fs.readFileSync(join(n.confDir, "10-tether.conflist"), "utf8"), expected);
      assert.equal(c.agentHttp(n, "/healthz").body, "ok\n");
      assert.match(c.agentHttp(n, "/metrics").body, /\ntether_agent_routes 4\n/);
    }
  });

  test("every node routes the other nodes' pod CIDRs via their addresses, with protocol 152", async () => {
    for (const n of c.nodes) {
      const want = expectedRoutes(n, c.nodes.filter((o) => o !== n).map((o) => nodeInfo(o)));
      await eventually(() => JSON.stringify(c.agentRoutes(n)) === JSON.stringify(want), () => `${n.name}: ${c.agentRoutes(n).join(", ")} != ${want.join(", ")}`);
    }
  });

  test("pods ping pods on the other nodes over IPv4 and IPv6", () => {
    for (const n of c.nodes) pods.push(c.attachPod(n, `pod-${n.index}`));
    for (const p of pods) {
      assert.ok(parsePrefix(defaultCidrs(p.node.index)[0]!)!.text.startsWith(p.ipv4!.split(".").slice(0, 3).join(".")), `${p.name} ${p.ipv4} from its node's CIDR`);
    }
    const failed = pods.flatMap((a) => pods.filter((b) => b !== a).flatMap((b) => pingAll(a, b)));
    assert.deepEqual(failed, [], logs());
  });

  test("a server in a pod sees the client pod's own address; traffic leaving the cluster is masqueraded", async () => {
    const [p1, p2] = pods as [Pod, Pod];
    const server = await startPeerServer(p2.ns.name, 8080);
    const outside = await startPeerServer(c.underlay.name, 8081);
    try {
      assert.equal(askPeer(p1.ns.name, p2.ipv4!, 8080), p1.ipv4);
      assert.equal(askPeer(p1.ns.name, p2.ipv6!, 8080), p1.ipv6);
      // The underlay is not a pod CIDR: the pod's traffic there leaves with its node's address.
      assert.equal(askPeer(p1.ns.name, UNDERLAY_V4, 8081), p1.node.ipv4);
      assert.equal(askPeer(p1.ns.name, "fd00:77::fe", 8081), p1.node.ipv6);
    } finally {
      server.kill("SIGKILL");
      outside.kill("SIGKILL");
    }
  });

  test("tether doctor finds nothing, then a stale route of the agent's protocol and a changed conflist", () => {
    const n = c.nodes[0]!;
    const doctor = (): { status: number | null; findings: { kind: string; subject: string }[]; stderr: string } => {
      const r = spawnSync("ip", ["netns", "exec", n.ns.name, DIST_BIN, "doctor", "--json", "--data-dir", n.ipamDir, "--agent-state", join(n.stateDir, "agent-state.json")], { encoding: "utf8" });
      return { status: r.status, findings: JSON.parse(r.stdout || "[]") as { kind: string; subject: string }[], stderr: r.stderr };
    };
    const clean = doctor();
    assert.deepEqual(clean.findings, []);
    assert.equal(clean.status, 0, clean.stderr);
    // Made with the agent stopped, so it cannot repair them before doctor looks.
    n.agent!.kill("SIGSTOP");
    const conf = join(n.confDir, "10-tether.conflist");
    const original = fs.readFileSync(conf, "utf8");
    try {
      n.ns.exec(["ip", "route", "add", "10.244.99.0/24", "via", "192.168.77.99", "proto", "152"]);
      // Not for doctor (it reports leaks, not losses), for the agent's repair below.
      n.ns.exec(["ip", "route", "del", "10.244.2.0/24", "proto", "152"]);
      n.ns.exec(["nft", "delete", "table", "inet", "tether-agent"]);
      fs.writeFileSync(conf, original.replace("10.244.1.0/24", "10.244.100.0/24"));
      const found = doctor();
      assert.equal(found.status, 1);
      assert.deepEqual(found.findings.map((f) => [f.kind, f.subject]), [
        ["agent-stale-route", "10.244.99.0/24 via 192.168.77.99"],
        ["agent-conflist", conf],
      ]);
    } finally {
      n.agent!.kill("SIGCONT");
    }
  });

  test("the agent repairs what changed behind its back at its next resync: stale route, lost route, conflist, nft table", async () => {
    const n = c.nodes[0]!;
    const conf = join(n.confDir, "10-tether.conflist");
    const expected = conflistText({ podCidrs: defaultCidrs(1).map((t) => parsePrefix(t)!), ipamDataDir: n.ipamDir });
    const want = expectedRoutes(n, c.nodes.filter((o) => o !== n).map((o) => nodeInfo(o)));
    await eventually(() => JSON.stringify(c.agentRoutes(n)) === JSON.stringify(want) && fs.readFileSync(conf, "utf8") === expected, () => c.agentRoutes(n).join(", "));
    await eventually(() => n.ns.tryExec(["nft", "list", "set", "inet", "tether-agent", "cluster4"]).stdout.includes("10.244.3.0/24"), () => "the nft table is back");
    assert.deepEqual(pingAll(pods[0]!, pods[1]!), []);
  });

  test("a changed pod CIDR rewrites the node's conflist and the routes to it everywhere", async () => {
    const n3 = c.nodes[2]!;
    const cidrs = ["10.244.33.0/24", "fd00:244:33::/64"];
    await c.registerNode(n3, cidrs);
    const expected = conflistText({ podCidrs: cidrs.map((t) => parsePrefix(t)!), ipamDataDir: n3.ipamDir });
    const conf = join(n3.confDir, "10-tether.conflist");
    await eventually(() => fs.readFileSync(conf, "utf8") === expected, () => fs.readFileSync(conf, "utf8"));
    for (const n of c.nodes.slice(0, 2)) {
      const want = expectedRoutes(n, c.nodes.filter((o) => o !== n).map((o) => nodeInfo(o, o === n3 ? cidrs : undefined)));
      await eventually(() => JSON.stringify(c.agentRoutes(n)) === JSON.stringify(want), () => `${n.name}: ${c.agentRoutes(n).join(", ")}`);
    }
    const fresh = c.attachPod(n3, "pod-3b");
    assert.ok(fresh.ipv4?.startsWith("10.244.33."), fresh.ipv4);
    assert.ok(fresh.ipv6?.startsWith("fd00:244:33:"), fresh.ipv6);
    assert.deepEqual([...pingAll(pods[0]!, fresh), ...pingAll(fresh, pods[1]!)], []);
    pods[2] = fresh;
  });

  test("an agent killed with kill -9 and restarted: pods keep working, it converges with no duplicate or stale route", async () => {
    const [n1] = c.nodes as [ClusterNode];
    const ghost = { cidrs: ["10.244.9.0/24", "fd00:244:9::/64"], v4: "192.168.77.19", v6: "fd00:77::19" };
    await c.upsertNode("node9", ghost.cidrs, { v4: ghost.v4, v6: ghost.v6 });
    await eventually(() => c.agentRoutes(n1).includes("10.244.9.0/24 via 192.168.77.19"), () => c.agentRoutes(n1).join(", "));
    // A route that is not the agent's: it must never be touched.
    n1.ns.exec(["ip", "route", "add", "10.99.0.0/24", "via", UNDERLAY_V4]);
    const conf = join(n1.confDir, "10-tether.conflist");
    const confStat = fs.statSync(conf);
    const binStat = fs.statSync(join(n1.binDir, "tether"));

    await c.stopAgent(n1, "SIGKILL");
    await c.admin.remove("nodes", "node9");
    assert.deepEqual([...pingAll(pods[0]!, pods[1]!), ...pingAll(pods[1]!, pods[0]!)], [], "pods work while the agent is down");
    assert.ok(c.agentRoutes(n1).includes("10.244.9.0/24 via 192.168.77.19"), "nothing removed the route while the agent was down");

    c.startAgent(n1);
    const want = expectedRoutes(n1, [nodeInfo(c.nodes[1]!), nodeInfo(c.nodes[2]!, ["10.244.33.0/24", "fd00:244:33::/64"])]);
    await eventually(() => JSON.stringify(c.agentRoutes(n1)) === JSON.stringify(want), () => `${c.agentRoutes(n1).join(", ")} != ${want.join(", ")}`);
    await eventually(() => c.agentHttp(n1, "/readyz").ok, () => logs());
    assert.deepEqual(c.agentRoutes(n1), want, "each route exactly once, the deleted node's gone");
    assert.ok(n1.ns.routes(4).some((r) => r.dst === "10.99.0.0/24" && r.gateway === UNDERLAY_V4), "the foreign route is still there");
    assert.equal(fs.statSync(conf).mtimeMs, confStat.mtimeMs, "an unchanged conflist is not rewritten");
    assert.equal(fs.statSync(join(n1.binDir, "tether")).ino, binStat.ino, "identical bytes are not reinstalled");
    assert.deepEqual(pingAll(pods[0]!, pods[2]!), []);
  });

  test("the API server stopped: the dataplane is untouched; restarted: the watch resumes", async () => {
    const before = c.nodes.map((n) => c.agentRoutes(n));
    await c.api!.stop();
    for (const n of c.nodes) {
      await eventually(() => /\ntether_agent_api_errors_total [1-9]/.test(c.agentHttp(n, "/metrics").body), () => `${n.name} noticed the API is gone`);
    }
    assert.deepEqual(c.nodes.map((n) => c.agentRoutes(n)), before, "no route changed while the API was away");
    assert.deepEqual([...pingAll(pods[0]!, pods[1]!), ...pingAll(pods[2]!, pods[0]!)], []);
    for (const n of c.nodes) assert.equal(n.agent!.exitCode, null, `${n.name}'s agent still runs`);

    await c.startApi();
    await c.upsertNode("node8", ["10.244.8.0/24", "fd00:244:8::/64"], { v4: "192.168.77.18", v6: "fd00:77::18" });
    for (const n of c.nodes) {
      await eventually(() => c.agentRoutes(n).includes("10.244.8.0/24 via 192.168.77.18") && c.agentRoutes(n).includes("fd00:244:8::/64 via fd00:77::18"), () => `${n.name}: ${c.agentRoutes(n).join(", ")}\n${logs()}`);
    }
    await c.admin.remove("nodes", "node8");
    for (const n of c.nodes) assert.ok(/\ntether_agent_watch_restarts_total [1-9]/.test(c.agentHttp(n, "/metrics").body) || /\ntether_agent_relists_total [1-9]/.test(c.agentHttp(n, "/metrics").body));
  });

  test("a node off this node's networks: no route, one warning for the node over many reconciles; a route of another protocol in a route's slot is left alone and the agent stays ready", async () => {
    const n1 = c.nodes[0]!;
    const metric = (name: string): number => Number(new RegExp(`\\n${name} (\\d+)`).exec(c.agentHttp(n1, "/metrics").body)?.[1] ?? NaN);
    const lines = (needle: string): number => c.agentLog(n1).split("\n").filter((l) => l.includes(needle)).length;
    const errors = metric("tether_agent_reconcile_errors_total");
    // node6's IPv4 slot on node1 is taken by an admin's route (protocol static) before node6 exists.
    n1.ns.exec(["ip", "route", "add", "10.244.6.0/24", "via", "192.168.77.16", "proto", "static"]);
    try {
      await c.upsertNode("node7", ["10.244.7.0/24", "fd00:244:7::/64"], { v4: "10.99.7.7", v6: "fd00:99::7" });
      await c.upsertNode("node6", ["10.244.6.0/24", "fd00:244:6::/64"], { v4: "192.168.77.16", v6: "fd00:77::16" });
      await eventually(() => c.agentRoutes(n1).includes("fd00:244:6::/64 via fd00:77::16") && metric("tether_agent_unroutable_nodes") === 2, () => logs());
      const seen = metric("tether_agent_reconcile_seconds_count");
      await eventually(() => metric("tether_agent_reconcile_seconds_count") >= seen + 3, () => "three more reconciles (resync 2s)");
      assert.equal(lines("no route to the pod CIDRs of node node7:"), 1, "one warning for node7");
      assert.match(c.agentLog(n1), /no route to the pod CIDRs of node node7: IPv4: [^;"]*10\.99\.7\.7[^;"]*; IPv6: [^"]*fd00:99::7/);
      assert.equal(lines("route 10.244.6.0/24 via 192.168.77.16 (node node6) not added"), 1, "one warning for the held slot");
      assert.ok(!c.agentRoutes(n1).some((r) => r.startsWith("10.244.7.") || r.startsWith("fd00:244:7:") || r.startsWith("10.244.6.")), c.agentRoutes(n1).join(", "));
      assert.ok(n1.ns.routes(4).some((r) => r.dst === "10.244.6.0/24" && r.protocol === "static"), "the admin's route is untouched");
      assert.ok(c.agentHttp(n1, "/readyz").ok, "ready: a held slot is not a failed reconcile");
      assert.equal(metric("tether_agent_reconcile_errors_total"), errors, logs());
      for (const n of c.nodes.slice(1)) {
        await eventually(() => c.agentRoutes(n).includes("10.244.6.0/24 via 192.168.77.16"), () => `${n.name}: ${c.agentRoutes(n).join(", ")}`);
      }
    } finally {
      n1.ns.tryExec(["ip", "route", "del", "10.244.6.0/24", "proto", "static"]);
      await c.admin.remove("nodes", "node6");
      await c.admin.remove("nodes", "node7");
    }
    for (const n of c.nodes) await eventually(() => !c.agentRoutes(n).some((r) => r.includes(":6::/64") || r.startsWith("10.244.6.")), () => `${n.name}: ${c.agentRoutes(n).join(", ")}`);
  });

  test("a node deleted from the API loses its routes everywhere; the others keep working", async () => {
    const [n1, n2, n3] = c.nodes as [ClusterNode, ClusterNode, ClusterNode];
    await c.admin.remove("nodes", n2.name);
    const c3 = ["10.244.33.0/24", "fd00:244:33::/64"];
    await eventually(() => JSON.stringify(c.agentRoutes(n1)) === JSON.stringify(expectedRoutes(n1, [nodeInfo(n3, c3)])), () => c.agentRoutes(n1).join(", "));
    await eventually(() => JSON.stringify(c.agentRoutes(n3)) === JSON.stringify(expectedRoutes(n3, [nodeInfo(n1)])), () => c.agentRoutes(n3).join(", "));
    assert.deepEqual([...pingAll(pods[0]!, pods[2]!), ...pingAll(pods[2]!, pods[0]!)], []);
    assert.equal(pods[0]!.ns.ping(pods[1]!.ipv4!, 1), false, "the deleted node's pods are no longer routed");
    await eventually(() => c.agentLog(n2).includes(`waiting: node ${n2.name} is not in the API`), () => c.agentLog(n2).slice(-1000));
  });

  test("SIGTERM: the agent exits 0 and leaves its routes and rules in place", async () => {
    const n1 = c.nodes[0]!;
    // The deleted node's CIDRs leave the masquerade sets after its routes (a loop of their own): let
    // that land first, so the snapshot below is the agent's settled state.
    await eventually(() => !n1.ns.exec(["nft", "list", "set", "inet", "tether-agent", "cluster4"]).includes("10.244.2.0/24"), () => "node2's CIDR left the set");
    const routes = c.agentRoutes(n1);
    const table = n1.ns.exec(["nft", "list", "table", "inet", "tether-agent"]);
    assert.equal(await c.stopAgent(n1, "SIGTERM"), 0);
    assert.deepEqual(c.agentRoutes(n1), routes);
    assert.equal(n1.ns.exec(["nft", "list", "table", "inet", "tether-agent"]), table);
    assert.deepEqual(pingAll(pods[0]!, pods[2]!), []);
  });
});
