/**
 * Bridge mode options end to end on the real kernel: each option changes what it should, read back
 * with `ip -j` / `bridge -j` in the namespaces the test creates (see bridge.test.ts for the set-up:
 * a "node" namespace tether runs in, container namespaces, a temp IPAM store, all removed at the end).
 */
import assert from "node:assert/strict";
import { describe, test, type TestContext } from "node:test";
import { cniWorld, errorJson, successEmpty, successJson, type CniWorld } from "../helpers/binary";
import { createNetns, netnsUnavailable, type TestNetns } from "../helpers/netns";

const skip = netnsUnavailable();
const TEST_TIMEOUT = 300_000;

const GW4 = "10.88.0.1";
const GW6 = "fd00:88::1";

interface Result {
  cniVersion: string;
  interfaces?: { name: string; mac?: string; sandbox?: string }[];
  ips?: { address: string; gateway?: string; interface?: number }[];
  routes?: { dst: string; gw?: string }[];
}

function world(t: TestContext): CniWorld {
  return cniWorld(t, { label: "bropt" });
}

function hostVethOf(res: Result): string {
  const name = res.interfaces?.[1]?.name;
  assert.ok(name !== undefined && /^veth[0-9a-f]+$/.test(name), `host veth in ${JSON.stringify(res.interfaces)}`);
  return name;
}

function addr(res: Result, fam: 4 | 6): string {
  const ip = res.ips?.find((i) => i.address.includes(":") === (fam === 6));
  assert.ok(ip, `an IPv${fam} address in ${JSON.stringify(res.ips)}`);
  return ip.address.split("/")[0]!;
}

function globalAddrs(ns: TestNetns, dev: string): string[] {
  return ns
    .addrs(dev)
    .filter((a) => a.scope === "global")
    .map((a) => `${a.local}/${a.prefixlen}`)
    .sort();
}

function withPrev(conf: Record<string, unknown>, prev: unknown): Record<string, unknown> {
  return { ...conf, prevResult: prev };
}

/** DEL succeeds and leaves no veth, no container interface and no reservation. */
function delAndVerify(w: CniWorld, c: TestNetns, conf: Record<string, unknown>, res?: Result): void {
  successEmpty(w.cni("DEL", c, res === undefined ? conf : withPrev(conf, res)));
  assertNothingLeft(w, c, "after DEL");
}

function assertNothingLeft(w: CniWorld, c: TestNetns, what: string): void {
  assert.deepEqual(w.nodeVeths(), [], `${what}: no veth in the node namespace`);
  assert.deepEqual(
    c.links().map((l) => l.ifname),
    ["lo"],
    `${what}: only lo in the container`,
  );
  assert.deepEqual([...w.reservations().keys()], [], `${what}: no reservation`);
}

/** Whether this kernel can turn on VLAN filtering on a bridge (CONFIG_BRIDGE_VLAN_FILTERING). */
function kernelHasBridgeVlanFiltering(): boolean {
  if (skip) return false;
  const ns = createNetns(undefined, "probe");
  try {
    return ns.tryExec(["ip", "link", "add", "name", "probe0", "type", "bridge", "vlan_filtering", "1"]).status === 0;
  } finally {
    ns.remove();
  }
}
const vlanFiltering = kernelHasBridgeVlanFiltering();

