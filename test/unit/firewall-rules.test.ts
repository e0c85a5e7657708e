/** The firewall's pure parts: keys, nft and iptables rule text, parsing what the tools print. */
import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { chooseMasqBackend } from "../../src/firewall/index";
import { iptablesMasqueradeRestore, iptablesTeardownRestore, parseIptablesSave } from "../../src/firewall/iptables";
import { attachmentTag, iptablesChain, networkTag, parseRuleComment, ruleComment } from "../../src/firewall/key";
import { nftDeleteBatch, nftMasqueradeBatch, nftSpoofCheckBatch, parseNftRules } from "../../src/firewall/nftables";
import { masqueradeSources } from "../../src/firewall/sources";

const KEY = { network: "net1", containerId: "c1", ifname: "eth0" };

describe("firewall keys", () => {
  it("are stable, distinct per network, container and ifname, and fit the tools' limits", () => {
    const comment = ruleComment(KEY);
    assert.equal(comment, ruleComment({ ...KEY }));
    assert.match(comment, /^tether:[0-9a-f]{8}:[0-9a-f]{24}$/);
    const others = [
      { ...KEY, network: "net2" },
      { ...KEY, containerId: "c2" },
      { ...KEY, ifname: "eth1" },
      // no ambiguity from concatenation
      { network: "net1c", containerId: "1", ifname: "eth0" },
    ];
    for (const o of others) assert.notEqual(attachmentTag(o), attachmentTag(KEY), JSON.stringify(o));
    assert.equal(parseRuleComment(comment)?.network, networkTag("net1"));
    assert.equal(parseRuleComment(comment)?.attachment, attachmentTag(KEY));
    assert.equal(parseRuleComment("cni-bridge something"), undefined);
    assert.ok(iptablesChain(KEY).length <= 28, iptablesChain(KEY));
    assert.match(iptablesChain(KEY), /^TETHER-[0-9a-f]{21}$/);
  });
});

describe("masquerade sources", () => {
  it("splits CIDRs into address and subnet, normalised", () => {
    assert.deepEqual(masqueradeSources(["10.88.0.5/24", "fd00:88:0:0::5/64"]), [
      { family: 4, address: "10.88.0.5", subnet: "10.88.0.0/24" },
      { family: 6, address: "fd00:88::5", subnet: "fd00:88::/64" },
    ]);
    assert.throws(() => masqueradeSources(["10.88.0.5"]), /prefix length/);
    assert.throws(() => masqueradeSources(["10.88.0.5/24; drop"]), /prefix length/);
  });

  it("backend: the configured one, else nftables when nft works", () => {
    assert.equal(chooseMasqBackend("iptables", () => true), "iptables");
    assert.equal(chooseMasqBackend(undefined, () => true), "nftables");
    assert.equal(chooseMasqBackend(undefined, () => false), "iptables");
  });
});

