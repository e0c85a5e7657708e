/**
 * Routes to other nodes' pod CIDRs, in the main table, marked with the agent's own routing protocol
 * number: the agent reads back only routes of that protocol, so it never changes a route it did not
 * make, and after a restart finds every route it made before.
 */
import { type ActualRoute, type LocalAddress, type DesiredRoute, type RoutePlan, planRoutes } from "./desired";
import { RT_TABLE_MAIN, type Rtnl, applyRouteChanges, isErrno, listAddresses, listRoutes } from "../netlink";

/** tether's routing protocol number (`ip route show proto 152`); unassigned in /etc/iproute2/rt_protos. */
export const RTPROT_TETHER = 152;

export async function ownRoutes(rtnl: Rtnl): Promise<ActualRoute[]> {
  return listRoutes(rtnl, { protocol: RTPROT_TETHER });
}

/** The node's addresses with their prefixes: the directly connected networks next hops must be on. */
export async function localAddresses(rtnl: Rtnl): Promise<LocalAddress[]> {
  return (await listAddresses(rtnl)).map((a) => ({ address: a.address, prefixLen: a.prefixLen }));
}

export interface RouteApplyResult {
  plan: RoutePlan;
  failures: { route: string; error: string }[];
  /** Desired routes whose slot a route of another protocol holds (left alone, not a failure). */
  blocked: DesiredRoute[];
}

/**
 * Read our routes, diff against `desired`, then one batch: the stale ones deleted, the missing ones
 * added. Every change is tried; failures are returned (the next reconcile tries again).
 */
export async function reconcileRoutes(rtnl: Rtnl, desired: readonly DesiredRoute[]): Promise<RouteApplyResult> {
  const actual = await ownRoutes(rtnl);
  const plan = planRoutes(desired, actual, RT_TABLE_MAIN);
  const failed = await applyRouteChanges(rtnl, {
    delete: plan.delete.map((r) => ({ dst: r.dst, ...(r.gw === undefined ? {} : { gw: r.gw }), table: r.table, protocol: RTPROT_TETHER })),
    add: plan.add.map((r) => ({ dst: r.dst, gw: r.gw, protocol: RTPROT_TETHER })),
  });
  // An add refused with EEXIST: a route of another protocol may hold the slot (kindnet's left over,
  // an admin's). It is never touched; ours is not a failure then. Read the others only in that case.
  let blocked: DesiredRoute[] = [];
  if (failed.some((f) => f.op === "add" && isErrno(f.error, "EEXIST"))) {
    const foreign = (await listRoutes(rtnl)).filter((r) => r.protocol !== RTPROT_TETHER);
    blocked = planRoutes(desired, actual, RT_TABLE_MAIN, foreign).blocked ?? [];
  }
  const held = new Set(blocked.map((b) => b.dst));
  const failures = failed
    .filter((f) => !(f.op === "add" && isErrno(f.error, "EEXIST") && held.has(f.route.dst)))
    .map((f) => ({ route: `${f.op} ${f.route.dst} via ${f.route.gw ?? "-"}`, error: f.error.message }));
  return { plan, failures, blocked };
}
