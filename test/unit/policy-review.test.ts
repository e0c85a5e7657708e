/**
 * Review of the compiler against the NetworkPolicy API reference: cases the property test's
 * generators do not reach. Objects in, verdicts of the compiled ruleset out.
 */
import assert from "node:assert/strict";
import { describe, it } from "node:test";
import type { NetworkPolicy, NetworkPolicyPort } from "../../src/k8s/types";
import { PolicyCompiler } from "../../src/policy/compile";
import { slimPod } from "../../src/k8s/types";
import { rulesetAllows } from "../helpers/policyEval";
import { ns, pod, policy, xyz } from "../helpers/policyWorld";

describe("policy compiler: review cases", () => {
  it("namespaceSelector on kubernetes.io/metadata.name matches although the object lacks the label (the API server sets it)", () => {
    const w = xyz();
    const namespaces = ["x", "y", "z"].map((n) => ns(n, { ns: n }));
    const pol = policy("x", "from-y", {
      podSelector: { matchLabels: { pod: "a" } },
      ingress: [{ from: [{ namespaceSelector: { matchExpressions: [{ key: "kubernetes.io/metadata.name", operator: "In", values: ["y"] }] } }] }],
    });
    const { ruleset } = new PolicyCompiler("n1").compileRuleset({ pods: w.pods, namespaces, policies: [pol] });
    assert.equal(rulesetAllows(ruleset, w.ip("y", "b"), w.ip("x", "a"), "TCP", 80), true);
    assert.equal(rulesetAllows(ruleset, w.ip("z", "b"), w.ip("x", "a"), "TCP", 80), false);
    // A namespace known only from its pods (no Namespace object seen yet) gets it too.
    const { ruleset: r2 } = new PolicyCompiler("n1").compileRuleset({ pods: w.pods, namespaces: [], policies: [pol] });
    assert.equal(rulesetAllows(r2, w.ip("y", "b"), w.ip("x", "a"), "TCP", 80), true);
    assert.equal(rulesetAllows(r2, w.ip("z", "b"), w.ip("x", "a"), "TCP", 80), false);
  });

  const onlyPorts = (ports: NetworkPolicyPort[]): { allowed: (proto: "TCP" | "UDP", port: number) => boolean; warnings: readonly string[] } => {
    const w = xyz();
    const pol = policy("x", "p", { podSelector: { matchLabels: { pod: "a" } }, ingress: [{ ports }] });
    const c = new PolicyCompiler("n1").compileRuleset({ pods: w.pods, namespaces: w.namespaces, policies: [pol] });
    return { allowed: (proto, port) => rulesetAllows(c.ruleset, w.ip("y", "b"), w.ip("x", "a"), proto, port), warnings: c.warnings };
  };

  it("endPort without port (refused by the API server) matches nothing, not every port", () => {
    const r = onlyPorts([{ protocol: "TCP", endPort: 90 } as NetworkPolicyPort]);
    assert.equal(r.allowed("TCP", 80), false);
    assert.equal(r.allowed("TCP", 1000), false);
    assert.match(r.warnings.join("\n"), /endPort/);
  });

  it("a named port with endPort (refused by the API server) matches nothing, like other invalid clauses", () => {
    const r = onlyPorts([{ port: "serve-80-tcp", endPort: 90 }]);
    assert.equal(r.allowed("TCP", 80), false);
    assert.match(r.warnings.join("\n"), /endPort/);
  });

  it("valid neighbours of an invalid clause still apply", () => {
    const r = onlyPorts([{ port: 90, endPort: 85 }, { port: 81, protocol: "UDP" }]);
    assert.equal(r.allowed("UDP", 81), true);
    assert.equal(r.allowed("TCP", 85), false);
    assert.equal(r.allowed("TCP", 90), false);
  });
});

