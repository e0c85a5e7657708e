/**
 * ptp mode end to end on the real kernel: tether runs in a node namespace the test creates, against
 * container namespaces it creates; everything is removed when each test ends. Asserted: what the
 * kernel shows (`ip -j`), reachability, CHECK, the DEL guarantees, and rollback of a failed ADD.
 */
import assert from "node:assert/strict";
import { describe, test, type TestContext } from "node:test";
import { cniWorld, errorJson, successEmpty, successJson, type CniWorld } from "../helpers/binary";
import { netnsUnavailable, type TestNetns } from "../helpers/netns";

const skip = netnsUnavailable();
const TIMEOUT = 600_000;

interface Result {
  cniVersion: string;
  interfaces?: { name: string; mac?: string; sandbox?: string }[];
  ips?: { address: string; gateway?: string; interface?: number }[];
  routes?: { dst: string; gw?: string }[];
  dns?: Record<string, unknown>;
}

function world(t: TestContext): CniWorld {
  return cniWorld(t, { ranges: [[{ subnet: "10.92.0.0/24" }], [{ subnet: "fd00:92::/64" }]], label: "ptp" });
}

function ptpConf(w: CniWorld, version: string, extra: Record<string, unknown> = {}): Record<string, unknown> {
  return w.conf(version, { mode: "ptp", mtu: 1400, ...extra }, { routes: [{ dst: "0.0.0.0/0" }, { dst: "::/0" }] });
}

function add(w: CniWorld, c: TestNetns, conf: Record<string, unknown>): Result {
  return successJson<Result>(w.cni("ADD", c, conf));
}

