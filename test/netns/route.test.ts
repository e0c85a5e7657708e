/** Routes against the real kernel, inside a throwaway namespace, read back with `ip -j route`. */
import assert from "node:assert/strict";
import { describe, test, type TestContext } from "node:test";
import { NetlinkError, RT_SCOPE, Rtnl, addAddress, addRoute, deleteRoute, listRoutes, routeGet, setLinkUp } from "../../src/netlink";
import { type TestNetns, createNetns, netnsUnavailable } from "../helpers/netns";

const skip = netnsUnavailable();

interface IpRoute {
  dst: string;
  gateway?: string;
  dev?: string;
  scope?: string;
  metric?: number;
  prefsrc?: string;
  metrics?: { mtu?: number; advmss?: number }[];
  protocol?: string;
}

/** A namespace with eth0 up, 10.50.0.2/24 and fd00:50::2/64 on it (the peer end stays in the same namespace). */
async function setup(t: TestContext): Promise<{ ns: TestNetns; rtnl: Rtnl; index: number }> {
  const ns = createNetns(t);
  ns.exec(["ip", "link", "add", "eth0", "type", "veth", "peer", "name", "eth0-peer"]);
  ns.exec(["ip", "link", "set", "eth0-peer", "up"]);
  const rtnl = Rtnl.open(ns.path);
  t.after(() => rtnl.close());
  const index = ns.link("eth0").ifindex;
  await setLinkUp(rtnl, index);
  await addAddress(rtnl, index, "10.50.0.2/24");
  await addAddress(rtnl, index, "fd00:50::2/64", { noDad: true });
  return { ns, rtnl, index };
}

function kernelRoutes(ns: TestNetns, family: "-4" | "-6", table = "main"): IpRoute[] {
  return ns.ipJson<IpRoute[]>([family, "route", "show", "table", table]);
}

