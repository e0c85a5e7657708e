/**
 * CNI GC end to end: ten attachments, GC keeping four; the other six leave no reservation, firewall
 * rule, host veth, host route or container interface, and the four still reach their gateway.
 */
import assert from "node:assert/strict";
import { describe, test } from "node:test";
import { attachmentTag } from "../../src/firewall/key";
import { cniWorld, runCni, successEmpty, successJson } from "../helpers/binary";
import { netnsUnavailable, type TestNetns } from "../helpers/netns";

const skip = netnsUnavailable();

interface NftRuleJson {
  rule?: { comment?: string };
}

function ruleComments(node: TestNetns): string[] {
  const doc = JSON.parse(node.exec(["nft", "-j", "list", "ruleset"])) as { nftables: NftRuleJson[] };
  return doc.nftables.flatMap((i) => (i.rule?.comment !== undefined ? [i.rule.comment] : []));
}

function aliases(node: TestNetns): string[] {
  return node.links().flatMap((l) => {
    const alias = (l as unknown as { ifalias?: string }).ifalias;
    return alias !== undefined ? [alias] : [];
  });
}

for (const [mode, octet] of [["bridge", 61], ["ptp", 62]] as const) {
  describe(`GC, ${mode} mode`, { skip, timeout: 600_000 }, () => {
    test("attach 10, keep 4: the other 6 leave nothing behind, the 4 still work", async (t) => {
      const w = cniWorld(t, { label: `gc${mode}`, ranges: [[{ subnet: `10.${octet}.0.0/24` }]] });
      const conf = w.conf("1.1.0", { mode, isGateway: true, ipMasq: true, ipspoofchk: true, macspoofchk: true });
      const containers = Array.from({ length: 10 }, (_, i) => w.container(`g${i}`));
      const addresses = containers.map((c) => {
        const r = successJson<{ ips: { address: string }[] }>(w.cni("ADD", c, conf));
        return r.ips[0]!.address.split("/")[0]!;
      });
      const keyOf = (c: TestNetns) => ({ network: w.network, containerId: w.containerId(c), ifname: "eth0" });
      const valid = containers.slice(0, 4);
      const stale = containers.slice(4);
      for (const c of containers) assert.ok(aliases(w.node).some((a) => a.endsWith(attachmentTag(keyOf(c)))), "ADD labels the host veth");

      const list = valid.map((c) => ({ containerID: w.containerId(c), ifname: "eth0" }));
      const gc = runCni({
        command: "GC",
        containerId: "",
        netns: "",
        ifname: "",
        config: { ...conf, "cni.dev/valid-attachments": list, "cni.dev/attachments": list },
        inNetns: w.node.name,
      });
      successEmpty(gc);

      const held = [...w.reservations().values()].map((v) => v.split("\r\n")[0]);
      assert.deepEqual(held.sort(), valid.map((c) => w.containerId(c)).sort(), "only the valid attachments keep addresses");
      const comments = ruleComments(w.node);
      const staleTags = stale.map((c) => attachmentTag(keyOf(c)));
      assert.ok(!comments.some((c) => staleTags.some((tag) => c.endsWith(tag))), "no rule of a stale attachment");
      for (const c of valid) assert.ok(comments.some((x) => x.endsWith(attachmentTag(keyOf(c)))), "the valid attachments keep their rules");
      assert.ok(!aliases(w.node).some((a) => staleTags.some((tag) => a.endsWith(tag))), "no host veth of a stale attachment");
      assert.equal(w.nodeVeths().length, 4);
      for (const c of stale) assert.equal(c.hasLink("eth0"), false, "the stale container interface went with its host veth");
      const hostRoutes = w.node.routes(4).map((r) => r.dst);
      for (const a of addresses.slice(4)) assert.ok(!hostRoutes.includes(a), `no host route to ${a}`);
      for (const c of valid) assert.ok(c.ping(`10.${octet}.0.1`, 5), `${c.name} still reaches its gateway`);

      // Without a list nothing is deleted; an empty list makes everything of the network stale.
      successEmpty(runCni({ command: "GC", containerId: "", netns: "", ifname: "", config: conf, inNetns: w.node.name }));
      assert.equal(w.reservations().size, 4);
      successEmpty(runCni({ command: "GC", containerId: "", netns: "", ifname: "", config: { ...conf, "cni.dev/valid-attachments": [] }, inNetns: w.node.name }));
      assert.equal(w.reservations().size, 0);
      assert.equal(w.nodeVeths().length, 0);
      assert.ok(!ruleComments(w.node).some((c) => c.includes(":")), "no tether rule left");
    });
  });
}
