/** The policy compiler: API objects in, nftables text (and its data) out. */
import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { PolicyCompiler } from "../../src/policy/compile";
import { renderDelta } from "../../src/policy/nft";
import { ns, pod, policy, xyz } from "../helpers/policyWorld";
import { rulesetAllows } from "../helpers/policyEval";

const compiler = new PolicyCompiler("n1");

describe("policy compiler: text out", () => {
  it("no policy: an empty table with the fixed base chain, replaced in one transaction", () => {
    const { pods, namespaces } = xyz();
    const text = compiler.compile({ pods, namespaces, policies: [] });
    assert.equal(
      text,
      [
        "table inet tether-policy {}",
        "delete table inet tether-policy",
        "table inet tether-policy {",
        "\tset self4 { type ipv4_addr . ipv4_addr; }",
        "\tset self6 { type ipv6_addr . ipv6_addr; }",
        "\tmap egress4 { type ipv4_addr : verdict; }",
        "\tmap egress6 { type ipv6_addr : verdict; }",
        "\tmap ingress4 { type ipv4_addr : verdict; }",
        "\tmap ingress6 { type ipv6_addr : verdict; }",
        "\tchain forward {",
        "\t\ttype filter hook forward priority filter; policy accept;",
        "\t\tct state established,related accept",
        "\t\tip saddr . ip daddr @self4 fib saddr . iif oif exists accept",
        "\t\tip6 saddr . ip6 daddr @self6 fib saddr . iif oif exists accept",
        "\t\tip saddr vmap @egress4",
        "\t\tip6 saddr vmap @egress6",
        "\t\tip daddr vmap @ingress4",
        "\t\tip6 daddr vmap @ingress6",
        "\t}",
        "}",
        "",
      ].join("\n"),
    );
  });

  it("default deny ingress in x: one shared chain that drops, every x pod of both families mapped to it", () => {
    const { pods, namespaces } = xyz();
    const r = compiler.compileRuleset({ pods, namespaces, policies: [policy("x", "deny", { podSelector: {} })] });
    const chains = [...r.ruleset.chains.values()];
    assert.equal(chains.length, 1);
    assert.deepEqual(chains[0]?.rules, ["drop"]);
    assert.match(chains[0]?.name ?? "", /^ing_[0-9a-f]{16}$/);
    assert.deepEqual([...r.ruleset.maps.ingress4.keys()].sort(), ["10.0.1.2", "10.0.1.3", "10.0.1.4"]);
    assert.deepEqual([...r.ruleset.maps.ingress6.keys()].sort(), ["fd00::1:2", "fd00::1:3", "fd00::1:4"]);
    assert.equal(r.ruleset.maps.egress4.size, 0, "ingress-only policy: egress untouched");
    assert.match(r.text, /map ingress4 \{ type ipv4_addr : verdict; elements = \{ 10\.0\.1\.2 : jump ing_[0-9a-f]{16}, 10\.0\.1\.3 : jump/);
  });

  it("policyTypes default: egress rules make it Egress too; an empty egress list does not", () => {
    const { pods, namespaces } = xyz();
    const withRules = compiler.compileRuleset({ pods, namespaces, policies: [policy("x", "p", { podSelector: {}, egress: [{}] })] });
    assert.equal(withRules.ruleset.maps.egress4.size, 3);
    assert.equal(withRules.ruleset.maps.ingress4.size, 3);
    const empty = compiler.compileRuleset({ pods, namespaces, policies: [policy("x", "p", { podSelector: {}, egress: [] })] });
    assert.equal(empty.ruleset.maps.egress4.size, 0);
    const denyEgress = compiler.compileRuleset({ pods, namespaces, policies: [policy("x", "p", { podSelector: {}, policyTypes: ["Egress"] })] });
    assert.equal(denyEgress.ruleset.maps.ingress4.size, 0);
    assert.deepEqual([...denyEgress.ruleset.chains.values()].map((c) => c.rules), [["drop"]]);
  });

  it("peers and ports: namespace+pod selector, ipBlock with except, named port per pod, endPort, SCTP", () => {
    const { pods, namespaces } = xyz();
    const r = compiler.compileRuleset({
      pods,
      namespaces,
      policies: [
        policy("x", "p", {
          podSelector: { matchLabels: { pod: "a" } },
          ingress: [
            {
              from: [{ namespaceSelector: { matchLabels: { ns: "y" } }, podSelector: { matchLabels: { pod: "b" } } }, { ipBlock: { cidr: "192.168.0.0/16", except: ["192.168.1.0/24"] } }],
              ports: [{ port: "serve-81-udp", protocol: "UDP" }, { port: 8000, endPort: 8080 }, { protocol: "SCTP" }],
            },
          ],
        }),
      ],
    });
    const chain = [...r.ruleset.chains.values()][0];
    const sets = [...r.ruleset.sets.values()];
    const yb4 = sets.find((s) => s.type === "ipv4_addr" && !s.interval);
    const block = sets.find((s) => s.interval);
    assert.deepEqual(yb4?.elements, ["10.0.2.3"]);
    assert.deepEqual(block?.elements, ["192.168.0.0/24", "192.168.2.0-192.168.255.255"]);
    assert.deepEqual(chain?.rules, [
      `ip saddr @${yb4?.name} tcp dport 8000-8080 return`,
      `ip saddr @${yb4?.name} udp dport 81 return`,
      `ip saddr @${yb4?.name} meta l4proto sctp return`,
      `ip6 saddr @${yb4?.name.replace("pp4", "pp6")} tcp dport 8000-8080 return`,
      `ip6 saddr @${yb4?.name.replace("pp4", "pp6")} udp dport 81 return`,
      `ip6 saddr @${yb4?.name.replace("pp4", "pp6")} meta l4proto sctp return`,
      `ip saddr @${block?.name} tcp dport 8000-8080 return`,
      `ip saddr @${block?.name} udp dport 81 return`,
      `ip saddr @${block?.name} meta l4proto sctp return`,
      "drop",
    ]);
  });

  it("named ports resolve per destination pod: ingress on the selected pod, egress through (address . port) sets", () => {
    const pods = [
      pod("x", "a", ["10.0.1.2"], { ports: [{ name: "web", containerPort: 8080 }] }),
      pod("x", "b", ["10.0.1.3"], { ports: [{ name: "web", containerPort: 9090 }] }),
      pod("x", "c", ["10.0.1.4"]),
      pod("y", "d", ["10.0.2.2"], { node: "n2", ports: [{ name: "web", containerPort: 7070 }, { name: "web", containerPort: 53, protocol: "UDP" }] }),
    ];
    const r = compiler.compileRuleset({
      pods,
      namespaces: [ns("x"), ns("y")],
      policies: [
        policy("x", "in", { podSelector: {}, ingress: [{ ports: [{ port: "web" }] }] }),
        policy("x", "out", { podSelector: { matchLabels: { pod: "c" } }, policyTypes: ["Egress"], egress: [{ ports: [{ port: "web" }] }] }),
      ],
    });
    const chainOf = (m: "ingress4" | "egress4", a: string): readonly string[] | undefined => r.ruleset.chains.get(r.ruleset.maps[m].get(a) ?? "")?.rules;
    assert.deepEqual(chainOf("ingress4", "10.0.1.2"), ["tcp dport 8080 return", "drop"]);
    assert.deepEqual(chainOf("ingress4", "10.0.1.3"), ["tcp dport 9090 return", "drop"]);
    assert.deepEqual(chainOf("ingress4", "10.0.1.4"), ["drop"], "a pod without the named port: the rule allows nothing");
    const eg = chainOf("egress4", "10.0.1.4");
    const set = r.ruleset.sets.get(/@(\S+)/.exec(eg?.[0] ?? "")?.[1] ?? "");
    assert.match(eg?.[0] ?? "", /^ip daddr \. tcp dport @pn4_[0-9a-f]{16} return$/);
    assert.deepEqual(set?.elements, ["10.0.1.2 . 8080", "10.0.1.3 . 9090", "10.0.2.2 . 7070"]);
    assert.equal(set?.type, "ipv4_addr . inet_service");
  });

  it("only this node's pods, keyed on status.podIPs; hostNetwork and finished pods ignored", () => {
    const pods = [
      pod("x", "here", ["10.0.1.2", "fd00::2"]),
      pod("x", "there", ["10.0.1.3"], { node: "n2" }),
      pod("x", "host", ["192.168.0.10"], { hostNetwork: true }),
      { ...pod("x", "done", ["10.0.1.5"]), status: { phase: "Succeeded", podIPs: [{ ip: "10.0.1.5" }] } },
      { ...pod("x", "nopodips", []), status: { podIP: "10.0.1.6" } },
    ];
    const r = compiler.compileRuleset({ pods, namespaces: [ns("x")], policies: [policy("x", "deny", { podSelector: {}, ingress: [{ from: [{ podSelector: {} }] }] })] });
    assert.deepEqual([...r.ruleset.maps.ingress4.keys()].sort(), ["10.0.1.2", "10.0.1.6"]);
    assert.deepEqual([...r.ruleset.maps.ingress6.keys()], ["fd00::2"]);
    const peers = [...r.ruleset.sets.values()].find((s) => s.type === "ipv4_addr");
    assert.deepEqual(peers?.elements, ["10.0.1.2", "10.0.1.3", "10.0.1.6"], "peers come from every node; hostNetwork and finished pods never");
  });

  it("chains are shared by content: 3 selected pods with the same policies, one chain", () => {
    const { pods, namespaces } = xyz();
    const r = compiler.compileRuleset({ pods, namespaces, policies: [policy("x", "p", { podSelector: {}, ingress: [{ from: [{ podSelector: { matchLabels: { pod: "b" } } }] }] })] });
    assert.equal(r.ruleset.chains.size, 1);
    assert.equal(new Set(r.ruleset.maps.ingress4.values()).size, 1);
    // The peer set (x/b, both families) and the self sets (the 3 selected pods, both families).
    assert.deepEqual(r.stats, { sets: 4, setElements: 8, chains: 1, rules: 3, mapElements: 6 });
  });

  it("invalid parts are skipped with a warning naming object and field, and allow nothing", () => {
    const { pods, namespaces, ip } = xyz();
    const r = compiler.compileRuleset({
      pods,
      namespaces,
      policies: [
        policy("x", "bad", {
          podSelector: {},
          ingress: [
            { from: [{ ipBlock: { cidr: "10.0.0.0/40" } }] },
            { from: [{ podSelector: {} }], ports: [{ port: 70000 }] },
            { from: [{ podSelector: { matchExpressions: [{ key: "pod", operator: "Exists", values: ["a"] }] } }] },
          ],
        }),
      ],
    });
    assert.equal(r.warnings.length, 3, r.warnings.join("\n"));
    assert.match(r.warnings[0] ?? "", /networkpolicy x\/bad spec\.ingress\[0\]\.from\[0\]\.ipBlock: "10\.0\.0\.0\/40": prefix length above 32/);
    assert.match(r.warnings[1] ?? "", /spec\.ingress\[1\]\.ports\[0\]: invalid port 70000/);
    assert.match(r.warnings[2] ?? "", /spec\.ingress\[2\]\.from\[0\]\.podSelector: operator Exists on key pod takes no values/);
    assert.equal(rulesetAllows(r.ruleset, ip("x", "b"), ip("x", "a"), "TCP", 80), false);
  });
});

describe("policy compiler: delta", () => {
  it("a new pod matching a peer only refills that set and adds its map element; nothing else", () => {
    const { pods, namespaces } = xyz();
    const policies = [policy("x", "p", { podSelector: { matchLabels: { pod: "a" } }, ingress: [{ from: [{ podSelector: { matchLabels: { role: "client" } } }] }] })];
    const before = compiler.compileRuleset({ pods, namespaces, policies });
    const after = compiler.compileRuleset({ pods: [...pods, pod("x", "d", ["10.0.1.9"], { labels: { role: "client", pod: "a" } })], namespaces, policies });
    const delta = renderDelta(before.ruleset, after.ruleset).trim().split("\n");
    assert.equal(delta.length, 4, delta.join("\n"));
    assert.match(delta[0] ?? "", /^flush set inet tether-policy pp4_[0-9a-f]{16}$/);
    assert.match(delta[1] ?? "", /^add element inet tether-policy pp4_[0-9a-f]{16} \{ 10\.0\.1\.9 \}$/);
    assert.equal(delta[2], "add element inet tether-policy self4 { 10.0.1.9 . 10.0.1.9 }", "the self set gains one element, not a refill");
    assert.match(delta[3] ?? "", /^add element inet tether-policy ingress4 \{ 10\.0\.1\.9 : jump ing_[0-9a-f]{16} \}$/);
    assert.equal(renderDelta(after.ruleset, after.ruleset), "");
  });

  it("a pod's new IP: its map elements and the peer sets holding it move, in one delta", () => {
    const { pods, namespaces } = xyz();
    const policies = [policy("x", "p", { podSelector: {}, ingress: [{ from: [{ podSelector: {} }] }] })];
    const before = compiler.compileRuleset({ pods, namespaces, policies });
    const moved = pods.map((p) => (p.metadata.namespace === "x" && p.metadata.name === "a" ? pod("x", "a", ["10.0.1.200", "fd00::1:200"]) : p));
    const after = compiler.compileRuleset({ pods: moved, namespaces, policies });
    const delta = renderDelta(before.ruleset, after.ruleset);
    assert.match(delta, /^flush set inet tether-policy pp4_\w+\nadd element inet tether-policy pp4_\w+ \{ 10\.0\.1\.200, 10\.0\.1\.3, 10\.0\.1\.4 \}$/m);
    assert.match(delta, /^delete element inet tether-policy ingress4 \{ 10\.0\.1\.2 \}$/m);
    assert.match(delta, /^add element inet tether-policy ingress4 \{ 10\.0\.1\.200 : jump ing_\w+ \}$/m);
    assert.match(delta, /^delete element inet tether-policy ingress6 \{ fd00::1:2 \}$/m);
    assert.doesNotMatch(delta, /chain/, "the chain is the same");
    assert.equal(rulesetAllows(after.ruleset, "10.0.1.200", "10.0.1.3", "TCP", 80), true);
    assert.equal(rulesetAllows(after.ruleset, "10.0.1.2", "10.0.1.3", "TCP", 80), false, "the old address is no peer any more");
  });

  it("a deleted policy: map elements out before the chain and its sets are deleted", () => {
    const { pods, namespaces } = xyz();
    const p = policy("x", "p", { podSelector: {}, ingress: [{ from: [{ ipBlock: { cidr: "10.9.0.0/16" } }] }] });
    const before = compiler.compileRuleset({ pods, namespaces, policies: [p] });
    const after = compiler.compileRuleset({ pods, namespaces, policies: [] });
    const delta = renderDelta(before.ruleset, after.ruleset).trim().split("\n");
    assert.deepEqual(delta.map((l) => l.replace(/ \{.*$/, "").replace(/ \w+_[0-9a-f]{16}$/, "")), [
      "delete element inet tether-policy self4",
      "delete element inet tether-policy self6",
      "delete element inet tether-policy ingress4",
      "delete element inet tether-policy ingress6",
      "delete chain inet tether-policy",
      "delete set inet tether-policy",
    ]);
  });
});