describe("routes", { skip }, () => {
  test("default route via a gateway, with a metric", async (t) => {
    const { ns, rtnl, index } = await setup(t);
    await addRoute(rtnl, { dst: "0.0.0.0/0", gw: "10.50.0.1", oif: index, priority: 100 });
    const def = kernelRoutes(ns, "-4").find((r) => r.dst === "default");
    assert.ok(def);
    assert.equal(def.gateway, "10.50.0.1");
    assert.equal(def.dev, "eth0");
    assert.equal(def.metric, 100);
    const listed = (await listRoutes(rtnl, { family: 4 })).find((r) => r.dst === "0.0.0.0/0");
    assert.deepEqual(listed, { family: 4, dst: "0.0.0.0/0", gw: "10.50.0.1", oif: index, scope: 0, priority: 100, table: 254, protocol: 3, type: 1 });
  });

  test("scope link route without a gateway, with a preferred source", async (t) => {
    const { ns, rtnl, index } = await setup(t);
    await addRoute(rtnl, { dst: "10.60.0.1/32", oif: index, scope: "link", src: "10.50.0.2" });
    await addRoute(rtnl, { dst: "10.61.0.0/16", gw: "10.60.0.1", oif: index, src: "10.50.0.2" });
    const routes = kernelRoutes(ns, "-4");
    const link = routes.find((r) => r.dst === "10.60.0.1");
    assert.equal(link?.scope, "link");
    assert.equal(link?.prefsrc, "10.50.0.2");
    assert.equal(link?.gateway, undefined);
    const via = routes.find((r) => r.dst === "10.61.0.0/16");
    assert.equal(via?.gateway, "10.60.0.1");
    assert.equal(via?.scope, undefined, "a gatewayed route is scope global, which ip leaves out");
    const listed = (await listRoutes(rtnl, { family: 4 })).find((r) => r.dst === "10.60.0.1/32");
    assert.equal(listed?.scope, RT_SCOPE.link);
    assert.equal(listed?.src, "10.50.0.2");
  });

  test("IPv6 default route, mtu and advmss metrics, another table", async (t) => {
    const { ns, rtnl, index } = await setup(t);
    await addRoute(rtnl, { dst: "::/0", gw: "fd00:50::1", oif: index, mtu: 1400, advmss: 1300 });
    await addRoute(rtnl, { dst: "10.70.0.0/24", gw: "10.50.0.1", table: 1000 });
    const def = kernelRoutes(ns, "-6").find((r) => r.dst === "default");
    assert.equal(def?.gateway, "fd00:50::1");
    assert.deepEqual(def?.metrics, [{ mtu: 1400, advmss: 1300 }]);
    const other = kernelRoutes(ns, "-4", "1000");
    assert.deepEqual(other.map((r) => [r.dst, r.gateway]), [["10.70.0.0/24", "10.50.0.1"]]);
    assert.equal(kernelRoutes(ns, "-4").some((r) => r.dst === "10.70.0.0/24"), false);
    const listed = await listRoutes(rtnl, { family: 6 });
    const v6def = listed.find((r) => r.dst === "::/0");
    assert.equal(v6def?.gw, "fd00:50::1");
    assert.equal(v6def?.mtu, 1400);
    assert.equal(v6def?.advmss, 1300);
    const inTable = await listRoutes(rtnl, { family: 4, table: 1000 });
    assert.deepEqual(inTable.map((r) => [r.dst, r.table]), [["10.70.0.0/24", 1000]]);
  });

  test("EEXIST without replace; replace swaps the gateway; delete returns false when absent", async (t) => {
    const { ns, rtnl, index } = await setup(t);
    const route = { dst: "10.80.0.0/24", gw: "10.50.0.1", oif: index };
    await addRoute(rtnl, route);
    await assert.rejects(addRoute(rtnl, route), (e: unknown) => e instanceof NetlinkError && e.code === "EEXIST" && /RTM_NEWROUTE 10.80.0.0\/24/.test(e.message));
    await addRoute(rtnl, { ...route, gw: "10.50.0.9" }, { replace: true });
    assert.deepEqual(kernelRoutes(ns, "-4").filter((r) => r.dst === "10.80.0.0/24").map((r) => r.gateway), ["10.50.0.9"]);
    assert.equal(await deleteRoute(rtnl, { dst: "10.80.0.0/24" }), true);
    assert.equal(kernelRoutes(ns, "-4").some((r) => r.dst === "10.80.0.0/24"), false);
    assert.equal(await deleteRoute(rtnl, { dst: "10.80.0.0/24" }), false);
    assert.equal(await deleteRoute(rtnl, { dst: "fd00:99::/64" }), false);
  });

  test("a gateway that is not reachable is refused by the kernel (ENETUNREACH)", async (t) => {
    const { rtnl, index } = await setup(t);
    await assert.rejects(
      addRoute(rtnl, { dst: "10.90.0.0/24", gw: "192.0.2.1", oif: index }),
      (e: unknown) => e instanceof NetlinkError && e.code === "ENETUNREACH",
    );
  });

  test("a routing protocol of the caller's own: set, listed by it, deleted only with it", async (t) => {
    const { ns, rtnl } = await setup(t);
    await addRoute(rtnl, { dst: "10.80.0.0/24", gw: "10.50.0.9", protocol: 152 });
    await addRoute(rtnl, { dst: "fd00:80::/64", gw: "fd00:50::9", protocol: 152 });
    await addRoute(rtnl, { dst: "10.81.0.0/24", gw: "10.50.0.9" });
    const v4 = kernelRoutes(ns, "-4");
    assert.equal(v4.find((r) => r.dst === "10.80.0.0/24")?.protocol, "152");
    const ours = await listRoutes(rtnl, { protocol: 152 });
    assert.deepEqual(ours.map((r) => [r.dst, r.gw]).sort(), [["10.80.0.0/24", "10.50.0.9"], ["fd00:80::/64", "fd00:50::9"]]);
    assert.equal(await deleteRoute(rtnl, { dst: "10.81.0.0/24", protocol: 152 }), false, "another protocol's route is not ours to delete");
    assert.equal(await deleteRoute(rtnl, { dst: "10.80.0.0/24", protocol: 152 }), true);
    assert.deepEqual((await listRoutes(rtnl, { family: 4, protocol: 152 })).length, 0);
    assert.ok(kernelRoutes(ns, "-4").some((r) => r.dst === "10.81.0.0/24"));
  });
});

