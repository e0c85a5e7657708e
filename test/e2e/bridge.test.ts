/**
 * Bridge mode end to end on the real kernel, driven as a runtime drives it: tether (dist/tether when
 * built, else the compiled sources; see test/helpers/binary.ts) runs inside a "node" namespace the
 * test creates, with only PATH and CNI_* in its environment and the config on stdin, against
 * container namespaces the test creates. Every test has its own namespaces, IPAM directory and
 * bridge name, all removed when it ends, failed or not. What is asserted is what the kernel shows
 * (`ip -j`, `bridge -j`), the exact stdout, and the files of the IPAM store.
 *
 * Here: every cniVersion (ADD/CHECK/DEL), dual-stack reachability, the DEL guarantees, rollback of a
 * failed ADD, and 16 concurrent attachments. Options are in bridge-options.test.ts.
 */
import assert from "node:assert/strict";
import { describe, test, type TestContext } from "node:test";
import { cniWorld, errorJson, successEmpty, successJson, type CniWorld } from "../helpers/binary";
import { netnsUnavailable, type TestNetns } from "../helpers/netns";

const skip = netnsUnavailable();
const TEST_TIMEOUT = 600_000;

const SUBNET4 = "10.88.0.0/24";
const GW4 = "10.88.0.1";
const SUBNET6 = "fd00:88::/64";
const GW6 = "fd00:88::1";

interface ResultInterface {
  name: string;
  mac?: string;
  sandbox?: string;
  mtu?: number;
}
interface ResultIp {
  version?: string;
  address: string;
  gateway?: string;
  interface?: number;
}
interface ResultRoute {
  dst: string;
  gw?: string;
}
interface Result {
  cniVersion: string;
  interfaces?: ResultInterface[];
  ips?: ResultIp[];
  routes?: ResultRoute[];
  dns?: { nameservers?: string[] };
}
interface LegacyResult {
  cniVersion: string;
  ip4?: { ip: string; gateway?: string; routes?: ResultRoute[] };
  ip6?: { ip: string; gateway?: string; routes?: ResultRoute[] };
  dns?: unknown;
}

type World = CniWorld;

function world(t: TestContext): World {
  return cniWorld(t, { ranges: [[{ subnet: SUBNET4 }], [{ subnet: SUBNET6 }]], label: "bridge" });
}

function withPrev(conf: Record<string, unknown>, prev: unknown): Record<string, unknown> {
  return { ...conf, prevResult: prev };
}

function addrOnly(cidr: string): string {
  return cidr.split("/")[0]!;
}

function family(cidr: string): 4 | 6 {
  return cidr.includes(":") ? 6 : 4;
}

/** A result dst as `ip -j route` prints it. */
function kernelDst(cidr: string): string {
  const [ip, len] = cidr.split("/");
  const full = family(cidr) === 4 ? "32" : "128";
  if (len === "0") return "default";
  return len === full ? ip! : cidr;
}

function inSubnet4(address: string): boolean {
  return /^10\.88\.0\.\d+$/.test(address);
}

/** Global addresses of a link, as "ip/prefix". */
function globalAddrs(ns: TestNetns, dev: string): string[] {
  return ns
    .addrs(dev)
    .filter((a) => a.scope === "global")
    .map((a) => `${a.local}/${a.prefixlen}`)
    .sort();
}

/**
 * The result of a 0.3.0+ ADD describes what the kernel has: the bridge, the host veth (a port of the
 * bridge, peer of the container's interface), the container interface with the result's MAC,
 * addresses and routes.
 */