describe("policy compiler: explicit nulls (JSON of a hand-written API) mean absent", () => {
  it("null fields do not throw and read as absent", () => {
    const w = xyz();
    const raw = JSON.parse(`{"metadata":{"namespace":"x","name":"nulls"},"spec":{"podSelector":{"matchLabels":{"pod":"a"},"matchExpressions":null},
      "policyTypes":null,"egress":null,
      "ingress":[{"from":[{"podSelector":{"matchLabels":{"pod":"b"}},"namespaceSelector":null,"ipBlock":null}],"ports":[{"port":80,"protocol":null,"endPort":null}]},
                 {"from":null,"ports":null}]}}`);
    const other = JSON.parse(`{"metadata":{"namespace":"y","name":"nulls2"},"spec":{"podSelector":null,"policyTypes":["Ingress"],"ingress":[{"from":[{"podSelector":null,"namespaceSelector":{"matchLabels":null}}]}]}}`);
    const { ruleset } = new PolicyCompiler("n1").compileRuleset({ pods: w.pods, namespaces: w.namespaces, policies: [raw, other] });
    // second rule of "nulls" (from/ports null = absent) allows all: x/a is open.
    assert.equal(rulesetAllows(ruleset, w.ip("z", "c"), w.ip("x", "a"), "UDP", 53), true);
    // "nulls2": every pod of y, from every namespace's pods, but not from outside.
    assert.equal(rulesetAllows(ruleset, w.ip("z", "c"), w.ip("y", "b"), "TCP", 80), true);
    assert.equal(rulesetAllows(ruleset, "192.168.9.9", w.ip("y", "b"), "TCP", 80), false);
  });
});

describe("policy compiler: pod addresses", () => {
  it("status.podIP counts when status.podIPs is an empty list", () => {
    const w = xyz();
    const b = w.podOf("x", "b");
    const bare = { ...b, status: { phase: "Running", podIP: "10.0.9.9", podIPs: [] } } as typeof b;
    const pods = w.pods.map((p) => (p === b ? bare : p));
    const pol = policy("x", "from-b", { podSelector: { matchLabels: { pod: "a" } }, ingress: [{ from: [{ podSelector: { matchLabels: { pod: "b" } } }] }] });
    const { ruleset } = new PolicyCompiler("n1").compileRuleset({ pods, namespaces: w.namespaces, policies: [pol] });
    assert.equal(rulesetAllows(ruleset, "10.0.9.9", w.ip("x", "a"), "TCP", 80), true);
    assert.equal(rulesetAllows(ruleset, w.ip("x", "c"), w.ip("x", "a"), "TCP", 80), false);
  });
});