describe("nftables rule text", () => {
  it("masquerade: one rule per address, not to its subnet, not to multicast, with the key's comment", () => {
    const batch = nftMasqueradeBatch("tether:aaaaaaaa:bbbbbbbbbbbbbbbbbbbbbbbb", masqueradeSources(["10.88.0.5/24", "fd00:88::5/64"]));
    assert.equal(
      batch,
      [
        "add table inet tether",
        "add chain inet tether postrouting { type nat hook postrouting priority srcnat; policy accept; }",
        'add rule inet tether postrouting ip saddr 10.88.0.5 ip daddr != 10.88.0.0/24 ip daddr != 224.0.0.0/4 masquerade comment "tether:aaaaaaaa:bbbbbbbbbbbbbbbbbbbbbbbb"',
        'add rule inet tether postrouting ip6 saddr fd00:88::5 ip6 daddr != fd00:88::/64 ip6 daddr != ff00::/8 masquerade comment "tether:aaaaaaaa:bbbbbbbbbbbbbbbbbbbbbbbb"',
        "",
      ].join("\n"),
    );
  });

  it("spoof checks on a bridge port: MAC, addresses, ARP, VLAN tags", () => {
    const batch = nftSpoofCheckBatch("tether:x", { family: "bridge", hostIfname: "veth0123abcd", mac: "0A:00:00:00:00:02", addresses: ["10.88.0.5/24"] });
    const lines = batch.trim().split("\n");
    assert.equal(lines[0], "add table bridge tether");
    assert.match(lines[1]!, /^add chain bridge tether spoofcheck \{ type filter hook prerouting priority -300; policy accept; \}$/);
    const rules = lines.slice(2).map((l) => l.replace('add rule bridge tether spoofcheck iifname "veth0123abcd" ', ""));
    assert.deepEqual(rules, [
      'ether saddr != 0a:00:00:00:00:02 drop comment "tether:x"',
      'ether type { 8021q, 8021ad } drop comment "tether:x"',
      'ip saddr != { 10.88.0.5 } drop comment "tether:x"',
      'arp saddr ip != { 10.88.0.5 } drop comment "tether:x"',
      'ether type ip6 drop comment "tether:x"', // no IPv6 address: no IPv6 at all
    ]);
  });

  it("spoof checks on a routed veth (inet): IPv6 keeps link-local and unspecified sources", () => {
    const batch = nftSpoofCheckBatch("tether:x", { family: "inet", hostIfname: "vethx", addresses: ["fd00::5/64"] });
    assert.match(batch, /iifname "vethx" ip6 saddr != \{ fd00::5, fe80::\/10, :: \} drop/);
    assert.match(batch, /iifname "vethx" meta nfproto ipv4 drop/);
    assert.doesNotMatch(batch, /ether saddr/, "no MAC rule without macspoofchk");
    assert.doesNotMatch(batch, /arp/);
  });

  it("refuses text that would change the rule's meaning", () => {
    assert.throws(() => nftSpoofCheckBatch("tether:x", { family: "inet", hostIfname: 'x" drop', mac: undefined }), /interface name/);
    assert.throws(() => nftSpoofCheckBatch("tether:x", { family: "inet", hostIfname: "vethx", mac: "0a:00:00:00:00:02 accept" }), /MAC/);
    assert.throws(() => nftMasqueradeBatch('x" accept', masqueradeSources(["10.88.0.5/24"])), /comment/);
  });

  it("parses nft -j -a output and deletes by handle, or the whole table once nothing else is left", () => {
    const json = JSON.stringify({
      nftables: [
        { metainfo: { version: "1.0.6" } },
        { table: { family: "inet", name: "tether", handle: 1 } },
        { chain: { family: "inet", table: "tether", name: "postrouting", handle: 1 } },
        { rule: { family: "inet", table: "tether", chain: "postrouting", handle: 3, comment: "tether:a", expr: [] } },
        { rule: { family: "inet", table: "tether", chain: "postrouting", handle: 4, comment: "tether:b", expr: [] } },
        { rule: { family: "inet", table: "tether", chain: "spoofcheck", handle: 7, expr: [] } },
      ],
    });
    const rules = parseNftRules(json);
    assert.deepEqual(rules, [
      { family: "inet", chain: "postrouting", handle: 3, comment: "tether:a" },
      { family: "inet", chain: "postrouting", handle: 4, comment: "tether:b" },
      { family: "inet", chain: "spoofcheck", handle: 7 },
    ]);
    const a = rules.filter((r) => r.comment === "tether:a");
    assert.equal(nftDeleteBatch("inet", rules, a), "delete rule inet tether postrouting handle 3\n");
    assert.equal(nftDeleteBatch("inet", rules, []), undefined);
    assert.equal(nftDeleteBatch("inet", rules, rules), "delete table inet tether\n");
    assert.equal(nftDeleteBatch("inet", [], []), "delete table inet tether\n");
  });
});

describe("iptables rule text", () => {
  const chain = "TETHER-0123456789abcdef01234";
  it("one restore transaction: the attachment's chain and a POSTROUTING jump per address", () => {
    const text = iptablesMasqueradeRestore(chain, "tether:x", masqueradeSources(["10.88.0.5/24"]));
    assert.equal(
      text,
      [
        "*nat",
        `:${chain} - [0:0]`,
        `-A ${chain} -s 10.88.0.5/32 -d 10.88.0.0/24 -m comment --comment "tether:x" -j ACCEPT`,
        `-A ${chain} -d 224.0.0.0/4 -m comment --comment "tether:x" -j ACCEPT`,
        `-A ${chain} -m comment --comment "tether:x" -j MASQUERADE`,
        `-A POSTROUTING -s 10.88.0.5/32 -m comment --comment "tether:x" -j ${chain}`,
        "COMMIT",
        "",
      ].join("\n"),
    );
    assert.throws(() => iptablesMasqueradeRestore(chain, "tether:x", masqueradeSources(["10.88.0.5/24", "fd00::5/64"])), /separately/);
  });

  it("teardown from iptables-save: jumps deleted, the chain flushed and removed; others untouched", () => {
    const save = [
      "# Generated by iptables-save",
      "*filter",
      ":INPUT ACCEPT [0:0]",
      `-A INPUT -j ${chain}`,
      "COMMIT",
      "*nat",
      ":POSTROUTING ACCEPT [0:0]",
      `:${chain} - [0:0]`,
      ":TETHER-other - [0:0]",
      `-A POSTROUTING -s 10.88.0.5/32 -m comment --comment "tether:x" -j ${chain}`,
      '-A POSTROUTING -s 10.88.0.6/32 -m comment --comment "tether:y" -j TETHER-other',
      `-A ${chain} -m comment --comment "tether:x" -j MASQUERADE`,
      "COMMIT",
    ].join("\n");
    const saved = parseIptablesSave(save);
    assert.deepEqual(saved.chains, ["POSTROUTING", chain, "TETHER-other"]);
    assert.equal(saved.rules[0]?.comment, "tether:x");
    assert.equal(saved.rules[0]?.target, chain);
    assert.equal(
      iptablesTeardownRestore(saved, new Set([chain])),
      ["*nat", `-D POSTROUTING -s 10.88.0.5/32 -m comment --comment "tether:x" -j ${chain}`, `-F ${chain}`, `-X ${chain}`, "COMMIT", ""].join("\n"),
    );
    assert.equal(iptablesTeardownRestore(saved, new Set(["TETHER-gone"])), undefined);
  });
});