function assertResultMatchesKernel(w: World, c: TestNetns, res: Result, ifname = "eth0"): { hostVeth: string } {
  const [br, hv, ct] = res.interfaces ?? [];
  assert.ok(br && hv && ct, `three interfaces: ${JSON.stringify(res.interfaces)}`);
  assert.equal(res.interfaces!.length, 3, JSON.stringify(res.interfaces));

  const bridge = w.node.link(w.bridge);
  assert.equal(bridge.linkinfo?.info_kind, "bridge");
  assert.equal(br.name, w.bridge);
  assert.equal(br.sandbox, undefined);
  assert.equal(br.mac, bridge.address, "result bridge MAC = kernel's");
  assert.ok(bridge.flags.includes("UP"), "bridge up");

  assert.match(hv.name, /^veth[0-9a-f]+$/);
  assert.equal(hv.sandbox, undefined, "host veth has no sandbox");
  const host = w.node.link(hv.name);
  assert.equal(host.linkinfo?.info_kind, "veth");
  assert.equal(host.master, w.bridge, "host veth is a port of the bridge");
  assert.equal(host.linkinfo?.info_slave_kind, "bridge");
  assert.equal(hv.mac, host.address, "result host veth MAC = kernel's");
  assert.ok(host.flags.includes("UP"), "host veth up");

  assert.equal(ct.name, ifname);
  assert.equal(ct.sandbox, c.path);
  const link = c.link(ifname);
  assert.equal(link.linkinfo?.info_kind, "veth");
  assert.equal(ct.mac, link.address, "result container MAC = kernel's");
  assert.equal(link.link_index, host.ifindex, "container interface is the host veth's peer");
  assert.equal(host.link_index, link.ifindex, "host veth is the container interface's peer");

  const ips = res.ips ?? [];
  for (const ip of ips) assert.equal(ip.interface, 2, `ips[].interface points at the container interface: ${JSON.stringify(ip)}`);
  assert.deepEqual(globalAddrs(c, ifname), ips.map((ip) => ip.address).sort(), "container addresses = result ips");

  for (const r of res.routes ?? []) {
    const fam = family(r.dst);
    const have = c.routes(fam);
    const gw = r.gw ?? ips.find((ip) => family(ip.address) === fam)?.gateway;
    assert.ok(
      have.some((k) => k.dst === kernelDst(r.dst) && k.dev === ifname && (gw === undefined || k.gateway === gw)),
      `route ${JSON.stringify(r)} in the container: ${JSON.stringify(have)}`,
    );
  }
  return { hostVeth: hv.name };
}

/** The store holds exactly these addresses, each for this container and ifname. */
function assertReserved(w: World, cid: string, addresses: string[], ifname = "eth0"): void {
  const files = w.reservations();
  assert.deepEqual([...files.keys()].sort(), addresses.map(addrOnly).sort(), "reservation files");
  for (const [ip, content] of files) assert.equal(content, `${cid}\r\n${ifname}`, `content of ${ip}`);
}

function assertNothingLeft(w: World, c: TestNetns | undefined, what: string): void {
  assert.deepEqual(w.nodeVeths(), [], `${what}: no veth left in the node namespace`);
  if (c) assert.deepEqual(c.links().map((l) => l.ifname), ["lo"], `${what}: only lo in the container`);
  assert.deepEqual([...w.reservations().keys()], [], `${what}: no reservation left`);
}

