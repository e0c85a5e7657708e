/**
 * ipMasq end to end, in both modes and with both backends, inside namespaces the test creates: an
 * "outside" namespace hangs off the node by a veth and has no route back to the containers, so a
 * container reaches it only when its traffic is masqueraded. Also: DEL (even without a netns or
 * prevResult) removes exactly that attachment's rules, and concurrent ADDs lose none.
 */
import assert from "node:assert/strict";
import { describe, test, type TestContext } from "node:test";
import { ruleComment } from "../../src/firewall/key";
import { cniWorld, successEmpty, successJson, type CniWorld } from "../helpers/binary";
import { createNetns, netnsUnavailable, type TestNetns } from "../helpers/netns";

const skip = netnsUnavailable();
const TIMEOUT = 600_000;
const OUTSIDE = "192.168.223.2";

interface Result {
  interfaces?: { name: string }[];
  ips?: { address: string }[];
}

function setup(t: TestContext, label: string): { w: CniWorld; outside: TestNetns } {
  const w = cniWorld(t, { ranges: [[{ subnet: "10.93.0.0/24" }]], label });
  const outside = createNetns(t, "outside");
  w.node.exec(["ip", "link", "add", "uplink0", "type", "veth", "peer", "name", "ext0", "netns", outside.name]);
  w.node.exec(["ip", "addr", "add", "192.168.223.1/24", "dev", "uplink0"]);
  w.node.exec(["ip", "link", "set", "uplink0", "up"]);
  outside.exec(["ip", "addr", "add", `${OUTSIDE}/24`, "dev", "ext0"]);
  outside.exec(["ip", "link", "set", "ext0", "up"]);
  return { w, outside };
}

function conf(w: CniWorld, mode: string, extra: Record<string, unknown>): Record<string, unknown> {
  // bridge: the default route from isDefaultGateway; ptp: from the IPAM's routes
  if (mode === "bridge") return w.conf("1.1.0", { mode, isGateway: true, isDefaultGateway: true, ...extra });
  return w.conf("1.1.0", { mode, ...extra }, { routes: [{ dst: "0.0.0.0/0" }] });
}

function rulesOf(w: CniWorld): string {
  return w.node.exec(["nft", "list", "ruleset"]) + w.node.exec(["iptables-save", "-t", "nat"]);
}

function comment(w: CniWorld, c: TestNetns): string {
  return ruleComment({ network: w.network, containerId: w.containerId(c), ifname: "eth0" });
}

describe("ipMasq", { skip, timeout: TIMEOUT }, () => {
  for (const mode of ["bridge", "ptp"] as const) {
    for (const backend of ["nftables", "iptables", undefined] as const) {
      test(`${mode} mode, backend ${backend ?? "default (nftables)"}: the outside is reached only through masquerade; DEL removes the rules`, (t) => {
        const { w } = setup(t, `masq-${mode}`);
        const [plain, masq] = [w.container("plain"), w.container("masq")];
        const plainConf = conf(w, mode, {});
        const masqConf = conf(w, mode, { ipMasq: true, ...(backend ? { ipMasqBackend: backend } : {}) });
        const rp = successJson<Result>(w.cni("ADD", plain, plainConf));
        const rm = successJson<Result>(w.cni("ADD", masq, masqConf));
        assert.equal(plain.ping(OUTSIDE, 2), false, "without ipMasq the outside cannot answer");
        assert.ok(masq.ping(OUTSIDE, 5), "with ipMasq the outside answers");
        assert.ok(masq.ping("10.93.0.2", 5), "the other container is still reached directly");
        const rules = rulesOf(w);
        assert.ok(rules.includes(comment(w, masq)), rules);
        if (backend === "iptables") assert.match(w.node.exec(["iptables-save", "-t", "nat"]), /-j MASQUERADE/);
        else assert.match(w.node.exec(["nft", "list", "table", "inet", "tether"]), /ip daddr != 224\.0\.0\.0\/4 masquerade/);
        successEmpty(w.cni("CHECK", masq, { ...masqConf, prevResult: rm }));
        successEmpty(w.cni("DEL", masq, masqConf));
        successEmpty(w.cni("DEL", plain, { ...plainConf, prevResult: rp }));
        assert.doesNotMatch(rulesOf(w), /tether|TETHER-/);
      });
    }
  }

  test("DEL with an empty CNI_NETNS and no prevResult removes exactly that attachment's rules", (t) => {
    const { w } = setup(t, "masq-del");
    const [a, b] = [w.container("a"), w.container("b")];
    for (const backend of ["nftables", "iptables"] as const) {
      const cf = conf(w, "bridge", { ipMasq: true, ipMasqBackend: backend });
      successJson(w.cni("ADD", a, cf));
      successJson(w.cni("ADD", b, cf));
      successEmpty(w.cni("DEL", "", cf, { containerId: w.containerId(a) }));
      const rules = rulesOf(w);
      assert.ok(!rules.includes(comment(w, a)), `${backend}: a's rules gone`);
      assert.ok(rules.includes(comment(w, b)), `${backend}: b's rules stay`);
      assert.ok(b.ping(OUTSIDE, 5), `${backend}: b still masqueraded`);
      successEmpty(w.cni("DEL", a, cf));
      successEmpty(w.cni("DEL", b, cf));
      assert.doesNotMatch(rulesOf(w), /tether|TETHER-/);
    }
  });

  test("concurrent ADDs never lose a rule; concurrent DELs leave none", async (t) => {
    const { w } = setup(t, "masq-par");
    const cf = conf(w, "ptp", { ipMasq: true });
    const cs = Array.from({ length: 6 }, (_, i) => w.container(`m${i}`));
    const adds = await Promise.all(cs.map((c) => w.cniAsync("ADD", c, cf)));
    for (const o of adds) successJson(o);
    const rules = rulesOf(w);
    for (const c of cs) assert.ok(rules.includes(comment(w, c)), `rule of ${c.name}`);
    assert.equal(rules.split("\n").filter((l) => / masquerade comment "tether:/.test(l)).length, cs.length);
    for (const c of cs) assert.ok(c.ping(OUTSIDE, 5), `${c.name} reaches the outside`);
    const dels = await Promise.all(cs.map((c) => w.cniAsync("DEL", c, cf)));
    for (const o of dels) successEmpty(o);
    assert.doesNotMatch(rulesOf(w), /tether|TETHER-/);
  });
});