describe("policy compiler: documented behaviour the generators do not show", () => {
  it("a named port resolves per pod: ingress on each selected pod, egress per destination", () => {
    const w = xyz();
    const withHttp = (p: ReturnType<typeof w.podOf>, port: number): typeof p => ({ ...p, spec: { ...p.spec, containers: [{ name: "c", ports: [{ name: "http", containerPort: port }] }] } });
    const a = w.podOf("x", "a");
    const b = w.podOf("x", "b");
    const pods = w.pods.map((p) => (p === a ? withHttp(a, 8080) : p === b ? withHttp(b, 9090) : p));
    const ing = policy("x", "ing", { podSelector: {}, policyTypes: ["Ingress"], ingress: [{ ports: [{ port: "http" }] }] });
    const egr = policy("y", "egr", { podSelector: {}, policyTypes: ["Egress"], egress: [{ ports: [{ port: "http" }] }] });
    const { ruleset } = new PolicyCompiler("n1").compileRuleset({ pods, namespaces: w.namespaces, policies: [ing] });
    assert.equal(rulesetAllows(ruleset, w.ip("z", "a"), w.ip("x", "a"), "TCP", 8080), true);
    assert.equal(rulesetAllows(ruleset, w.ip("z", "a"), w.ip("x", "a"), "TCP", 9090), false);
    assert.equal(rulesetAllows(ruleset, w.ip("z", "a"), w.ip("x", "b"), "TCP", 9090), true);
    assert.equal(rulesetAllows(ruleset, w.ip("z", "a"), w.ip("x", "b"), "TCP", 8080), false);
    assert.equal(rulesetAllows(ruleset, w.ip("z", "a"), w.ip("x", "c"), "TCP", 80), false);
    const { ruleset: e } = new PolicyCompiler("n1").compileRuleset({ pods, namespaces: w.namespaces, policies: [egr] });
    assert.equal(rulesetAllows(e, w.ip("y", "a"), w.ip("x", "a"), "TCP", 8080), true);
    assert.equal(rulesetAllows(e, w.ip("y", "a"), w.ip("x", "a"), "TCP", 9090), false);
    assert.equal(rulesetAllows(e, w.ip("y", "a", 6), w.ip("x", "b", 6), "TCP", 9090), true);
    assert.equal(rulesetAllows(e, w.ip("y", "a"), "192.168.1.1", "TCP", 8080), false);
  });

  it("a named port of a sidecar (init container with restartPolicy Always) is the pod's; a plain init container's is not", () => {
    const w = xyz();
    const a = w.podOf("x", "a");
    // As the informer caches it (slimPod), from a Pod as the API server sends it.
    const withSidecar = slimPod({
      ...a,
      spec: {
        ...a.spec,
        containers: [{ name: "app" }],
        initContainers: [
          { name: "setup", ports: [{ name: "metrics", containerPort: 7000 }] },
          { name: "proxy", restartPolicy: "Always", ports: [{ name: "metrics", containerPort: 9100 }] },
        ],
      },
    });
    const pods = w.pods.map((p) => (p === a ? withSidecar : p));
    const ing = policy("x", "ing", { podSelector: { matchLabels: { pod: "a" } }, ingress: [{ ports: [{ port: "metrics" }] }] });
    const { ruleset } = new PolicyCompiler("n1").compileRuleset({ pods, namespaces: w.namespaces, policies: [ing] });
    assert.equal(rulesetAllows(ruleset, w.ip("y", "a"), w.ip("x", "a"), "TCP", 9100), true);
    assert.equal(rulesetAllows(ruleset, w.ip("y", "a"), w.ip("x", "a"), "TCP", 7000), false);
    const egr = policy("y", "egr", { podSelector: {}, policyTypes: ["Egress"], egress: [{ ports: [{ port: "metrics" }] }] });
    const { ruleset: e } = new PolicyCompiler("n1").compileRuleset({ pods, namespaces: w.namespaces, policies: [egr] });
    assert.equal(rulesetAllows(e, w.ip("y", "a", 6), w.ip("x", "a", 6), "TCP", 9100), true);
    assert.equal(rulesetAllows(e, w.ip("y", "a"), w.ip("x", "a"), "TCP", 7000), false);
  });

  it("an address a terminating pod shares with a live pod (released and handed out again) is the live pod's alone", () => {
    const w = xyz();
    const old = { ...pod("y", "old", ["10.0.9.9", "fd00::9:9"], { labels: { role: "trusted" } }), metadata: { namespace: "y", name: "old", labels: { role: "trusted" }, deletionTimestamp: "2026-12-03T10:00:00Z" } };
    const fresh = pod("y", "fresh", ["10.0.9.9", "fd00::9:9"], { labels: { role: "other" } });
    const fromTrusted = policy("x", "from-trusted", {
      podSelector: { matchLabels: { pod: "a" } },
      ingress: [{ from: [{ namespaceSelector: {}, podSelector: { matchLabels: { role: "trusted" } } }] }],
    });
    const denyOld = policy("y", "deny-trusted", { podSelector: { matchLabels: { role: "trusted" } }, policyTypes: ["Ingress", "Egress"] });
    const compile = (pods: typeof w.pods) => new PolicyCompiler("n1").compileRuleset({ pods, namespaces: w.namespaces, policies: [fromTrusted, denyOld] }).ruleset;
    // Alone, the terminating pod is still itself: a trusted peer, and isolated.
    const alone = compile([...w.pods, old]);
    assert.equal(rulesetAllows(alone, "10.0.9.9", w.ip("x", "a"), "TCP", 80), false, "isolated for egress");
    assert.equal(alone.maps.egress4.has("10.0.9.9"), true);
    assert.equal([...alone.sets.values()].some((s) => s.elements.includes("10.0.9.9")), true, "a trusted peer");
    // With a live pod on its address: the new pod gets neither the old one's privileges nor its isolation.
    const both = compile([...w.pods, old, fresh]);
    assert.equal([...both.sets.values()].some((s) => s.elements.includes("10.0.9.9") || s.elements.includes("fd00::9:9")), false);
    assert.equal(both.maps.egress4.has("10.0.9.9") || both.maps.ingress6.has("fd00::9:9"), false);
    assert.equal(rulesetAllows(both, w.ip("y", "b"), "10.0.9.9", "TCP", 80), true);
    const onlyFrom = new PolicyCompiler("n1").compileRuleset({ pods: [...w.pods, old, fresh], namespaces: w.namespaces, policies: [fromTrusted] }).ruleset;
    assert.equal(rulesetAllows(onlyFrom, "10.0.9.9", w.ip("x", "a"), "TCP", 80), false, "the new pod is not trusted");
    assert.equal(rulesetAllows(onlyFrom, "fd00::9:9", w.ip("x", "a", 6), "TCP", 80), false);
  });

  it("a pod cannot block access to itself (hairpin through a Service): its own address pair passes, others still do not", () => {
    const w = xyz((_n, p) => (p === "c" ? "n2" : "n1"));
    const denyAll = policy("x", "deny-all", { podSelector: {}, policyTypes: ["Ingress", "Egress"] });
    const { ruleset } = new PolicyCompiler("n1").compileRuleset({ pods: w.pods, namespaces: w.namespaces, policies: [denyAll] });
    assert.equal(rulesetAllows(ruleset, w.ip("x", "a"), w.ip("x", "a"), "TCP", 80), true);
    assert.equal(rulesetAllows(ruleset, w.ip("x", "a", 6), w.ip("x", "a", 6), "UDP", 53), true);
    assert.equal(rulesetAllows(ruleset, w.ip("x", "b"), w.ip("x", "a"), "TCP", 80), false);
    // Only this node's policed pods are in the self sets (x/c is on n2, y and z are not policed).
    assert.deepEqual(ruleset.sets.get("self4")?.elements, [`${w.ip("x", "a")} . ${w.ip("x", "a")}`, `${w.ip("x", "b")} . ${w.ip("x", "b")}`]);
  });

  it("a NetworkPolicy without spec selects every pod of its namespace and denies their ingress only", () => {
    const w = xyz();
    const bare = { metadata: { namespace: "x", name: "bare" } } as unknown as NetworkPolicy;
    const { ruleset } = new PolicyCompiler("n1").compileRuleset({ pods: w.pods, namespaces: w.namespaces, policies: [bare] });
    assert.equal(rulesetAllows(ruleset, w.ip("x", "b"), w.ip("x", "a"), "TCP", 80), false);
    assert.equal(rulesetAllows(ruleset, w.ip("x", "a"), w.ip("y", "a"), "TCP", 80), true);
  });

  it("policyTypes omitted with egress rules: both directions isolated", () => {
    const w = xyz();
    const pol = policy("x", "p", { podSelector: { matchLabels: { pod: "a" } }, egress: [{ ports: [{ port: 53, protocol: "UDP" }] }] });
    const { ruleset } = new PolicyCompiler("n1").compileRuleset({ pods: w.pods, namespaces: w.namespaces, policies: [pol] });
    assert.equal(rulesetAllows(ruleset, w.ip("x", "a"), w.ip("y", "a"), "UDP", 53), true);
    assert.equal(rulesetAllows(ruleset, w.ip("x", "a"), w.ip("y", "a"), "TCP", 80), false);
    assert.equal(rulesetAllows(ruleset, w.ip("y", "a"), w.ip("x", "a"), "UDP", 53), false);
  });
});