/** Poll (no timing assertion): the kernel tears a deleted namespace down asynchronously. */
async function eventually(what: string, cond: () => boolean, limitMs = 30_000): Promise<void> {
  const end = Date.now() + limitMs;
  while (!cond()) {
    if (Date.now() > end) assert.fail(`not within ${limitMs} ms: ${what}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

describe("bridge e2e: every cniVersion", { skip, timeout: TEST_TIMEOUT }, () => {
  for (const version of ["0.3.0", "0.3.1", "0.4.0", "1.0.0", "1.1.0"]) {
    test(`${version}: ADD, CHECK, DEL, DEL again`, (t) => {
      const w = world(t);
      const c = w.container();
      const cid = w.containerId(c);
      const conf = w.conf(version, { isGateway: true, isDefaultGateway: true, dns: { nameservers: ["10.88.0.53"] } });

      const add = w.cni("ADD", c, conf);
      const res = successJson<Result>(add);
      assert.equal(res.cniVersion, version);
      for (const k of Object.keys(res)) assert.ok(["cniVersion", "interfaces", "ips", "routes", "dns"].includes(k), `key ${k}`);
      const legacy = version.startsWith("0.");
      if (legacy) {
        for (const itf of res.interfaces ?? []) {
          for (const k of Object.keys(itf)) assert.ok(["name", "mac", "sandbox"].includes(k), `${version} interface key ${k}`);
        }
      }
      const ips = res.ips ?? [];
      assert.equal(ips.length, 2, JSON.stringify(ips));
      const v4 = ips.find((ip) => family(ip.address) === 4);
      const v6 = ips.find((ip) => family(ip.address) === 6);
      assert.ok(v4 && v6, JSON.stringify(ips));
      assert.match(v4.address, /^10\.88\.0\.\d+\/24$/);
      assert.match(v6.address, /^fd00:88::[0-9a-f:]+\/64$/);
      assert.equal(v4.gateway, GW4);
      assert.equal(v6.gateway, GW6);
      if (legacy) {
        assert.equal(v4.version, "4");
        assert.equal(v6.version, "6");
      } else {
        assert.ok(!("version" in v4) && !("version" in v6), `no ips[].version in ${version}`);
      }
      assert.deepEqual(
        (res.routes ?? []).map((r) => `${r.dst} ${r.gw}`).sort(),
        [`0.0.0.0/0 ${GW4}`, `::/0 ${GW6}`],
        "isDefaultGateway routes in the result",
      );
      assert.deepEqual(res.dns?.nameservers, ["10.88.0.53"]);

      const { hostVeth } = assertResultMatchesKernel(w, c, res);
      assert.deepEqual(globalAddrs(w.node, w.bridge), [`${GW4}/24`, `${GW6}/64`], "gateway addresses on the bridge");
      assert.equal(w.node.sysctl(`net/ipv6/conf/${hostVeth}/accept_ra`), "0");
      assertReserved(w, cid, [v4.address, v6.address]);

      const check = w.cni("CHECK", c, withPrev(conf, res));
      if (compare(version, "0.4.0") >= 0) {
        successEmpty(check);
      } else {
        const e = errorJson(check);
        assert.equal(e.code, 1, `CHECK refused for ${version}: ${e.msg}`);
        assert.equal(e.cniVersion, version);
      }

      const delConf = compare(version, "0.4.0") >= 0 ? withPrev(conf, res) : conf;
      successEmpty(w.cni("DEL", c, delConf));
      assert.equal(c.hasLink("eth0"), false, "container interface gone");
      assert.equal(w.node.hasLink(hostVeth), false, "host veth gone");
      assert.deepEqual([...w.reservations().keys()], [], "reservations released");
      assert.equal(w.node.link(w.bridge).linkinfo?.info_kind, "bridge", "the bridge stays");

      successEmpty(w.cni("DEL", c, delConf));
      assertNothingLeft(w, c, "after the second DEL");
    });
  }

  test("0.1.0: ADD returns ip4 only (IPv4 config), DEL works", (t) => {
    const w = world(t);
    const c = w.container();
    const conf = w.conf("0.1.0", { isGateway: true, isDefaultGateway: true }, { ranges: [[{ subnet: SUBNET4 }]] });
    const res = successJson<LegacyResult>(w.cni("ADD", c, conf));
    assert.deepEqual(Object.keys(res), ["cniVersion", "ip4", "dns"], "the reference's keys in its order");
    assert.equal(res.cniVersion, "0.1.0");
    assert.match(res.ip4!.ip, /^10\.88\.0\.\d+\/24$/);
    assert.equal(res.ip4!.gateway, GW4);
    assert.deepEqual(res.ip4!.routes, [{ dst: "0.0.0.0/0", gw: GW4 }]);
    assert.deepEqual(globalAddrs(c, "eth0"), [res.ip4!.ip]);
    assert.ok(c.routes(4).some((r) => r.dst === "default" && r.gateway === GW4 && r.dev === "eth0"));
    assert.equal(w.nodeVeths().length, 1);
    assert.equal(w.node.link(w.nodeVeths()[0]!).master, w.bridge);
    assertReserved(w, w.containerId(c), [res.ip4!.ip]);

    successEmpty(w.cni("DEL", c, conf));
    assertNothingLeft(w, c, "after DEL");
    successEmpty(w.cni("DEL", c, conf));
  });

  test("0.2.0: ADD returns ip6 only (IPv6 config), DEL works", (t) => {
    const w = world(t);
    const c = w.container();
    const conf = w.conf("0.2.0", { isGateway: true }, { ranges: [[{ subnet: SUBNET6 }]] });
    const res = successJson<LegacyResult>(w.cni("ADD", c, conf));
    assert.deepEqual(Object.keys(res), ["cniVersion", "ip6", "dns"], "the reference's keys in its order");
    assert.equal(res.cniVersion, "0.2.0");
    assert.match(res.ip6!.ip, /^fd00:88::[0-9a-f:]+\/64$/);
    assert.equal(res.ip6!.gateway, GW6);
    assert.deepEqual(globalAddrs(c, "eth0"), [res.ip6!.ip]);
    assert.deepEqual(globalAddrs(w.node, w.bridge), [`${GW6}/64`]);
    assertReserved(w, w.containerId(c), [res.ip6!.ip]);

    successEmpty(w.cni("DEL", c, conf));
    assertNothingLeft(w, c, "after DEL");
    successEmpty(w.cni("DEL", c, conf));
  });

  test("CHECK fails (code 104, naming it) when an address of the result is gone", (t) => {
    const w = world(t);
    const c = w.container();
    const conf = w.conf("1.1.0", { isGateway: true });
    const res = successJson<Result>(w.cni("ADD", c, conf));
    successEmpty(w.cni("CHECK", c, withPrev(conf, res)));
    const v4 = res.ips!.find((ip) => family(ip.address) === 4)!;
    c.exec(["ip", "addr", "del", v4.address, "dev", "eth0"]);
    const e = errorJson(w.cni("CHECK", c, withPrev(conf, res)));
    assert.equal(e.code, 104, e.msg);
    assert.ok(e.msg.includes(v4.address), e.msg);
    successEmpty(w.cni("DEL", c, withPrev(conf, res)));
    assertNothingLeft(w, c, "after DEL");
  });
});

function compare(a: string, b: string): number {
  const pa = a.split(".").map(Number);
  const pb = b.split(".").map(Number);
  for (let i = 0; i < 3; i++) if (pa[i]! !== pb[i]!) return pa[i]! - pb[i]!;
  return 0;
}

describe("bridge e2e: dual-stack reachability", { skip, timeout: TEST_TIMEOUT }, () => {
  test("two containers reach each other and the gateway over IPv4 and IPv6", (t) => {
    const w = world(t);
    const c1 = w.container("c1");
    const c2 = w.container("c2");
    const conf = w.conf("1.1.0", { isGateway: true });
    const r1 = successJson<Result>(w.cni("ADD", c1, conf));
    const r2 = successJson<Result>(w.cni("ADD", c2, conf));
    assertResultMatchesKernel(w, c1, r1);
    assertResultMatchesKernel(w, c2, r2);
    const a = (r: Result, fam: 4 | 6): string => addrOnly(r.ips!.find((ip) => family(ip.address) === fam)!.address);
    assert.notEqual(a(r1, 4), a(r2, 4));
    assert.notEqual(a(r1, 6), a(r2, 6));
    assert.ok(inSubnet4(a(r1, 4)) && inSubnet4(a(r2, 4)));
    assert.equal(w.node.link(w.bridge).linkinfo?.info_kind, "bridge");
    assert.equal(
      w.node.ipJson<{ ifname: string }[]>(["link", "show", "master", w.bridge]).length,
      2,
      "two ports on the bridge",
    );

    for (const [from, to] of [
      [c1, r2],
      [c2, r1],
    ] as const) {
      assert.ok(from.ping(a(to, 4)), `${from.name} -> ${a(to, 4)}`);
      assert.ok(from.ping(a(to, 6)), `${from.name} -> ${a(to, 6)}`);
      assert.ok(from.ping(GW4), `${from.name} -> gateway ${GW4}`);
      assert.ok(from.ping(GW6), `${from.name} -> gateway ${GW6}`);
    }
    // And the node reaches the containers through its gateway addresses.
    assert.ok(w.node.ping(a(r1, 4)) && w.node.ping(a(r2, 6)), "node -> containers");

    successEmpty(w.cni("CHECK", c1, withPrev(conf, r1)));
    successEmpty(w.cni("CHECK", c2, withPrev(conf, r2)));
    successEmpty(w.cni("DEL", c1, withPrev(conf, r1)));
    successEmpty(w.cni("DEL", c2, withPrev(conf, r2)));
    assertNothingLeft(w, c1, "after DEL");
    assert.deepEqual(c2.links().map((l) => l.ifname), ["lo"]);
  });
});

describe("bridge e2e: DEL guarantees", { skip, timeout: TEST_TIMEOUT }, () => {
  test("DEL with CNI_NETNS empty releases the reservation", (t) => {
    const w = world(t);
    const c = w.container();
    const conf = w.conf("1.0.0");
    const res = successJson<Result>(w.cni("ADD", c, conf));
    assert.equal(w.reservations().size, 2);
    successEmpty(w.cni("DEL", "", withPrev(conf, res), { containerId: w.containerId(c) }));
    assert.deepEqual([...w.reservations().keys()], [], "released without a netns");
    successEmpty(w.cni("DEL", "", conf, { containerId: w.containerId(c) }));
  });

  test("DEL with a netns path that was deleted succeeds and releases the reservation", async (t) => {
    const w = world(t);
    const c = w.container();
    const path = c.path;
    const conf = w.conf("1.1.0");
    const res = successJson<Result>(w.cni("ADD", c, conf));
    assert.equal(w.nodeVeths().length, 1);
    c.remove();
    successEmpty(w.cni("DEL", path, withPrev(conf, res), { containerId: w.containerId(c) }));
    assert.deepEqual([...w.reservations().keys()], [], "released with the netns gone");
    successEmpty(w.cni("DEL", path, withPrev(conf, res), { containerId: w.containerId(c) }));
    // The host end goes with the namespace (the kernel tears it down asynchronously).
    await eventually("host veth gone with the container namespace", () => w.nodeVeths().length === 0);
  });

  test("DEL for a container never ADDed succeeds (even with unknown CNI_ARGS) and touches nothing", (t) => {
    const w = world(t);
    const c = w.container();
    const other = w.container("other");
    const conf = w.conf("1.1.0");
    const kept = successJson<Result>(w.cni("ADD", other, conf));
    const before = [...w.reservations().entries()].sort();
    successEmpty(w.cni("DEL", c, conf));
    successEmpty(w.cni("DEL", c, conf, { args: "FOO=bar;K8S_POD_NAME=x" }));
    successEmpty(w.cni("DEL", "", conf, { containerId: "cid-never-seen" }));
    successEmpty(w.cni("DEL", "/var/run/netns/tether-test-does-not-exist", conf, { containerId: "cid-never-seen" }));
    assert.deepEqual([...w.reservations().entries()].sort(), before, "the other container's reservation is untouched");
    assert.deepEqual(c.links().map((l) => l.ifname), ["lo"]);
    assertResultMatchesKernel(w, other, kept);
    successEmpty(w.cni("DEL", other, withPrev(conf, kept)));
    assertNothingLeft(w, other, "after DEL");
  });

  test("DEL twice in a row, with and without prevResult", (t) => {
    const w = world(t);
    const c = w.container();
    const conf = w.conf("1.1.0", { isGateway: true });
    const res = successJson<Result>(w.cni("ADD", c, conf));
    successEmpty(w.cni("DEL", c, withPrev(conf, res)));
    assertNothingLeft(w, c, "after the first DEL");
    successEmpty(w.cni("DEL", c, withPrev(conf, res)));
    successEmpty(w.cni("DEL", c, conf));
    assertNothingLeft(w, c, "after more DELs");
  });

  test("DEL when the container interface was already removed still releases the reservation", (t) => {
    const w = world(t);
    const c = w.container();
    const conf = w.conf("1.1.0");
    const res = successJson<Result>(w.cni("ADD", c, conf));
    c.exec(["ip", "link", "del", "eth0"]);
    successEmpty(w.cni("DEL", c, withPrev(conf, res)));
    assertNothingLeft(w, c, "after DEL");
  });
});

describe("bridge e2e: CNI_NETNS_OVERRIDE", { skip, timeout: TEST_TIMEOUT }, () => {
  test("the plugin's own namespace as the container's: refused (code 8), attached with CNI_NETNS_OVERRIDE=1, detached by DEL", (t) => {
    const w = world(t);
    const conf = w.conf("1.1.0");
    const own = w.node.path; // tether runs in the node namespace
    const refused = errorJson(w.cni("ADD", own, conf, { ifname: "ctr0" }));
    assert.equal(refused.code, 8);
    assert.match(refused.msg, /own network namespace/);
    assert.equal(w.node.hasLink("ctr0"), false);
    assert.equal(w.reservations().size, 0);

    const override = { ifname: "ctr0", env: { CNI_NETNS_OVERRIDE: "1" } };
    const res = successJson<Result>(w.cni("ADD", own, conf, override));
    const v4 = res.ips?.find((ip) => ip.address.includes("."))?.address;
    assert.ok(v4 !== undefined);
    assert.ok(
      w.node.addrs("ctr0").some((a) => `${a.local}/${a.prefixlen}` === v4),
      `ctr0 in the node namespace carries ${v4}`,
    );
    assert.equal(w.reservations().size, 2);
    successEmpty(w.cni("DEL", own, withPrev(conf, res), override));
    assert.equal(w.node.hasLink("ctr0"), false, "ctr0 deleted");
    assert.deepEqual(w.nodeVeths(), [], "both veth ends gone");
    assert.equal(w.reservations().size, 0);
  });
});

describe("bridge e2e: rollback of a failed ADD", { skip, timeout: TEST_TIMEOUT }, () => {
  const cases: { title: string; ipam: Record<string, unknown>; names: RegExp }[] = [
    {
      title: "an IPv4 route whose gateway is not on-link",
      ipam: { routes: [{ dst: "192.168.5.0/24", gw: "10.99.99.99" }] },
      names: /192\.168\.5\.0\/24|10\.99\.99\.99/,
    },
    {
      title: "an IPv6 route whose gateway is not on-link",
      ipam: { routes: [{ dst: "fd99::/64", gw: "fd77::1" }] },
      names: /fd99::\/64|fd77::1/,
    },
  ];
  for (const k of cases) {
    test(`${k.title}: error JSON, then no veth, no interface, no reservation`, (t) => {
      const w = world(t);
      const c = w.container();
      const conf = w.conf("1.1.0", { isGateway: true }, k.ipam);
      const e = errorJson(w.cni("ADD", c, conf));
      assert.equal(e.cniVersion, "1.1.0");
      assert.match(e.msg, k.names, `the error names the route: ${JSON.stringify(e)}`);
      assertNothingLeft(w, c, "after the failed ADD");

      // The runtime then calls DEL; it succeeds and a good ADD for the same container works.
      successEmpty(w.cni("DEL", c, conf));
      const good = w.conf("1.1.0", { isGateway: true });
      const res = successJson<Result>(w.cni("ADD", c, good));
      assertResultMatchesKernel(w, c, res);
      successEmpty(w.cni("DEL", c, withPrev(good, res)));
      assertNothingLeft(w, c, "after DEL");
    });
  }
});

describe("bridge e2e: concurrency", { skip, timeout: TEST_TIMEOUT }, () => {
  test("16 concurrent ADDs into 16 containers get 16 unique addresses; 16 concurrent DELs leave nothing", async (t) => {
    const w = world(t);
    const cs = Array.from({ length: 16 }, (_, i) => w.container(`p${i}`));
    const conf = w.conf("1.1.0", { isGateway: true });
    const adds = await Promise.all(cs.map((c) => w.cniAsync("ADD", c, conf)));
    const results = adds.map((o) => successJson<Result>(o));

    const v4 = results.map((r) => r.ips!.find((ip) => family(ip.address) === 4)!.address);
    const v6 = results.map((r) => r.ips!.find((ip) => family(ip.address) === 6)!.address);
    assert.equal(new Set(v4).size, 16, `unique IPv4: ${v4.join(" ")}`);
    assert.equal(new Set(v6).size, 16, `unique IPv6: ${v6.join(" ")}`);
    const files = w.reservations();
    assert.equal(files.size, 32, "32 reservation files");
    cs.forEach((c, i) => {
      assertResultMatchesKernel(w, c, results[i]!);
      assert.equal(files.get(addrOnly(v4[i]!)), `${w.containerId(c)}\r\neth0`);
      assert.equal(files.get(addrOnly(v6[i]!)), `${w.containerId(c)}\r\neth0`);
    });
    assert.equal(w.node.ipJson<unknown[]>(["link", "show", "master", w.bridge]).length, 16, "16 bridge ports");
    assert.ok(cs[0]!.ping(addrOnly(v4[15]!)), "first container reaches the last");

    const dels = await Promise.all(cs.map((c, i) => w.cniAsync("DEL", c, withPrev(conf, results[i]))));
    for (const o of dels) successEmpty(o);
    assert.deepEqual(w.nodeVeths(), []);
    assert.deepEqual(w.node.ipJson<unknown[]>(["link", "show", "master", w.bridge]), []);
    assert.deepEqual([...w.reservations().keys()], []);
    for (const c of cs) assert.deepEqual(c.links().map((l) => l.ifname), ["lo"], c.name);
  });
});
