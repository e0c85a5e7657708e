/**
 * NetworkPolicy rulesets in the kernel: compiled, applied by PolicyApplier with the real nft in a
 * test "node" namespace whose pods sit on veths (ptp-style routes), then real TCP and UDP
 * connections over IPv4 and IPv6 show what passes.
 */
import assert from "node:assert/strict";
import { describe, test } from "node:test";
import type { NetworkPolicy } from "../../src/k8s/types";
import { PolicyCompiler } from "../../src/policy/compile";
import { createNetns, netnsUnavailable } from "../helpers/netns";
import { NftSession } from "../../src/policy/apply";
import { createPolicyNode, type PolicyNode } from "../helpers/policyNode";
import { runProbes, type Probe } from "../helpers/probe";
import { ns, pod, policy } from "../helpers/policyWorld";

const skip = netnsUnavailable();

const POD_DEFS = [
  { key: "x/a", v4: "10.66.1.2", v6: "fd66::1:2" },
  { key: "x/b", v4: "10.66.1.3", v6: "fd66::1:3" },
  { key: "y/a", v4: "10.66.2.2", v6: "fd66::2:2" },
  { key: "y/b", v4: "10.66.2.3", v6: "fd66::2:3" },
];
const apiPods = POD_DEFS.map((d) => {
  const [n, p] = d.key.split("/") as [string, string];
  return pod(n, p, [d.v4, d.v6], { ports: [{ name: "serve-81-udp", containerPort: 81, protocol: "UDP" }] });
});
const namespaces = [ns("x"), ns("y")];

type Matrix = Record<string, boolean>;

/** Probes from every pod to every other pod: "src>dst proto/port/family" -> answered. */
async function matrix(w: PolicyNode, ports: [("TCP" | "UDP"), number][]): Promise<Matrix> {
  const out: Matrix = {};
  await Promise.all(
    [...w.pods].map(async ([src, s]) => {
      const probes: (Probe & { label: string })[] = [];
      for (const [dst, d] of w.pods) {
        if (dst === src) continue;
        for (const [proto, port] of ports) {
          probes.push({ ip: d.v4, proto, port, label: `${src}>${dst} ${proto}/${port}/4` });
          probes.push({ ip: d.v6, proto, port, label: `${src}>${dst} ${proto}/${port}/6` });
        }
      }
      const got = await runProbes(s.ns.name, probes);
      probes.forEach((p, i) => (out[p.label] = got[i] as boolean));
    }),
  );
  return out;
}

function expectMatrix(got: Matrix, allowed: (src: string, dst: string, proto: string, port: number) => boolean): void {
  const wrong: string[] = [];
  for (const [label, v] of Object.entries(got)) {
    const m = /^(\S+)>(\S+) (\w+)\/(\d+)\/\d$/.exec(label);
    if (m === null) throw new Error(label);
    const want = allowed(m[1] as string, m[2] as string, m[3] as string, Number(m[4]));
    if (want !== v) wrong.push(`${label}: expected ${want ? "allowed" : "denied"}, was ${v ? "allowed" : "denied"}`);
  }
  assert.deepEqual(wrong, []);
}

const compiler = new PolicyCompiler("n1");
const compile = (policies: NetworkPolicy[]) => compiler.compileRuleset({ pods: apiPods, namespaces, policies }).ruleset;

interface NftJson {
  nftables: Record<string, { name?: string; handle?: number; elem?: unknown; type?: string; hook?: string; family?: string; table?: string }>[];
}

