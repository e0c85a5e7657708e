/**
 * NetworkPolicy on the simulated cluster (test/helpers/cluster.ts; against the fake API server, not a
 * conformance run), modelled on the upstream network policy e2e tests: namespaces x, y, z labelled
 * ns=<name>; pods a, b, c in each labelled pod=<name>, spread over two nodes, each serving TCP and UDP
 * on 80 and 81 (named ports serve-80-tcp, ...). After each policy change a probe from every pod to
 * every pod is compared with the expected 9x9 matrix (polled until it matches: the agents apply
 * within about a second; the bound is generous, nothing is timed).
 */
import assert from "node:assert/strict";
import type { ChildProcess } from "node:child_process";
import { spawn } from "node:child_process";
import { after, before, describe, test } from "node:test";
import type { NetworkPolicy, NetworkPolicySpec } from "../../src/k8s/types";
import { DIST_BIN, isExecutableFile } from "../helpers/binary";
import { type Pod as SimPod, SimCluster, eventually } from "../helpers/cluster";
import { netnsUnavailable } from "../helpers/netns";
import { runProbes, startServer, type Probe } from "../helpers/probe";
import { SERVE_PORTS } from "../helpers/policyWorld";

const skip = netnsUnavailable() ?? (isExecutableFile(DIST_BIN) ? undefined : `${DIST_BIN} is not built (bash scripts/build.sh)`);

const NS = ["x", "y", "z"] as const;
const PODS = ["a", "b", "c"] as const;
type Key = `${(typeof NS)[number]}/${(typeof PODS)[number]}`;
type Case = { proto: "TCP" | "UDP"; port: number; family?: 4 | 6 };
/** Expected: may `from` reach `to` on this probe? */
type Expect = (from: Key, to: Key, probe: Case) => boolean;

const KEYS: Key[] = NS.flatMap((n) => PODS.map((p) => `${n}/${p}` as Key));
const nsOf = (k: Key): string => k.split("/")[0] as string;
const podOf = (k: Key): string => k.split("/")[1] as string;

function np(namespace: string, name: string, spec: NetworkPolicySpec): NetworkPolicy {
  return { metadata: { namespace, name }, spec };
}

