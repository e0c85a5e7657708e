/** The agent's pure parts: desired state from Nodes, the route diff, the conflist, the nft text. */
import assert from "node:assert/strict";
import { describe, test } from "node:test";
import { type AgentNode, collapsePrefixes, desiredState, nodeAddress, parsePrefix, planFromKnown, planRoutes, podCidrsOf } from "../../src/agent/desired";
import { configsBefore, conflistCidrs, conflistText } from "../../src/agent/conflist";
import { ChainVersions, commonVersions } from "../../src/agent/chain";
import * as fs from "node:fs";
import * as os from "node:os";
import { join } from "node:path";
import { masqueradeBatch, masqueradeDelta, masqueradeWant, parseMasqueradeTable, sameMasquerade } from "../../src/agent/masquerade";

function node(name: string, cidrs: string[] | string | undefined, addrs: [string, string][] = []): AgentNode {
  const spec = cidrs === undefined ? {} : typeof cidrs === "string" ? { podCIDR: cidrs } : { podCIDRs: cidrs };
  return { metadata: { name }, spec, status: { addresses: addrs.map(([type, address]) => ({ type, address })) } };
}

const LOCAL = [
  { address: "192.168.10.1", prefixLen: 24 },
  { address: "fd00:10::1", prefixLen: 64 },
  { address: "fe80::1", prefixLen: 64 },
  { address: "10.244.1.1", prefixLen: 32 },
  { address: "127.0.0.1", prefixLen: 8 },
];

