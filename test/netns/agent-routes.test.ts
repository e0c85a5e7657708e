/**
 * The agent's route reconcile (src/agent/routes.ts) against the real kernel, in a throwaway
 * namespace: routes of another protocol are never touched, also when one holds a pod CIDR's slot.
 */
import assert from "node:assert/strict";
import { describe, test, type TestContext } from "node:test";
import { Rtnl } from "../../src/netlink";
import { RTPROT_TETHER, reconcileRoutes } from "../../src/agent/routes";
import { type TestNetns, createNetns, netnsUnavailable } from "../helpers/netns";

const skip = netnsUnavailable();

function setup(t: TestContext): { ns: TestNetns; rtnl: Rtnl } {
  const ns = createNetns(t, "agrt");
  ns.exec(["ip", "link", "add", "eth0", "type", "veth", "peer", "name", "eth0-peer"]);
  ns.exec(["ip", "link", "set", "eth0-peer", "up"]);
  ns.exec(["ip", "addr", "add", "192.168.50.1/24", "dev", "eth0"]);
  ns.exec(["ip", "addr", "add", "fd00:50::1/64", "dev", "eth0", "nodad"]);
  ns.exec(["ip", "link", "set", "eth0", "up"]);
  const rtnl = Rtnl.open(ns.path);
  t.after(() => rtnl.close());
  return { ns, rtnl };
}

function show(ns: TestNetns): string[] {
  return (["-4", "-6"] as const)
    .flatMap((f) => ns.ipJson<{ dst: string; gateway?: string; protocol?: string; metric?: number }[]>([f, "route", "show", "table", "main"]))
    .filter((r) => r.dst.startsWith("10.244.") || r.dst.startsWith("fd00:244:"))
    .map((r) => `${r.dst} via ${r.gateway ?? "-"} proto ${r.protocol ?? "?"}`)
    .sort();
}

describe("agent routes in the kernel", { skip }, () => {
  const desired = [
    { family: 4 as const, dst: "10.244.2.0/24", gw: "192.168.50.2", node: "b" },
    { family: 6 as const, dst: "fd00:244:2::/64", gw: "fd00:50::2", node: "b" },
    { family: 4 as const, dst: "10.244.3.0/24", gw: "192.168.50.3", node: "c" },
    { family: 6 as const, dst: "fd00:244:3::/64", gw: "fd00:50::3", node: "c" },
  ];

  test("a pod CIDR held by a route of another protocol: left alone, not a failure; the others added", async (t) => {
    const { ns, rtnl } = setup(t);
    // E.g. kindnet's routes (protocol boot) still there when tether's agent takes over, or an admin's.
    ns.exec(["ip", "route", "add", "10.244.2.0/24", "via", "192.168.50.2", "proto", "boot"]);
    ns.exec(["ip", "-6", "route", "add", "fd00:244:2::/64", "via", "fd00:50::9", "proto", "static"]);
    const before = show(ns);
    const r = await reconcileRoutes(rtnl, desired);
    assert.deepEqual(r.failures, []);
    assert.deepEqual(r.blocked.map((b) => b.dst).sort(), ["10.244.2.0/24", "fd00:244:2::/64"]);
    assert.deepEqual(show(ns), [
      ...before,
      `10.244.3.0/24 via 192.168.50.3 proto ${RTPROT_TETHER}`,
      `fd00:244:3::/64 via fd00:50::3 proto ${RTPROT_TETHER}`,
    ].sort());
    // The next reconcile changes nothing and still does not fail.
    const again = await reconcileRoutes(rtnl, desired);
    assert.deepEqual([again.failures, again.blocked.map((b) => b.dst).sort(), again.plan.delete.length], [[], ["10.244.2.0/24", "fd00:244:2::/64"], 0]);
    assert.deepEqual(show(ns), [...before, `10.244.3.0/24 via 192.168.50.3 proto ${RTPROT_TETHER}`, `fd00:244:3::/64 via fd00:50::3 proto ${RTPROT_TETHER}`].sort());
    // The foreign route gone: the agent's own takes the slot.
    ns.exec(["ip", "route", "del", "10.244.2.0/24", "proto", "boot"]);
    const third = await reconcileRoutes(rtnl, desired);
    assert.deepEqual(third.failures, []);
    assert.ok(show(ns).includes(`10.244.2.0/24 via 192.168.50.2 proto ${RTPROT_TETHER}`), show(ns).join(", "));
  });

  test("a foreign route to the same CIDR with another metric does not block ours", async (t) => {
    const { ns, rtnl } = setup(t);
    ns.exec(["ip", "route", "add", "10.244.3.0/24", "via", "192.168.50.9", "metric", "100", "proto", "static"]);
    const r = await reconcileRoutes(rtnl, desired);
    assert.deepEqual([r.failures, r.blocked], [[], []]);
    const routes = show(ns);
    assert.ok(routes.includes("10.244.3.0/24 via 192.168.50.9 proto static"), routes.join(", "));
    assert.ok(routes.includes(`10.244.3.0/24 via 192.168.50.3 proto ${RTPROT_TETHER}`), routes.join(", "));
  });
});