describe("NetworkPolicy on a simulated two-node cluster (against a fake API server)", { skip }, () => {
  let c: SimCluster;
  const pods = new Map<Key, SimPod>();
  const servers: ChildProcess[] = [];
  const labels = new Map<Key, Record<string, string>>();
  const nsLabels = new Map<string, Record<string, string>>();
  const logs = (): string => c.nodes.map((n) => `--- ${n.name}\n${c.agentLog(n).split("\n").slice(-8).join("\n")}`).join("\n");

  async function upsertPod(k: Key): Promise<void> {
    const p = pods.get(k) as SimPod;
    const ips = [p.ipv4, p.ipv6].filter((a): a is string => a !== undefined);
    await c.admin.upsert("pods", {
      apiVersion: "v1",
      kind: "Pod",
      metadata: { namespace: nsOf(k), name: podOf(k), labels: labels.get(k) },
      spec: { nodeName: p.node.name, containers: [{ name: "c", ports: SERVE_PORTS }] },
      status: { phase: "Running", podIP: ips[0], podIPs: ips.map((ip) => ({ ip })) },
    });
  }
  async function upsertNs(n: string): Promise<void> {
    await c.admin.upsert("namespaces", { apiVersion: "v1", kind: "Namespace", metadata: { name: n, labels: nsLabels.get(n) } });
  }
  const applied = new Set<string>();
  async function setPolicies(list: NetworkPolicy[]): Promise<void> {
    const keep = new Set(list.map((p) => `${p.metadata.namespace}/${p.metadata.name}`));
    for (const k of applied) if (!keep.has(k)) await c.admin.remove("networkpolicies", k);
    applied.clear();
    for (const p of list) {
      await c.admin.upsert("networkpolicies", { apiVersion: "networking.k8s.io/v1", kind: "NetworkPolicy", ...p });
      applied.add(`${p.metadata.namespace}/${p.metadata.name}`);
    }
  }

  /** The 9x9 matrix of one probe kind: rows "from" ("X" allowed, "." denied). */
  async function matrix(probe: Case): Promise<string> {
    const rows = await Promise.all(
      KEYS.map(async (from) => {
        const src = pods.get(from) as SimPod;
        const probes: Probe[] = KEYS.map((to) => {
          const dst = pods.get(to) as SimPod;
          return { ip: (probe.family === 6 ? dst.ipv6 : dst.ipv4) as string, proto: probe.proto, port: probe.port };
        });
        const got = await runProbes(src.ns.name, probes, 1000);
        return `${from} ${got.map((g) => (g ? "X" : ".")).join("")}`;
      }),
    );
    return rows.join("\n");
  }
  function expected(e: Expect, probe: Case): string {
    // A pod always reaches itself (over its own loopback; no policy can block it).
    return KEYS.map((from) => `${from} ${KEYS.map((to) => (from === to || e(from, to, probe) ? "X" : ".")).join("")}`).join("\n");
  }
  async function expectMatrix(e: Expect, probes: Case[] = [{ proto: "TCP", port: 80 }, { proto: "UDP", port: 81 }]): Promise<void> {
    for (const probe of probes) {
      const want = expected(e, probe);
      let got = "";
      await eventually(
        async () => (got = await matrix(probe)) === want,
        () => `${probe.proto}/${probe.port}/IPv${probe.family ?? 4}\nexpected:\n${want}\ngot:\n${got}\n${logs()}`,
        30_000,
      );
    }
  }

  before(async () => {
    c = await SimCluster.create({ nodes: 2 });
    for (const n of c.nodes) await c.registerNode(n);
    for (const n of NS) {
      nsLabels.set(n, { ns: n });
      await upsertNs(n);
    }
    for (const n of c.nodes) c.startAgent(n);
    for (const n of c.nodes) await eventually(() => c.agentHttp(n, "/readyz").ok, () => `${n.name} ready\n${logs()}`);
    KEYS.forEach((k, i) => {
      const node = c.nodes[i % 2];
      if (node === undefined) throw new Error("no node");
      pods.set(k, c.attachPod(node, `${nsOf(k)}-${podOf(k)}`));
      labels.set(k, { pod: podOf(k) });
    });
    for (const k of KEYS) await upsertPod(k);
    for (const k of KEYS) servers.push(await startServer((pods.get(k) as SimPod).ns.name, [80, 81]));
  });
  after(() => {
    for (const s of servers) s.kill("SIGKILL");
    c?.close();
  });

  test("no policy: every pod reaches every pod, TCP and UDP, IPv4 and IPv6", async () => {
    await expectMatrix(() => true, [{ proto: "TCP", port: 80 }, { proto: "UDP", port: 81 }, { proto: "TCP", port: 81, family: 6 }]);
  });

  test("should support a 'default-deny-ingress' policy", async () => {
    await setPolicies([np("x", "deny-ingress", { podSelector: {} })]);
    await expectMatrix((_f, to) => nsOf(to) !== "x", [{ proto: "TCP", port: 80 }, { proto: "UDP", port: 81 }, { proto: "UDP", port: 80, family: 6 }]);
  });

  test("should support a 'default-deny-egress' policy", async () => {
    await setPolicies([np("y", "deny-egress", { podSelector: {}, policyTypes: ["Egress"] })]);
    await expectMatrix((f) => nsOf(f) !== "y", [{ proto: "TCP", port: 80 }, { proto: "UDP", port: 81, family: 6 }]);
  });

  test("should support a 'default-deny-all' policy", async () => {
    await setPolicies([np("x", "deny-all", { podSelector: {}, policyTypes: ["Ingress", "Egress"] })]);
    await expectMatrix((f, to) => nsOf(to) !== "x" && nsOf(f) !== "x");
  });

  test("should enforce policy to allow traffic from pods within server namespace based on PodSelector", async () => {
    await setPolicies([np("x", "allow-b", { podSelector: { matchLabels: { pod: "a" } }, ingress: [{ from: [{ podSelector: { matchLabels: { pod: "b" } } }] }] })]);
    await expectMatrix((f, to) => to !== "x/a" || f === "x/b");
  });

  test("should enforce policy to allow traffic only from a different namespace, based on NamespaceSelector", async () => {
    await setPolicies([np("x", "allow-not-x", { podSelector: { matchLabels: { pod: "a" } }, ingress: [{ from: [{ namespaceSelector: { matchExpressions: [{ key: "ns", operator: "NotIn", values: ["x"] }] } }] }] })]);
    await expectMatrix((f, to) => to !== "x/a" || nsOf(f) !== "x");
  });

  test("should enforce policy based on PodSelector and NamespaceSelector", async () => {
    await setPolicies([
      np("x", "allow-yz-b", {
        podSelector: { matchLabels: { pod: "a" } },
        ingress: [{ from: [{ namespaceSelector: { matchExpressions: [{ key: "ns", operator: "In", values: ["y", "z"] }] }, podSelector: { matchLabels: { pod: "b" } } }] }],
      }),
    ]);
    await expectMatrix((f, to) => to !== "x/a" || ((nsOf(f) === "y" || nsOf(f) === "z") && podOf(f) === "b"));
  });

  test("should enforce policy based on PodSelector or NamespaceSelector", async () => {
    await setPolicies([
      np("x", "allow-y-or-b", {
        podSelector: { matchLabels: { pod: "a" } },
        ingress: [{ from: [{ namespaceSelector: { matchLabels: { ns: "y" } } }, { podSelector: { matchLabels: { pod: "b" } } }] }],
      }),
    ]);
    await expectMatrix((f, to) => to !== "x/a" || nsOf(f) === "y" || f === "x/b");
  });

  test("should enforce policy based on Ports (and not allow TCP when a policy specifies only UDP)", async () => {
    await setPolicies([np("x", "allow-81", { podSelector: { matchLabels: { pod: "a" } }, ingress: [{ ports: [{ port: 81, protocol: "UDP" }, { port: 81 }] }] })]);
    await expectMatrix((_f, to, p) => to !== "x/a" || p.port === 81, [{ proto: "TCP", port: 80 }, { proto: "TCP", port: 81 }, { proto: "UDP", port: 80 }, { proto: "UDP", port: 81 }]);
    await setPolicies([np("x", "udp-only", { podSelector: { matchLabels: { pod: "a" } }, ingress: [{ ports: [{ protocol: "UDP" }] }] })]);
    await expectMatrix((_f, to, p) => to !== "x/a" || p.proto === "UDP", [{ proto: "TCP", port: 80 }, { proto: "UDP", port: 80 }]);
  });

  test("should allow ingress access from namespace on one named port", async () => {
    await setPolicies([
      np("x", "named", { podSelector: { matchLabels: { pod: "a" } }, ingress: [{ from: [{ namespaceSelector: { matchLabels: { ns: "y" } } }], ports: [{ port: "serve-80-tcp" }] }] }),
    ]);
    await expectMatrix((f, to, p) => to !== "x/a" || (nsOf(f) === "y" && p.proto === "TCP" && p.port === 80), [{ proto: "TCP", port: 80 }, { proto: "TCP", port: 81 }]);
  });

  test("should allow egress access on one named port", async () => {
    await setPolicies([np("x", "egress-named", { podSelector: { matchLabels: { pod: "a" } }, policyTypes: ["Egress"], egress: [{ ports: [{ port: "serve-81-udp", protocol: "UDP" }] }] })]);
    await expectMatrix((f, _to, p) => f !== "x/a" || (p.proto === "UDP" && p.port === 81), [{ proto: "UDP", port: 81 }, { proto: "UDP", port: 80 }, { proto: "TCP", port: 81 }]);
  });

  test("should enforce except clause while egress access to server in CIDR block (and egress to a CIDR)", async () => {
    const ya = pods.get("y/a") as SimPod;
    const yb = pods.get("y/b") as SimPod;
    // Both y pods sit in the block; y/b is cut out by except.
    const cidr = `${(ya.ipv4 as string).split(".").slice(0, 2).join(".")}.0.0/16`;
    await setPolicies([
      np("x", "egress-cidr", {
        podSelector: { matchLabels: { pod: "a" } },
        policyTypes: ["Egress"],
        egress: [{ to: [{ ipBlock: { cidr, except: [`${yb.ipv4}/32`] } }, { ipBlock: { cidr: `${ya.ipv6}/128` } }] }],
      }),
    ]);
    await expectMatrix((f, to) => f !== "x/a" || to !== "y/b", [{ proto: "TCP", port: 80 }]);
    await expectMatrix((f, to) => f !== "x/a" || to === "y/a", [{ proto: "TCP", port: 80, family: 6 }]);
  });

  test("should enforce multiple, stacked policies with overlapping podSelectors, and ingress and egress together", async () => {
    await setPolicies([
      np("x", "from-y", { podSelector: { matchLabels: { pod: "a" } }, ingress: [{ from: [{ namespaceSelector: { matchLabels: { ns: "y" } } }] }] }),
      np("x", "from-z-c", { podSelector: { matchExpressions: [{ key: "pod", operator: "In", values: ["a", "b"] }] }, ingress: [{ from: [{ namespaceSelector: { matchLabels: { ns: "z" } }, podSelector: { matchLabels: { pod: "c" } } }] }] }),
      np("z", "egress-to-x", { podSelector: { matchLabels: { pod: "c" } }, policyTypes: ["Egress"], egress: [{ to: [{ namespaceSelector: { matchLabels: { ns: "x" } } }] }] }),
    ]);
    await expectMatrix((f, to) => {
      if (f === "z/c" && nsOf(to) !== "x") return false;
      if (to === "x/a") return nsOf(f) === "y" || f === "z/c";
      if (to === "x/b") return f === "z/c";
      return true;
    });
  });

  test("should enforce updated policy, label updates of pods and namespaces", async () => {
    await setPolicies([np("x", "allow-team", { podSelector: { matchLabels: { pod: "a" } }, ingress: [{ from: [{ namespaceSelector: { matchLabels: { team: "blue" } } }, { podSelector: { matchLabels: { role: "client" } } }] }] })]);
    await expectMatrix((_f, to) => to !== "x/a");
    nsLabels.set("z", { ns: "z", team: "blue" });
    await upsertNs("z");
    await expectMatrix((f, to) => to !== "x/a" || nsOf(f) === "z");
    labels.set("x/c", { pod: "c", role: "client" });
    await upsertPod("x/c");
    await expectMatrix((f, to) => to !== "x/a" || nsOf(f) === "z" || f === "x/c");
    // The policy itself updated: now only y.
    await setPolicies([np("x", "allow-team", { podSelector: { matchLabels: { pod: "a" } }, ingress: [{ from: [{ namespaceSelector: { matchLabels: { ns: "y" } } }] }] })]);
    await expectMatrix((f, to) => to !== "x/a" || nsOf(f) === "y");
    // The pod leaves the policy's selection by a label change.
    labels.set("x/a", { pod: "a-free" });
    await upsertPod("x/a");
    await expectMatrix(() => true);
    labels.set("x/a", { pod: "a" });
    await upsertPod("x/a");
    nsLabels.set("z", { ns: "z" });
    await upsertNs("z");
    labels.set("x/c", { pod: "c" });
    await upsertPod("x/c");
  });

  test("should stop enforcing policies after they are deleted", async () => {
    await setPolicies([np("x", "deny-all", { podSelector: {}, policyTypes: ["Ingress", "Egress"] })]);
    await expectMatrix((f, to) => nsOf(to) !== "x" && nsOf(f) !== "x", [{ proto: "TCP", port: 80 }]);
    await setPolicies([]);
    await expectMatrix(() => true, [{ proto: "TCP", port: 80 }, { proto: "UDP", port: 81 }]);
  });

  test("a pod forging an allowed pod's source address is dropped (ip spoof check), the real one passes", async () => {
    await setPolicies([np("x", "allow-y-a", { podSelector: { matchLabels: { pod: "a" } }, ingress: [{ from: [{ podSelector: { matchLabels: { pod: "a" } }, namespaceSelector: { matchLabels: { ns: "y" } } }] }] })]);
    await expectMatrix((f, to) => to !== "x/a" || f === "y/a", [{ proto: "UDP", port: 81 }]);
    const xa = pods.get("x/a") as SimPod;
    const ya = pods.get("y/a") as SimPod;
    const xb = pods.get("x/b") as SimPod;
    // A recorder on x/a (port 82): one line per datagram, its source address.
    const rec = spawn("ip", ["netns", "exec", xa.ns.name, process.execPath, "-e", `const u=require("dgram").createSocket("udp4");u.on("message",(m,r)=>console.log(r.address+" "+m));u.bind(82,()=>console.log("ready"))`], { stdio: ["ignore", "pipe", "inherit"] });
    let seen = "";
    rec.stdout.on("data", (d: Buffer) => (seen += d.toString()));
    try {
      await eventually(() => seen.includes("ready"), () => "recorder ready");
      // x/b takes y/a's address as a second one and sends from it.
      xb.ns.exec(["ip", "addr", "add", `${ya.ipv4}/32`, "dev", "eth0"]);
      const send = (ns: string, from: string, text: string): void =>
        void spawn("ip", ["netns", "exec", ns, process.execPath, "-e", `const u=require("dgram").createSocket("udp4");u.bind({address:${JSON.stringify(from)}},()=>{let n=0;const t=setInterval(()=>{u.send(${JSON.stringify(text)},82,${JSON.stringify(xa.ipv4)});if(++n===5){clearInterval(t);setTimeout(()=>u.close(),100)}},50)})`], { stdio: "ignore" });
      send(xb.ns.name, ya.ipv4 as string, "forged");
      await new Promise((r) => setTimeout(r, 500));
      send(ya.ns.name, ya.ipv4 as string, "real");
      await eventually(() => seen.includes(`${ya.ipv4} real`), () => `the real y/a reaches x/a:82; seen: ${seen}`);
      assert.equal(seen.includes("forged"), false, seen);
    } finally {
      rec.kill("SIGKILL");
      xb.ns.exec(["ip", "addr", "del", `${ya.ipv4}/32`, "dev", "eth0"]);
    }
  });

  test("--no-network-policy: a restarted agent removes its policy table and enforces nothing", async () => {
    await setPolicies([np("x", "deny", { podSelector: {} })]);
    await expectMatrix((_f, to) => nsOf(to) !== "x", [{ proto: "TCP", port: 80 }]);
    for (const n of c.nodes) {
      await c.stopAgent(n);
      c.startAgent(n, ["--no-network-policy"]);
    }
    await eventually(
      () => c.nodes.every((n) => n.ns.tryExec(["nft", "list", "table", "inet", "tether-policy"]).status !== 0),
      () => `tables still there\n${logs()}`,
    );
    await expectMatrix(() => true, [{ proto: "TCP", port: 80 }]);
  });
});