describe("routeGet: the route the kernel would use for one address", { skip }, () => {
  test("the matching route as the table holds it (prefix, device, gateway), across tables; undefined when nothing routes it", async (t) => {
    const { ns, rtnl, index } = await setup(t);
    assert.equal(await routeGet(rtnl, "10.99.0.1"), undefined, "no route: ENETUNREACH");
    assert.equal(await routeGet(rtnl, "fd00:99::1"), undefined, "no route (IPv6)");
    const connected = await routeGet(rtnl, "10.50.0.77");
    assert.deepEqual([connected?.dst, connected?.oif, connected?.gw, connected?.table], ["10.50.0.0/24", index, undefined, 254]);
    assert.deepEqual(kernelRoutes(ns, "-4").find((r) => r.dst === "10.50.0.0/24")?.dev, "eth0");
    assert.equal((await routeGet(rtnl, "fd00:50::77"))?.dst, "fd00:50::/64");

    await addRoute(rtnl, { dst: "0.0.0.0/0", gw: "10.50.0.1", oif: index });
    await addRoute(rtnl, { dst: "10.70.0.0/16", gw: "10.50.0.9", oif: index });
    await addRoute(rtnl, { dst: "10.70.1.0/24", oif: index });
    const longest = await routeGet(rtnl, "10.70.1.5");
    assert.deepEqual([longest?.dst, longest?.gw], ["10.70.1.0/24", undefined], "the longest prefix");
    const via = await routeGet(rtnl, "10.70.2.5");
    assert.deepEqual([via?.dst, via?.gw, via?.oif], ["10.70.0.0/16", "10.50.0.9", index]);
    assert.deepEqual([(await routeGet(rtnl, "192.0.2.1"))?.dst, (await routeGet(rtnl, "192.0.2.1"))?.gw], ["0.0.0.0/0", "10.50.0.1"]);

    ns.exec(["ip", "route", "add", "unreachable", "10.80.0.0/16"]);
    ns.exec(["ip", "route", "add", "prohibit", "10.81.0.0/16"]);
    ns.exec(["ip", "route", "add", "blackhole", "10.82.0.0/16"]);
    for (const a of ["10.80.0.1", "10.81.0.1", "10.82.0.1"]) assert.equal(await routeGet(rtnl, a), undefined, a);
    // A policy rule sends 10.90/16 to table 100: the lookup follows it, as the node's packets do.
    ns.exec(["ip", "route", "add", "10.90.0.0/16", "dev", "eth0", "table", "100"]);
    ns.exec(["ip", "rule", "add", "to", "10.90.0.0/16", "table", "100"]);
    const ruled = await routeGet(rtnl, "10.90.3.3");
    assert.deepEqual([ruled?.dst, ruled?.table, ruled?.oif], ["10.90.0.0/16", 100, index]);
    await assert.rejects(routeGet(rtnl, "not-an-ip"), (e: unknown) => e instanceof NetlinkError && e.code === "EINVAL");
  });
});

describe("route batches", { skip }, () => {
  test("applyRouteChanges: hundreds of adds and deletes in one batch; failures reported per route, the rest applied", async (t) => {
    const { ns, rtnl } = await setup(t);
    const { applyRouteChanges } = await import("../../src/netlink/index.js");
    await addRoute(rtnl, { dst: "10.200.7.0/24", gw: "10.50.0.1" }); // not ours: an add of the same key must fail, not replace it
    const adds = Array.from({ length: 600 }, (_, i) => ({ dst: `10.${200 + (i >> 8)}.${i & 255}.0/24`, gw: "10.50.0.9", protocol: 152 }));
    const failed = await applyRouteChanges(rtnl, { add: adds });
    assert.deepEqual(failed.map((f) => [f.op, f.route.dst, (f.error as { code?: string }).code]), [["add", "10.200.7.0/24", "EEXIST"]]);
    assert.equal((await listRoutes(rtnl, { family: 4, protocol: 152 })).length, 599);
    assert.equal(kernelRoutes(ns, "-4").find((r) => r.dst === "10.200.7.0/24")?.gateway, "10.50.0.1");
    const gone = await applyRouteChanges(rtnl, { delete: adds.slice(0, 300), add: [{ dst: "fd00:90::/64", gw: "fd00:50::9", protocol: 152 }] });
    assert.deepEqual(gone, [], "a delete of a route already gone is no failure");
    assert.equal((await listRoutes(rtnl, { protocol: 152 })).length, 301, "599 - 299 (one was never added) + 1");
  });
});