describe("NetworkPolicy enforced in a test node namespace", { skip }, () => {
  test("deny, allow from namespace on a port, egress deny, node to pod; delta applies; replies pass", async (t) => {
    const w = await createPolicyNode(t, POD_DEFS);
    const ports: [("TCP" | "UDP"), number][] = [["TCP", 80], ["UDP", 81]];

    // No policy: everything connects.
    assert.equal((await w.applier.apply(compile([]))).mode, "full");
    expectMatrix(await matrix(w, ports), () => true);

    // x/a isolated for ingress; y may reach it on TCP 80 and on the named port serve-81-udp.
    const allowY = policy("x", "allow-y", {
      podSelector: { matchLabels: { pod: "a" } },
      ingress: [{ from: [{ namespaceSelector: { matchLabels: { ns: "y" } } }], ports: [{ port: 80 }, { port: "serve-81-udp", protocol: "UDP" }] }],
    });
    const outcome = await w.applier.apply(compile([allowY]));
    assert.equal(outcome.mode, "delta");
    const json = JSON.parse(w.nft(["-j", "list", "table", "inet", "tether-policy"])) as NftJson;
    const forward = json.nftables.find((o) => o["chain"]?.name === "forward")?.["chain"];
    assert.equal(forward?.hook, "forward");
    const ing4 = json.nftables.find((o) => o["map"]?.name === "ingress4")?.["map"];
    assert.equal(JSON.stringify(ing4?.elem).includes("10.66.1.2"), true, JSON.stringify(ing4));
    expectMatrix(await matrix(w, ports), (src, dst) => dst !== "x/a" || src.startsWith("y/"));

    // y/b may not send anything (egress deny), on top.
    const denyEgress = policy("y", "deny-egress-b", { podSelector: { matchLabels: { pod: "b" } }, policyTypes: ["Egress"] });
    assert.equal((await w.applier.apply(compile([allowY, denyEgress]))).mode, "delta");
    expectMatrix(await matrix(w, ports), (src, dst) => src !== "y/b" && (dst !== "x/a" || src.startsWith("y/")));

    // The node itself still reaches the isolated pod (kubelet probes), over both families.
    const xa = w.pods.get("x/a");
    assert.deepEqual(await runProbes(w.node.name, [{ ip: xa?.v4 ?? "", proto: "TCP", port: 81 }, { ip: xa?.v6 ?? "", proto: "TCP", port: 81 }]), [true, true]);

    // The kernel's table after deltas is the table a full apply of the same ruleset makes.
    const strip = (s: string): unknown =>
      (JSON.parse(s) as NftJson).nftables.filter((o) => !("metainfo" in o)).map((o) => JSON.stringify(o).replace(/"handle":\d+,?/g, "")).sort();
    const afterDeltas = strip(w.nft(["-j", "list", "table", "inet", "tether-policy"]));
    w.applier.reset();
    assert.equal((await w.applier.apply(compile([allowY, denyEgress]))).mode, "full");
    assert.deepEqual(strip(w.nft(["-j", "list", "table", "inet", "tether-policy"])), afterDeltas);

    // Deleting both policies opens everything again.
    assert.equal((await w.applier.apply(compile([]))).mode, "delta");
    expectMatrix(await matrix(w, ports), () => true);

    await w.applier.remove();
    assert.equal(w.nft(["list", "tables"]).includes("tether-policy"), false);
  });

  test("through a ClusterIP (DNAT in prerouting, as kube-proxy's iptables and nftables modes do, and as upstream's e2e probes): policed at the backend and at the client", async (t) => {
    const w = await createPolicyNode(t, POD_DEFS);
    // A Service 10.96.0.10 / fd96::10 port 80 (TCP) and 81 (UDP) with x/a as its one endpoint, in the test node only.
    w.nft(["-f", "-"], [
      "table ip tpol-svc {",
      "  chain pre {",
      "    type nat hook prerouting priority dstnat;",
      "    ip daddr 10.96.0.10 tcp dport 80 dnat to 10.66.1.2:80",
      "    ip daddr 10.96.0.10 udp dport 81 dnat to 10.66.1.2:81",
      "  }",
      "}",
      "table ip6 tpol-svc6 {",
      "  chain pre {",
      "    type nat hook prerouting priority dstnat;",
      "    ip6 daddr fd96::10 tcp dport 80 dnat to [fd66::1:2]:80",
      "  }",
      "}",
      "",
    ].join("\n"));
    const viaService = (from: string): Promise<boolean[]> =>
      runProbes(w.pods.get(from)?.ns.name ?? "", [{ ip: "10.96.0.10", proto: "TCP", port: 80 }, { ip: "10.96.0.10", proto: "UDP", port: 81 }, { ip: "fd96::10", proto: "TCP", port: 80 }]);
    await w.applier.apply(compile([]));
    assert.deepEqual(await viaService("x/b"), [true, true, true], "the Service reaches x/a without policies");
    const allowY = policy("x", "allow-y", { podSelector: { matchLabels: { pod: "a" } }, ingress: [{ from: [{ namespaceSelector: { matchLabels: { ns: "y" } } }] }] });
    const denyEgress = policy("y", "deny-egress-b", { podSelector: { matchLabels: { pod: "b" } }, policyTypes: ["Egress"] });
    await w.applier.apply(compile([allowY, denyEgress]));
    assert.deepEqual(await viaService("x/b"), [false, false, false], "x/a's ingress sees x/b behind the Service address");
    assert.deepEqual(await viaService("y/a"), [true, true, true], "allowed from y, replies de-NATed");
    assert.deepEqual(await viaService("y/b"), [false, false, false], "y/b's egress sees x/a behind the Service address");
  });

  test("a pod reaches itself through its Service (hairpin) although its policies allow nothing: a pod cannot block access to itself", async (t) => {
    const w = await createPolicyNode(t, POD_DEFS.slice(0, 2));
    // x/a behind a Service; hairpin traffic masqueraded as kube-proxy does (a pod drops packets from its own address).
    w.nft(["-f", "-"], [
      "table ip tpol-hairpin {",
      "  chain pre {",
      "    type nat hook prerouting priority dstnat;",
      "    ip daddr 10.96.0.20 tcp dport 80 dnat to 10.66.1.2:80",
      "  }",
      "  chain post {",
      "    type nat hook postrouting priority srcnat;",
      "    ip saddr 10.66.1.2 ip daddr 10.66.1.2 masquerade",
      "  }",
      "}",
      "",
    ].join("\n"));
    const xa = w.pods.get("x/a");
    const xb = w.pods.get("x/b");
    const denyAll = policy("x", "deny-all", { podSelector: {}, policyTypes: ["Ingress", "Egress"] });
    await w.applier.apply(compile([denyAll]));
    assert.deepEqual(await runProbes(xa?.ns.name ?? "", [{ ip: "10.96.0.20", proto: "TCP", port: 80 }]), [true], "x/a to itself through the Service");
    assert.deepEqual(await runProbes(xb?.ns.name ?? "", [{ ip: "10.96.0.20", proto: "TCP", port: 80 }, { ip: xa?.v4 ?? "", proto: "TCP", port: 80 }]), [false, false], "others stay denied");

    // x/b forges x/a's address as the source of a packet to x/a: not x/a's own traffic (it comes in
    // from x/b's side), so not let through as such. A counter after the policy table sees what passed it.
    const xbVeth = `pv${process.pid % 1000}x1`;
    w.nft(["-f", "-"], [
      "table ip tpol-count {",
      "  chain passed {",
      "    type filter hook forward priority 10;",
      `    iifname "${xbVeth}" ip saddr 10.66.1.2 ip daddr 10.66.1.2 counter`,
      "  }",
      "}",
      "",
    ].join("\n"));
    // x/b holds x/a's address too, and routes traffic to it out of eth0 (a rule before the local table).
    for (const argv of [
      ["ip", "addr", "add", "10.66.1.2/32", "dev", "eth0"],
      ["ip", "rule", "add", "pref", "100", "lookup", "local"],
      ["ip", "rule", "del", "pref", "0"],
      ["ip", "rule", "add", "pref", "50", "to", "10.66.1.2", "lookup", "100"],
      ["ip", "route", "add", "default", "via", "169.254.1.1", "dev", "eth0", "onlink", "table", "100"],
    ]) xb?.ns.exec(argv);
    const forge = 'const s = require("node:dgram").createSocket("udp4"); s.bind({ address: "10.66.1.2", port: 40000 }, () => s.send("x", 80, "10.66.1.2", () => s.close()));';
    xb?.ns.exec(["node", "-e", forge]);
    const counted = w.nft(["list", "chain", "ip", "tpol-count", "passed"]);
    assert.match(counted, /counter packets 0 /, `the forged packet was dropped by the policy:\n${counted}`);
    // The same packet is counted when no policy isolates x/a: the probe itself works.
    await w.applier.apply(compile([]));
    xb?.ns.exec(["node", "-e", forge]);
    assert.match(w.nft(["list", "chain", "ip", "tpol-count", "passed"]), /counter packets 1 /);
  });

  test("a table changed behind the applier's back: the next apply falls back to a full replace", async (t) => {
    const w = await createPolicyNode(t, POD_DEFS.slice(0, 2));
    const deny = policy("x", "deny", { podSelector: { matchLabels: { pod: "a" } } });
    await w.applier.apply(compile([]));
    w.nft(["delete", "table", "inet", "tether-policy"]);
    assert.equal((await w.applier.apply(compile([deny]))).mode, "full");
    const xa = w.pods.get("x/a");
    const xb = w.pods.get("x/b");
    assert.deepEqual(await runProbes(xb?.ns.name ?? "", [{ ip: xa?.v4 ?? "", proto: "TCP", port: 80 }, { ip: xa?.v6 ?? "", proto: "UDP", port: 80 }]), [false, false]);
    assert.deepEqual(await runProbes(xa?.ns.name ?? "", [{ ip: xb?.v4 ?? "", proto: "TCP", port: 80 }]), [true], "replies of x/a's own connections pass");
  });

  test("nft -i session: a failing line is one transaction (nothing of it applied), its error reported, the session goes on", async (t) => {
    const node = createNetns(t, "pol-nfti");
    const session = new NftSession(["ip", "netns", "exec", node.name, "nft"]);
    t.after(() => session.close());
    await session.exec("add table inet tpol; add set inet tpol s { type ipv4_addr; }");
    await assert.rejects(session.exec("add element inet tpol s { 10.1.1.1 }; add element inet tpol nosuch { 10.2.2.2 }"), /nosuch|No such file/);
    assert.doesNotMatch(node.exec(["nft", "list", "set", "inet", "tpol", "s"]), /10\.1\.1\.1/, "the first command of the failed line is not in");
    await session.exec("add element inet tpol s { 10.3.3.3 }");
    assert.match(node.exec(["nft", "list", "set", "inet", "tpol", "s"]), /10\.3\.3\.3/);
  });
});