describe("ptp mode", { skip, timeout: TIMEOUT }, () => {
  test("ADD: result = kernel, point-to-point routes, gateway on every host veth, containers reach each other and the node", (t) => {
    const w = world(t);
    const [c1, c2] = [w.container("p1"), w.container("p2")];
    const conf = ptpConf(w, "1.1.0");
    const r1 = add(w, c1, conf);
    const r2 = add(w, c2, conf);

    assert.equal(r1.interfaces?.length, 2);
    const [hv, ct] = r1.interfaces;
    assert.equal(ct!.name, "eth0");
    assert.equal(ct!.sandbox, c1.path);
    assert.equal(hv!.sandbox, undefined);
    const host = w.node.link(hv!.name);
    const eth0 = c1.link("eth0");
    assert.equal(host.linkinfo?.info_kind, "veth");
    assert.equal(host.master, undefined, "no bridge in ptp mode");
    assert.equal(eth0.link_index, host.ifindex);
    assert.equal(hv!.mac, host.address);
    assert.equal(ct!.mac, eth0.address);
    assert.equal(eth0.mtu, 1400);
    assert.equal(host.mtu, 1400);
    assert.deepEqual(r1.ips, [
      { address: "10.92.0.2/24", gateway: "10.92.0.1", interface: 1 },
      { address: "fd00:92::2/64", gateway: "fd00:92::1", interface: 1 },
    ]);

    const v4 = c1.routes(4);
    assert.ok(v4.some((r) => r.dst === "10.92.0.1" && r.scope === "link" && r.dev === "eth0"), JSON.stringify(v4));
    assert.ok(v4.some((r) => r.dst === "10.92.0.0/24" && r.gateway === "10.92.0.1"), JSON.stringify(v4));
    assert.ok(v4.some((r) => r.dst === "default" && r.gateway === "10.92.0.1"), JSON.stringify(v4));
    assert.ok(!v4.some((r) => r.dst === "10.92.0.0/24" && r.gateway === undefined), "no on-link subnet route");
    const v6 = c1.routes(6);
    assert.ok(v6.some((r) => r.dst === "fd00:92::1" && r.dev === "eth0"), JSON.stringify(v6));
    assert.ok(v6.some((r) => r.dst === "fd00:92::/64" && r.gateway === "fd00:92::1"), JSON.stringify(v6));

    for (const [r, c] of [[r1, c1], [r2, c2]] as const) {
      const veth = r.interfaces![0]!.name;
      const addrs = w.node.addrs(veth).filter((a) => a.scope === "global").map((a) => `${a.local}/${a.prefixlen}`);
      assert.deepEqual(addrs.sort(), ["10.92.0.1/32", "fd00:92::1/128"], `gateway on ${veth}`);
      const ip4 = r.ips![0]!.address.split("/")[0]!;
      assert.ok(w.node.routes(4).some((k) => k.dst === ip4 && k.dev === veth), `host route to ${ip4}`);
      assert.equal(c.link("eth0").operstate, "UP");
    }
    assert.equal(w.node.sysctl("net/ipv4/ip_forward"), "1");
    assert.ok(c1.ping("10.92.0.3", 5), "c1 -> c2 over IPv4");
    assert.ok(c1.ping("fd00:92::3", 5), "c1 -> c2 over IPv6");
    assert.ok(c2.ping("10.92.0.1", 5), "c2 -> the node");

    successEmpty(w.cni("CHECK", c1, { ...conf, prevResult: r1 }));
    for (const c of [c1, c2]) successEmpty(w.cni("DEL", c, { ...conf, prevResult: c === c1 ? r1 : r2 }));
    assert.deepEqual(w.nodeVeths(), []);
    assert.deepEqual(w.reservations(), new Map());
  });

  test("CHECK fails (104) when a host route or a container route is gone", (t) => {
    const w = world(t);
    const c = w.container();
    const conf = ptpConf(w, "1.0.0");
    const r = add(w, c, conf);
    const check = (): ReturnType<CniWorld["cni"]> => w.cni("CHECK", c, { ...conf, prevResult: r });
    successEmpty(check());
    w.node.exec(["ip", "route", "del", "10.92.0.2/32"]);
    assert.match(errorJson(check()).msg, /host route to 10\.92\.0\.2/);
    w.node.exec(["ip", "route", "add", "10.92.0.2/32", "dev", r.interfaces![0]!.name, "scope", "link"]);
    successEmpty(check());
    c.exec(["ip", "route", "del", "10.92.0.0/24"]);
    const e = errorJson(check());
    assert.equal(e.code, 104);
    assert.match(e.msg, /10\.92\.0\.0\/24 via 10\.92\.0\.1/);
    successEmpty(w.cni("DEL", c, { ...conf, prevResult: r }));
  });

  test("DEL: again, with an empty CNI_NETNS, with a namespace that is gone; an older cniVersion", (t) => {
    const w = world(t);
    const c = w.container();
    const conf = ptpConf(w, "0.4.0");
    const r = add(w, c, conf);
    assert.equal((r as unknown as { ips: { version: string }[] }).ips[0]?.version, "4");
    successEmpty(w.cni("CHECK", c, { ...conf, prevResult: r }));
    successEmpty(w.cni("DEL", c, conf));
    successEmpty(w.cni("DEL", c, conf));
    successEmpty(w.cni("DEL", "", conf, { containerId: w.containerId(c) }));
    successEmpty(w.cni("DEL", "/var/run/netns/tether-test-gone", conf, { containerId: w.containerId(c) }));
    assert.equal(c.hasLink("eth0"), false);
    assert.deepEqual(w.nodeVeths(), []);
    assert.deepEqual(w.reservations(), new Map());
  });

  test("a failing step late in ADD (the firewall) leaves no link, no address, no reservation", (t) => {
    const w = world(t);
    const c = w.container();
    // A chain of tether's name with another type makes the masquerade batch fail after veth, addresses and routes exist.
    w.node.exec(["nft", "add", "table", "inet", "tether"]);
    w.node.exec(["nft", "add", "chain", "inet", "tether", "postrouting", "{ type filter hook postrouting priority 0; }"]);
    const e = errorJson(w.cni("ADD", c, ptpConf(w, "1.1.0", { ipMasq: true })));
    assert.equal(e.code, 106, e.msg);
    assert.equal(c.hasLink("eth0"), false, "container interface removed");
    assert.deepEqual(w.nodeVeths(), [], "host veth removed");
    assert.deepEqual(w.node.routes(4).filter((r) => r.dst.startsWith("10.92.")), []);
    assert.deepEqual(w.reservations(), new Map(), "reservation released");
  });
});