describe("bridge e2e options", { skip, timeout: TEST_TIMEOUT }, () => {
  test("defaults: bridge tether0, no gateway address, no promisc/hairpin/isolation/vlan filtering, DAD off", (t) => {
    const w = world(t);
    const c = w.container();
    const conf = w.conf("1.1.0");
    delete conf["bridge"];
    const res = successJson<Result>(w.cni("ADD", c, conf));
    assert.equal(res.interfaces?.[0]?.name, "tether0");
    const br = w.node.link("tether0");
    assert.equal(br.linkinfo?.info_kind, "bridge");
    assert.equal(br.linkinfo?.info_data?.["vlan_filtering"], 0);
    assert.ok(!br.flags.includes("PROMISC"), `bridge not promisc: ${br.flags.join(",")}`);
    assert.deepEqual(globalAddrs(w.node, "tether0"), [], "isGateway false: no address on the bridge");
    assert.equal(w.node.addrs("tether0").filter((a) => a.family === "inet").length, 0);
    const hv = hostVethOf(res);
    assert.equal(w.node.link(hv).master, "tether0");
    const port = w.node.bridgePort(hv);
    assert.equal(port["hairpin"], false);
    assert.equal(port["isolated"], false);
    const eth0 = c.link("eth0");
    assert.ok(eth0.flags.includes("UP"), "container interface up");
    assert.equal(eth0.mtu, 1500);
    assert.equal(c.sysctl("net/ipv6/conf/eth0/accept_dad"), "0");
    assert.equal(c.sysctl("net/ipv4/conf/eth0/arp_notify"), "1");
    const v6 = c.addrs("eth0").find((a) => a.family === "inet6" && a.scope === "global");
    assert.equal(v6?.nodad, true, `IPv6 address added with nodad: ${JSON.stringify(v6)}`);
    assert.ok(!c.routes(4).some((r) => r.dst === "default"), "no default route without isDefaultGateway");
    assert.ok(!c.routes(6).some((r) => r.dst === "default"), "no IPv6 default route without isDefaultGateway");
    assert.equal(res.routes, undefined);
    delAndVerify(w, c, conf, res);
  });

  test("mtu: set on the bridge it creates and on both veth ends", (t) => {
    const w = world(t);
    const c = w.container();
    const conf = w.conf("1.1.0", { mtu: 1400 });
    const res = successJson<Result>(w.cni("ADD", c, conf));
    assert.equal(w.node.link(w.bridge).mtu, 1400, "bridge");
    assert.equal(w.node.link(hostVethOf(res)).mtu, 1400, "host veth");
    assert.equal(c.link("eth0").mtu, 1400, "container veth");
    delAndVerify(w, c, conf, res);
  });

  test("mtu: an existing bridge keeps its own MTU; the veth ends get the configured one", (t) => {
    const w = world(t);
    const c = w.container();
    // An MTU set on the bridge after creation is the user's: the kernel then stops following the ports'.
    w.node.exec(["ip", "link", "add", "name", w.bridge, "type", "bridge"]);
    w.node.exec(["ip", "link", "set", "dev", w.bridge, "mtu", "1450"]);
    const conf = w.conf("1.1.0", { mtu: 1300 });
    const res = successJson<Result>(w.cni("ADD", c, conf));
    assert.equal(w.node.link(w.bridge).mtu, 1450, "bridge unchanged");
    assert.ok(w.node.link(w.bridge).flags.includes("UP"), "existing bridge brought up");
    assert.equal(w.node.link(hostVethOf(res)).mtu, 1300);
    assert.equal(c.link("eth0").mtu, 1300);
    delAndVerify(w, c, conf, res);
  });

  test("hairpinMode: hairpin on the host veth's bridge port", (t) => {
    const w = world(t);
    const c = w.container();
    const conf = w.conf("1.1.0", { hairpinMode: true });
    const res = successJson<Result>(w.cni("ADD", c, conf));
    const hv = hostVethOf(res);
    assert.equal(w.node.bridgePort(hv)["hairpin"], true);
    assert.equal(w.node.link(hv).linkinfo?.info_slave_data?.["hairpin"], true);
    assert.equal(w.node.bridgePort(hv)["isolated"], false);
    delAndVerify(w, c, conf, res);
  });

  test("promiscMode: the bridge is promiscuous", (t) => {
    const w = world(t);
    const c = w.container();
    const conf = w.conf("1.1.0", { promiscMode: true });
    const res = successJson<Result>(w.cni("ADD", c, conf));
    const br = w.node.link(w.bridge);
    assert.ok(br.flags.includes("PROMISC"), `flags ${br.flags.join(",")}`);
    assert.ok((br.promiscuity ?? 0) >= 1);
    assert.equal(w.node.bridgePort(hostVethOf(res))["hairpin"], false);
    delAndVerify(w, c, conf, res);
  });

  test("hairpinMode with promiscMode is refused (code 7) before anything is made", (t) => {
    const w = world(t);
    const c = w.container();
    const e = errorJson(w.cni("ADD", c, w.conf("1.1.0", { hairpinMode: true, promiscMode: true })));
    assert.equal(e.code, 7, e.msg);
    assert.match(e.msg, /hairpinMode/);
    assertNothingLeft(w, c, "after the refused ADD");
    assert.equal(w.node.hasLink(w.bridge), false, "no bridge made");
  });

  test("vlan on a kernel without bridge VLAN filtering: a clear error, nothing made or reserved", { skip: vlanFiltering ? "the kernel supports bridge VLAN filtering" : false }, (t) => {
    const w = world(t);
    const c = w.container();
    const e = errorJson(w.cni("ADD", c, w.conf("1.1.0", { vlan: 100 })));
    assert.match(e.msg, /VLAN filtering/i, JSON.stringify(e));
    assertNothingLeft(w, c, "after the failed ADD");
  });

  test("vlan: vlan_filtering on the bridge, the VID as PVID untagged on the host port; same-VLAN containers talk", { skip: vlanFiltering ? false : "this kernel has no bridge VLAN filtering (CONFIG_BRIDGE_VLAN_FILTERING)" }, (t) => {
    const w = world(t);
    const c1 = w.container("c1");
    const c2 = w.container("c2");
    const conf = w.conf("1.1.0", { vlan: 100 });
    const r1 = successJson<Result>(w.cni("ADD", c1, conf));
    const r2 = successJson<Result>(w.cni("ADD", c2, conf));
    assert.equal(w.node.link(w.bridge).linkinfo?.info_data?.["vlan_filtering"], 1);
    for (const r of [r1, r2]) {
      const vlans = w.node.bridgeVlans(hostVethOf(r));
      const v100 = vlans.find((v) => v.vlan === 100);
      assert.ok(v100, `VID 100 on the port: ${JSON.stringify(vlans)}`);
      assert.ok(v100.flags?.includes("PVID"), `PVID: ${JSON.stringify(vlans)}`);
      assert.ok(v100.flags?.includes("Egress Untagged"), `untagged: ${JSON.stringify(vlans)}`);
      assert.deepEqual(
        vlans.filter((v) => v.flags?.includes("PVID")).map((v) => v.vlan),
        [100],
        "the only PVID is 100",
      );
      assert.ok(!vlans.some((v) => v.vlan === 1), `the default VID 1 is removed from the port: ${JSON.stringify(vlans)}`);
    }
    assert.ok(c1.ping(addr(r2, 4)), "c1 -> c2 over IPv4 on VLAN 100");
    assert.ok(c2.ping(addr(r1, 6)), "c2 -> c1 over IPv6 on VLAN 100");
    successEmpty(w.cni("DEL", c1, withPrev(conf, r1)));
    delAndVerify(w, c2, conf, r2);
  });

  test("portIsolation: ports isolated; isolated containers cannot reach each other but reach the gateway", (t) => {
    const w = world(t);
    const c1 = w.container("c1");
    const c2 = w.container("c2");
    const conf = w.conf("1.1.0", { portIsolation: true, isGateway: true });
    const r1 = successJson<Result>(w.cni("ADD", c1, conf));
    const r2 = successJson<Result>(w.cni("ADD", c2, conf));
    for (const r of [r1, r2]) {
      assert.equal(w.node.bridgePort(hostVethOf(r))["isolated"], true);
      assert.equal(w.node.link(hostVethOf(r)).linkinfo?.info_slave_data?.["isolated"], true);
    }
    assert.ok(c1.ping(GW4), "isolated port reaches the bridge (gateway)");
    assert.ok(c2.ping(GW6), "isolated port reaches the bridge (IPv6 gateway)");
    assert.equal(c1.ping(addr(r2, 4), 1), false, "isolated ports do not reach each other");
    successEmpty(w.cni("DEL", c1, withPrev(conf, r1)));
    delAndVerify(w, c2, conf, r2);
  });

  test("enabledad true: accept_dad=1 and enhanced_dad=1 in the container, IPv6 address without nodad", (t) => {
    const w = world(t);
    const c = w.container();
    const conf = w.conf("1.1.0", { enabledad: true });
    const res = successJson<Result>(w.cni("ADD", c, conf));
    assert.equal(c.sysctl("net/ipv6/conf/eth0/accept_dad"), "1");
    assert.equal(c.sysctl("net/ipv6/conf/eth0/enhanced_dad"), "1");
    const v6 = c.addrs("eth0").find((a) => a.family === "inet6" && a.scope === "global");
    assert.ok(v6, "IPv6 address present");
    assert.notEqual(v6.nodad, true, `DAD runs: ${JSON.stringify(v6)}`);
    assert.equal(v6.dadfailed, undefined);
    delAndVerify(w, c, conf, res);
  });

  test(
    "enabledad true: ADD returns once DAD is over (no tentative address), as the reference does",
    (t) => {
      const w = world(t);
      const c = w.container();
      const conf = w.conf("1.1.0", { enabledad: true });
      const res = successJson<Result>(w.cni("ADD", c, conf));
      const tentative = c.addrs("eth0").filter((a) => a.family === "inet6" && a.scope === "global" && a.tentative === true);
      assert.deepEqual(tentative, [], "no tentative global address when ADD returns");
      delAndVerify(w, c, conf, res);
    },
  );

  test("enabledad false: accept_dad=0, IPv6 address with nodad", (t) => {
    const w = world(t);
    const c = w.container();
    const conf = w.conf("1.1.0", { enabledad: false });
    const res = successJson<Result>(w.cni("ADD", c, conf));
    assert.equal(c.sysctl("net/ipv6/conf/eth0/accept_dad"), "0");
    const v6 = c.addrs("eth0").find((a) => a.family === "inet6" && a.scope === "global");
    assert.equal(v6?.nodad, true, JSON.stringify(v6));
    assert.equal(v6?.tentative, undefined, "not tentative");
    delAndVerify(w, c, conf, res);
  });

  const macCases: { title: string; extra: Record<string, unknown>; args?: string; want: string }[] = [
    { title: "runtimeConfig.mac", extra: { runtimeConfig: { mac: "02:aa:00:00:00:01" } }, want: "02:aa:00:00:00:01" },
    { title: "args.cni.mac", extra: { args: { cni: { mac: "02:aa:00:00:00:02" } } }, want: "02:aa:00:00:00:02" },
    {
      title: "CNI_ARGS MAC= (IgnoreUnknown=1 with an unknown key)",
      extra: {},
      args: "IgnoreUnknown=1;FOO=bar;K8S_POD_NAME=p;MAC=02:aa:00:00:00:03",
      want: "02:aa:00:00:00:03",
    },
    {
      title: "all three: runtimeConfig.mac wins",
      extra: { runtimeConfig: { mac: "02:aa:00:00:00:04" }, args: { cni: { mac: "02:aa:00:00:00:05" } } },
      args: "IgnoreUnknown=1;MAC=02:aa:00:00:00:06",
      want: "02:aa:00:00:00:04",
    },
    {
      title: "args.cni.mac over CNI_ARGS",
      extra: { args: { cni: { mac: "02:aa:00:00:00:07" } } },
      args: "MAC=02:aa:00:00:00:08",
      want: "02:aa:00:00:00:07",
    },
  ];
  for (const m of macCases) {
    test(`MAC from ${m.title}`, (t) => {
      const w = world(t);
      const c = w.container();
      const conf = w.conf("1.1.0", m.extra);
      const res = successJson<Result>(w.cni("ADD", c, conf, m.args === undefined ? {} : { args: m.args }));
      assert.equal(c.link("eth0").address, m.want, "kernel");
      assert.equal(res.interfaces?.[2]?.mac, m.want, "result");
      successEmpty(w.cni("CHECK", c, withPrev(conf, res), m.args === undefined ? {} : { args: m.args }));
      delAndVerify(w, c, conf, res);
    });
  }

  test("disableContainerInterface: the container interface stays down (L2 only)", (t) => {
    const w = world(t);
    const c = w.container();
    const conf = { ...w.conf("1.1.0", { disableContainerInterface: true }), ipam: {} };
    const res = successJson<Result>(w.cni("ADD", c, conf));
    assert.equal(res.ips, undefined, "no ips");
    const eth0 = c.link("eth0");
    assert.ok(!eth0.flags.includes("UP"), `container interface down: ${eth0.flags.join(",")}`);
    assert.deepEqual(globalAddrs(c, "eth0"), []);
    const hv = w.node.link(hostVethOf(res));
    assert.equal(hv.master, w.bridge);
    assert.ok(hv.flags.includes("UP"), "host end up");
    successEmpty(w.cni("DEL", c, withPrev(conf, res)));
    assert.deepEqual(w.nodeVeths(), []);
    assert.equal(c.hasLink("eth0"), false);
  });

  test("L2 only without disableContainerInterface: the container interface is up, no address", (t) => {
    const w = world(t);
    const c = w.container();
    const conf = { ...w.conf("1.1.0"), ipam: {} };
    const res = successJson<Result>(w.cni("ADD", c, conf));
    assert.equal(res.ips, undefined);
    assert.ok(c.link("eth0").flags.includes("UP"));
    assert.deepEqual(globalAddrs(c, "eth0"), []);
    successEmpty(w.cni("DEL", c, withPrev(conf, res)));
    assert.deepEqual(w.nodeVeths(), []);
  });

  test("disableContainerInterface with an IPAM type is refused (code 7) and makes nothing", (t) => {
    const w = world(t);
    const c = w.container();
    const e = errorJson(w.cni("ADD", c, w.conf("1.1.0", { disableContainerInterface: true })));
    assert.equal(e.code, 7, e.msg);
    assert.match(e.msg, /disableContainerInterface/);
    assertNothingLeft(w, c, "after the refused ADD");
  });

  test("isDefaultGateway: default routes via the gateways, gateways on the bridge, forwarding on", (t) => {
    const w = world(t);
    const c = w.container();
    const conf = w.conf("1.1.0", { isDefaultGateway: true });
    const res = successJson<Result>(w.cni("ADD", c, conf));
    assert.ok(
      c.routes(4).some((r) => r.dst === "default" && r.gateway === GW4 && r.dev === "eth0"),
      JSON.stringify(c.routes(4)),
    );
    assert.ok(
      c.routes(6).some((r) => r.dst === "default" && r.gateway === GW6 && r.dev === "eth0"),
      JSON.stringify(c.routes(6)),
    );
    assert.deepEqual(
      (res.routes ?? []).map((r) => `${r.dst} ${r.gw}`).sort(),
      [`0.0.0.0/0 ${GW4}`, `::/0 ${GW6}`],
    );
    assert.deepEqual(globalAddrs(w.node, w.bridge), [`${GW4}/24`, `${GW6}/64`], "isDefaultGateway implies isGateway");
    assert.equal(w.node.sysctl("net/ipv4/ip_forward"), "1");
    assert.equal(w.node.sysctl("net/ipv6/conf/all/forwarding"), "1");
    assert.ok(c.ping(GW4) && c.ping(GW6), "gateways answer");
    delAndVerify(w, c, conf, res);
  });

  test("isDefaultGateway with an IPAM default route: that route is kept, none added", (t) => {
    const w = world(t);
    const c = w.container();
    const conf = w.conf("1.1.0", { isDefaultGateway: true }, { routes: [{ dst: "0.0.0.0/0", gw: "10.88.0.254" }] });
    const res = successJson<Result>(w.cni("ADD", c, conf));
    const defaults4 = c.routes(4).filter((r) => r.dst === "default");
    assert.deepEqual(
      defaults4.map((r) => r.gateway),
      ["10.88.0.254"],
      "only the IPAM's IPv4 default route",
    );
    assert.ok(c.routes(6).some((r) => r.dst === "default" && r.gateway === GW6));
    assert.deepEqual((res.routes ?? []).map((r) => `${r.dst} ${r.gw}`).sort(), [`0.0.0.0/0 10.88.0.254`, `::/0 ${GW6}`]);
    delAndVerify(w, c, conf, res);
  });

  test("isDefaultGateway with an IPAM default route without a gateway: it goes via the range's gateway, once", (t) => {
    const w = world(t);
    const c = w.container();
    const conf = w.conf("1.1.0", { isDefaultGateway: true }, { routes: [{ dst: "0.0.0.0/0" }] });
    const res = successJson<Result>(w.cni("ADD", c, conf));
    const defaults4 = c.routes(4).filter((r) => r.dst === "default");
    assert.deepEqual(defaults4.map((r) => r.gateway), [GW4], "one IPv4 default route, via the gateway");
    assert.ok(c.routes(6).some((r) => r.dst === "default" && r.gateway === GW6));
    delAndVerify(w, c, conf, res);
  });

  test("an IPAM route in another table (CNI 1.1 route.table): installed there, and CHECK finds it", (t) => {
    const w = world(t);
    const c = w.container();
    const conf = w.conf("1.1.0", { isGateway: true }, { routes: [{ dst: "10.50.0.0/16", table: 100 }] });
    const res = successJson<Result>(w.cni("ADD", c, conf));
    assert.ok(c.routes(4, "100").some((r) => r.dst === "10.50.0.0/16" && r.gateway === GW4), JSON.stringify(c.routes(4, "100")));
    assert.ok(!c.routes(4).some((r) => r.dst === "10.50.0.0/16"), "not in the main table");
    successEmpty(w.cni("CHECK", c, withPrev(conf, res)));
    c.exec(["ip", "route", "del", "10.50.0.0/16", "table", "100"]);
    const e = errorJson(w.cni("CHECK", c, withPrev(conf, res)));
    assert.match(e.msg, /10\.50\.0\.0\/16/);
    delAndVerify(w, c, conf, res);
  });

  test("forceAddress: a foreign IPv4 address on the bridge fails the ADD without it and is replaced with it", (t) => {
    const w = world(t);
    const c = w.container();
    w.node.exec(["ip", "link", "add", "name", w.bridge, "type", "bridge"]);
    w.node.exec(["ip", "addr", "add", "192.168.99.1/24", "dev", w.bridge]);

    const e = errorJson(w.cni("ADD", c, w.conf("1.1.0", { isGateway: true })));
    assert.match(e.msg, /192\.168\.99\.1\/24/, `names the foreign address: ${JSON.stringify(e)}`);
    assert.match(`${e.msg} ${e.details ?? ""}`, /forceAddress/, `tells how to fix it: ${JSON.stringify(e)}`);
    assertNothingLeft(w, c, "after the refused ADD (rolled back)");
    assert.ok(globalAddrs(w.node, w.bridge).includes("192.168.99.1/24"), "foreign address untouched without forceAddress");
    successEmpty(w.cni("DEL", c, w.conf("1.1.0", { isGateway: true })));

    const conf = w.conf("1.1.0", { isGateway: true, forceAddress: true });
    const res = successJson<Result>(w.cni("ADD", c, conf));
    assert.deepEqual(
      w.node.addrs(w.bridge).filter((a) => a.family === "inet").map((a) => `${a.local}/${a.prefixlen}`),
      [`${GW4}/24`],
      "the foreign address replaced by the gateway",
    );
    assert.ok(c.ping(GW4));
    delAndVerify(w, c, conf, res);
  });

  test("a non-bridge link with the bridge's name: clear error, nothing made or reserved", (t) => {
    const w = world(t);
    const c = w.container();
    w.node.exec(["ip", "link", "add", "name", w.bridge, "type", "ifb"]);
    const e = errorJson(w.cni("ADD", c, w.conf("1.1.0", { isGateway: true })));
    assert.ok(e.msg.includes(w.bridge), `names the link: ${JSON.stringify(e)}`);
    assert.match(e.msg, /bridge/i, `says it is not a bridge: ${JSON.stringify(e)}`);
    assertNothingLeft(w, c, "after the failed ADD");
    assert.equal(w.node.link(w.bridge).linkinfo?.info_kind, "ifb", "the existing link is untouched");
  });

  test("CNI_IFNAME already in the container: code 100, nothing reserved, the existing link untouched", (t) => {
    const w = world(t);
    const c = w.container();
    c.exec(["ip", "link", "add", "name", "eth0", "type", "ifb"]);
    const e = errorJson(w.cni("ADD", c, w.conf("1.1.0", { isGateway: true })));
    assert.equal(e.code, 100, e.msg);
    assert.match(e.msg, /eth0/);
    assert.deepEqual(w.nodeVeths(), []);
    assert.deepEqual([...w.reservations().keys()], [], "nothing reserved");
    assert.equal(c.link("eth0").linkinfo?.info_kind, "ifb");
  });
});