describe("agent desired state", () => {
  test("prefixes are canonical; bad ones are refused", () => {
    assert.equal(parsePrefix("10.244.1.7/24")?.text, "10.244.1.0/24");
    assert.equal(parsePrefix("FD00:10:244:1::5/64")?.text, "fd00:10:244:1::/64");
    for (const bad of ["10.244.1.0", "10.244.1.0/33", "::ffff:10.0.0.0/120", "x/8", "10.0.0.0/08a"]) assert.equal(parsePrefix(bad), undefined, bad);
  });

  test("podCIDRs wins over podCIDR, one per family, IPv4 first, problems named", () => {
    const problems: string[] = [];
    assert.deepEqual(podCidrsOf(node("a", ["fd00:1::/64", "10.1.0.0/24"]), problems).map((p) => p.text), ["10.1.0.0/24", "fd00:1::/64"]);
    assert.deepEqual(podCidrsOf(node("b", "10.2.0.0/24")).map((p) => p.text), ["10.2.0.0/24"]);
    assert.deepEqual(podCidrsOf(node("c", ["10.3.0.0/24", "10.4.0.0/24", "nope"]), problems).map((p) => p.text), ["10.3.0.0/24"]);
    assert.equal(problems.length, 2);
    assert.match(problems.join("\n"), /node c: pod CIDR "nope" is not a CIDR/);
    assert.match(problems.join("\n"), /second IPv4 pod CIDR 10.4.0.0\/24/);
  });

  test("next hop: InternalIP of the family, else ExternalIP", () => {
    const n = node("a", [], [["Hostname", "a"], ["ExternalIP", "203.0.113.5"], ["InternalIP", "fd00:10::2"], ["ExternalIP", "2001:db8::5"], ["InternalIP", "192.168.10.2"]]);
    assert.equal(nodeAddress(n, 4), "192.168.10.2");
    assert.equal(nodeAddress(n, 6), "fd00:10::2");
    assert.equal(nodeAddress(node("b", [], [["ExternalIP", "192.168.10.9"]]), 4), "192.168.10.9");
    assert.equal(nodeAddress(node("c", [], [["Hostname", "10.0.0.1"]]), 4), undefined);
  });

  test("a route per other node's pod CIDR via its address on a connected network; unroutable ones listed", () => {
    const nodes = [
      node("self", ["10.244.1.0/24", "fd00:244:1::/64"], [["InternalIP", "192.168.10.1"], ["InternalIP", "fd00:10::1"]]),
      node("b", ["10.244.2.0/24", "fd00:244:2::/64"], [["InternalIP", "192.168.10.2"], ["InternalIP", "fd00:10::2"]]),
      node("c", ["10.244.3.0/24"], [["InternalIP", "172.16.0.3"]]),
      node("d", ["fd00:244:4::/64"], [["InternalIP", "192.168.10.4"]]),
      node("e", undefined, [["InternalIP", "192.168.10.5"]]),
      node("f", ["10.244.6.0/24"], [["InternalIP", "192.168.10.1"]]),
    ];
    const d = desiredState(nodes, "self", LOCAL);
    assert.equal(d.waiting, undefined);
    assert.deepEqual(d.ownCidrs.map((p) => p.text), ["10.244.1.0/24", "fd00:244:1::/64"]);
    assert.deepEqual(d.routes, [
      { family: 4, dst: "10.244.2.0/24", gw: "192.168.10.2", node: "b" },
      { family: 6, dst: "fd00:244:2::/64", gw: "fd00:10::2", node: "b" },
    ]);
    assert.deepEqual(
      d.unroutable.map((u) => [u.node, u.family]),
      [["c", 4], ["d", 6], ["f", 4]],
    );
    assert.match(d.unroutable[0]?.reason ?? "", /172.16.0.3 is not on a directly connected network/);
    assert.match(d.unroutable[1]?.reason ?? "", /no IPv6 InternalIP or ExternalIP/);
    assert.match(d.unroutable[2]?.reason ?? "", /this node's own/);
    assert.deepEqual(d.clusterCidrs, { 4: ["10.244.1.0/24", "10.244.2.0/24", "10.244.3.0/24", "10.244.6.0/24"], 6: ["fd00:244:1::/64", "fd00:244:2::/64", "fd00:244:4::/64"] });
  });

  test("a pod CIDR overlapping another node's is not routed and is named as a problem", () => {
    const nodes = [
      node("self", ["10.244.1.0/24"], []),
      node("a", ["10.244.2.0/24"], [["InternalIP", "192.168.10.2"]]),
      node("b", ["10.244.2.128/25"], [["InternalIP", "192.168.10.3"]]),
      node("c", ["10.244.0.0/16"], [["InternalIP", "192.168.10.4"]]),
    ];
    const d = desiredState(nodes, "self", LOCAL);
    assert.deepEqual(d.routes.map((r) => r.node), ["a"]);
    assert.equal(d.problems.length, 2);
    assert.match(d.problems[0] ?? "", /node b: pod CIDR 10.244.2.128\/25 overlaps 10.244.2.0\/24 of node a/);
  });

  test("waiting when this node is missing or has no pod CIDR; other nodes are routed anyway", () => {
    const b = node("b", ["10.244.2.0/24"], [["InternalIP", "192.168.10.2"]]);
    const missing = desiredState([b], "self", LOCAL);
    assert.match(missing.waiting ?? "", /node self is not in the API/);
    assert.equal(missing.routes.length, 1);
    const noCidr = desiredState([b, node("self", undefined)], "self", LOCAL);
    assert.match(noCidr.waiting ?? "", /has no pod CIDR yet/);
    assert.deepEqual(noCidr.ownCidrs, []);
  });

  test("cluster CIDRs: contained prefixes collapse (nft interval sets refuse overlaps)", () => {
    const ps = ["10.0.0.0/8", "10.1.0.0/16", "10.2.3.0/24", "192.168.0.0/24", "192.168.0.0/24"].map((t) => parsePrefix(t)!);
    assert.deepEqual(collapsePrefixes(ps).map((p) => p.text), ["10.0.0.0/8", "192.168.0.0/24"]);
  });
});

describe("agent route diff", () => {
  const desired = [
    { family: 4 as const, dst: "10.244.2.0/24", gw: "192.168.10.2", node: "b" },
    { family: 6 as const, dst: "fd00:244:2::/64", gw: "fd00:10::2", node: "b" },
    { family: 4 as const, dst: "10.244.3.0/24", gw: "192.168.10.3", node: "c" },
  ];
  test("nothing to do when the kernel matches (IPv6 metric and oif do not matter)", () => {
    const actual = [
      { dst: "10.244.2.0/24", gw: "192.168.10.2", table: 254, oif: 2 },
      { dst: "fd00:244:2::/64", gw: "fd00:10::2", table: 254, priority: 1024 },
      { dst: "10.244.3.0/24", gw: "192.168.10.3", table: 254 },
    ];
    assert.deepEqual(planRoutes(desired, actual, 254), { add: [], delete: [] });
  });
  test("missing ones added; stale, changed next hop, duplicates and other tables deleted", () => {
    const actual = [
      { dst: "10.244.2.0/24", gw: "192.168.10.9", table: 254 },
      { dst: "10.244.9.0/24", gw: "192.168.10.9", table: 254 },
      { dst: "10.244.3.0/24", gw: "192.168.10.3", table: 254 },
      { dst: "10.244.3.0/24", gw: "192.168.10.3", table: 254, priority: 5 },
      { dst: "fd00:244:2::/64", gw: "fd00:10::2", table: 100 },
    ];
    const plan = planRoutes(desired, actual, 254);
    assert.deepEqual(plan.add.map((r) => r.dst), ["10.244.2.0/24", "fd00:244:2::/64"]);
    assert.deepEqual(
      plan.delete.map((r) => `${r.dst} ${r.gw} ${r.table}`),
      ["10.244.2.0/24 192.168.10.9 254", "10.244.9.0/24 192.168.10.9 254", "10.244.3.0/24 192.168.10.3 254", "fd00:244:2::/64 fd00:10::2 100"],
    );
  });
  test("a slot held by a route of another protocol (same dst and metric) is blocked, not added; other metrics do not block", () => {
    const foreign = [
      { dst: "10.244.2.0/24", gw: "192.168.10.2", table: 254 },
      { dst: "fd00:244:2::/64", gw: "fd00:10::9", table: 254, priority: 1024 },
      { dst: "10.244.3.0/24", gw: "192.168.10.9", table: 254, priority: 100 },
    ];
    const plan = planRoutes(desired, [], 254, foreign);
    assert.deepEqual(plan.add.map((r) => r.dst), ["10.244.3.0/24"]);
    assert.deepEqual(plan.blocked?.map((r) => r.dst), ["10.244.2.0/24", "fd00:244:2::/64"]);
    assert.deepEqual(plan.delete, []);
  });
});

describe("agent route delta from the last applied state", () => {
  test("same objects, equal values, a changed next hop, an added and a removed node", () => {
    const a = { family: 4 as const, dst: "10.244.2.0/24", gw: "192.168.10.2", node: "b" };
    const b = { family: 4 as const, dst: "10.244.3.0/24", gw: "192.168.10.3", node: "c" };
    const c = { family: 4 as const, dst: "10.244.4.0/24", gw: "192.168.10.4", node: "d" };
    const bMoved = { ...b, gw: "192.168.10.33" };
    const e = { family: 6 as const, dst: "fd00:244:5::/64", gw: "fd00:10::5", node: "e" };
    assert.deepEqual(planFromKnown([a, b], [a, b], 254), { add: [], delete: [] });
    assert.deepEqual(planFromKnown([{ ...a }, b], [a, b], 254), { add: [], delete: [] }, "a new object with the same values is no change");
    const plan = planFromKnown([a, bMoved, e], [a, b, c], 254);
    assert.deepEqual(plan.add, [bMoved, e]);
    assert.deepEqual(plan.delete, [{ dst: b.dst, gw: b.gw, table: 254 }, { dst: c.dst, gw: c.gw, table: 254 }]);
    // Nodes in a real desired state keep their route objects while nothing about them changes.
    const nodes = [node("self", ["10.244.1.0/24"]), node("b", ["10.244.2.0/24"], [["InternalIP", "192.168.10.2"]])];
    const d1 = desiredState(nodes, "self", LOCAL);
    const d2 = desiredState([...nodes], "self", LOCAL);
    assert.equal(d1.routes[0], d2.routes[0]);
  });
});

describe("agent conflist", () => {
  test("dual-stack routed ptp, tether-ipam ranges from the pod CIDRs, portmap chained, 1.0.0 + cniVersions", () => {
    const text = conflistText({ podCidrs: [parsePrefix("10.244.1.0/24")!, parsePrefix("fd00:244:1::/64")!], ipamDataDir: "/var/lib/x" });
    const list = JSON.parse(text) as Record<string, unknown>;
    assert.deepEqual(list, {
      cniVersion: "1.0.0",
      cniVersions: ["1.0.0", "1.1.0"],
      name: "tether",
      plugins: [
        {
          type: "tether",
          mode: "ptp",
          ipMasq: false,
          macspoofchk: true,
          ipspoofchk: true,
          ipam: {
            type: "tether-ipam",
            ranges: [[{ subnet: "10.244.1.0/24" }], [{ subnet: "fd00:244:1::/64" }]],
            routes: [{ dst: "0.0.0.0/0" }, { dst: "::/0" }],
            dataDir: "/var/lib/x",
          },
        },
        { type: "portmap", capabilities: { portMappings: true } },
      ],
    });
    assert.ok(text.endsWith("}\n"));
    assert.deepEqual(conflistCidrs(text), ["10.244.1.0/24", "fd00:244:1::/64"]);
    assert.equal(conflistText({ podCidrs: [parsePrefix("10.244.1.0/24")!] }), conflistText({ podCidrs: [parsePrefix("10.244.1.0/24")!] }), "same input, same bytes");
  });
  test("cniVersions: only those the chained portmap speaks too; 1.0.0 always", () => {
    assert.deepEqual(commonVersions(["0.3.1", "0.4.0", "1.0.0"]), ["1.0.0"]);
    assert.deepEqual(commonVersions(["1.0.0", "1.1.0"]), ["1.0.0", "1.1.0"]);
    assert.deepEqual(commonVersions(undefined), ["1.0.0", "1.1.0"]);
    const list = JSON.parse(conflistText({ podCidrs: [parsePrefix("10.1.0.0/24")!], versions: ["1.0.0"] })) as Record<string, unknown>;
    assert.equal(list["cniVersion"], "1.0.0");
    assert.deepEqual(list["cniVersions"], ["1.0.0"]);
  });
  test("no portmap in the bin dir: the conflist chains none (a runtime fails every ADD on a missing plugin), until one is installed", (t) => {
    const dir = fs.mkdtempSync(join(os.tmpdir(), "tether-chain-"));
    t.after(() => fs.rmSync(dir, { recursive: true, force: true }));
    const chain = new ChainVersions(dir);
    const plugins = (): unknown[] => {
      const versions = chain.get();
      const list = JSON.parse(conflistText({ podCidrs: [parsePrefix("10.1.0.0/24")!], versions, portmap: chain.portmap })) as { plugins: { type: string }[] };
      return list.plugins.map((p) => p.type);
    };
    assert.deepEqual(plugins(), ["tether"]);
    assert.match(chain.note ?? "", /portmap is missing: the conflist chains no portmap/);
    // A portmap appears (answers CNI VERSION up to 1.0.0): chained again, cniVersions narrowed to it.
    fs.writeFileSync(join(dir, "portmap"), '#!/bin/sh\necho \'{"cniVersion":"1.0.0","supportedVersions":["0.4.0","1.0.0"]}\'\n', { mode: 0o755 });
    assert.deepEqual(plugins(), ["tether", "portmap"]);
    assert.deepEqual(chain.get(), ["1.0.0"]);
  });
  test("configs a runtime would load before 10-tether.conflist (first by name wins) are named", () => {
    const dir = ["99-loopback.conf", "10-tether.conflist", "10-containerd-net.conflist", "05-cilium.conf", "00-old.json", "01-notes.txt", ".10-tether.conflist.tmp1", "20-x.conflist"];
    assert.deepEqual(configsBefore(dir), ["00-old.json", "05-cilium.conf", "10-containerd-net.conflist"]);
    assert.deepEqual(configsBefore(["10-tether.conflist", "11-after.conflist"]), []);
  });
  test("single stack: one range, one default route, mtu", () => {
    const list = JSON.parse(conflistText({ podCidrs: [parsePrefix("fd00:1::/64")!], mtu: 1450 })) as { plugins: Record<string, unknown>[] };
    assert.equal(list.plugins[0]?.["mtu"], 1450);
    assert.deepEqual((list.plugins[0]?.["ipam"] as Record<string, unknown>)["routes"], [{ dst: "::/0" }]);
    assert.throws(() => conflistText({ podCidrs: [] }));
    assert.equal(conflistCidrs("{not json"), undefined);
  });
});

describe("agent masquerade text", () => {
  const state = { local: { 4: ["10.244.1.0/24"], 6: ["fd00:244:1::/64"] }, cluster: { 4: ["10.244.1.0/24", "10.244.2.0/24"], 6: [] } };
  test("one transaction: table, four sets flushed and filled, the chain flushed and its two rules", () => {
    const text = masqueradeBatch(state);
    assert.match(text, /^add table inet tether-agent\n/);
    assert.match(text, /flush set inet tether-agent cluster4\nadd element inet tether-agent cluster4 \{ 10.244.1.0\/24, 10.244.2.0\/24 \}/);
    assert.match(text, /flush set inet tether-agent cluster6\nadd chain/);
    assert.match(text, /add rule inet tether-agent postrouting ip saddr @local4 ip daddr != @cluster4 ip daddr != 224.0.0.0\/4 masquerade comment "tether-agent:v4"/);
    assert.match(text, /ip6 saddr @local6 ip6 daddr != @cluster6 ip6 daddr != ff00::\/8 masquerade comment "tether-agent:v6"/);
    assert.throws(() => masqueradeBatch({ ...state, cluster: { 4: ["10.0.0.0/8; flush ruleset"], 6: [] } }));
  });
  test("nft -j output parses back to the same state; anything else is not ours", () => {
    const set = (name: string, elem?: unknown[]): unknown => ({ set: { family: "inet", name, table: "tether-agent", ...(elem ? { elem } : {}) } });
    const rule = (comment: string): unknown => ({ rule: { family: "inet", table: "tether-agent", chain: "postrouting", comment } });
    const doc = {
      nftables: [
        { metainfo: {} },
        set("local4", [{ prefix: { addr: "10.244.1.0", len: 24 } }]),
        set("local6", [{ prefix: { addr: "fd00:244:1::", len: 64 } }]),
        set("cluster4", [{ prefix: { addr: "10.244.2.0", len: 24 } }, { prefix: { addr: "10.244.1.0", len: 24 } }]),
        set("cluster6"),
        rule("tether-agent:v4"),
        rule("tether-agent:v6"),
      ],
    };
    const parsed = parseMasqueradeTable(JSON.stringify(doc));
    assert.ok(parsed);
    assert.ok(sameMasquerade(parsed, state));
    assert.equal(sameMasquerade(parsed, { ...state, cluster: { 4: ["10.244.1.0/24"], 6: [] } }), false);
    const oneRule = { nftables: doc.nftables.slice(0, -1) };
    assert.equal(parseMasqueradeTable(JSON.stringify(oneRule)), undefined);
    assert.equal(parseMasqueradeTable("not json"), undefined);
  });
  test("a change to a table that is ours is a delta of elements, nothing when equal", () => {
    assert.equal(masqueradeDelta(state, state), undefined);
    const next = { local: state.local, cluster: { 4: ["10.244.1.0/24", "10.244.3.0/24"], 6: ["fd00:244:3::/64"] } };
    assert.equal(
      masqueradeDelta(state, next),
      "delete element inet tether-agent cluster4 { 10.244.2.0/24 }\nadd element inet tether-agent cluster4 { 10.244.3.0/24 }\nadd element inet tether-agent cluster6 { fd00:244:3::/64 }\n",
    );
  });
});

describe("agent masquerade while this node is missing", () => {
  test("its pods keep being masqueraded from the CIDRs last applied, which stay cluster destinations; a new CIDR replaces them", () => {
    const other = node("b", ["10.244.2.0/24", "fd00:244:2::/64"], [["InternalIP", "192.168.10.2"], ["InternalIP", "fd00:10::2"]]);
    const me = node("self", ["10.244.1.0/24", "fd00:244:1::/64"]);
    const before = masqueradeWant(desiredState([me, other], "self", LOCAL), undefined);
    assert.deepEqual(before.local, { 4: ["10.244.1.0/24"], 6: ["fd00:244:1::/64"] });
    // The Node object deleted (kubelet re-registers it soon): nothing of this node's pods changes.
    const gone = desiredState([other], "self", LOCAL);
    assert.notEqual(gone.waiting, undefined);
    const during = masqueradeWant(gone, before);
    assert.deepEqual(during, before);
    assert.equal(sameMasquerade(during, before), true);
    // Back with another pod CIDR: that one, the old one dropped.
    const back = masqueradeWant(desiredState([node("self", ["10.244.9.0/24"]), other], "self", LOCAL), during);
    assert.deepEqual(back.local, { 4: ["10.244.9.0/24"], 6: [] });
    assert.deepEqual(back.cluster[4], ["10.244.2.0/24", "10.244.9.0/24"]);
    // Never had one (a new node waiting for its CIDR): nothing to keep.
    assert.deepEqual(masqueradeWant(gone, undefined).local, { 4: [], 6: [] });
  });
});
