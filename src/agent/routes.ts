/**
 * Routes to other nodes' pod CIDRs, in the main table, marked with the agent's own routing protocol
 * number: the agent reads back only routes of that protocol, so it never changes a route it did not
 * make, and after a restart finds every route it made before.
 */
import { type ActualRoute, type LocalAddress, type DesiredRoute, type RoutePlan, planFromKnown, planRoutes } from "./desired";
import { RT_TABLE_MAIN, type RouteChanges, type Rtnl, type TextRouteSpec, applyRouteChanges, isErrno, listAddresses, listRoutes } from "../netlink";

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

function changes(plan: RoutePlan): RouteChanges<TextRouteSpec> {
  return {
    delete: plan.delete.map((r) => ({ dst: r.dst, ...(r.gw === undefined ? {} : { gw: r.gw }), table: r.table, protocol: RTPROT_TETHER })),
    add: plan.add.map((r) => ({ dst: r.dst, gw: r.gw, protocol: RTPROT_TETHER })),
  };
}

async function apply(rtnl: Rtnl, plan: RoutePlan): Promise<RouteApplyResult> {
  const failed = plan.add.length + plan.delete.length > 0 ? await applyRouteChanges(rtnl, changes(plan)) : [];
  // An add refused with EEXIST: a route of another protocol may hold the slot (kindnet's left over,
  // an admin's). It is never touched; ours is not a failure then. Read the others only in that case.
  const exists = (f: (typeof failed)[number]): boolean => f.op === "add" && isErrno(f.error, "EEXIST");
  let blocked: DesiredRoute[] = [];
  if (failed.some(exists)) {
    const foreign = (await listRoutes(rtnl)).filter((r) => r.protocol !== RTPROT_TETHER);
    blocked = planRoutes(plan.add, [], RT_TABLE_MAIN, foreign).blocked ?? [];
  }
  const held = new Set(blocked.map((b) => b.dst));
  const failures = failed.filter((f) => !(exists(f) && held.has(f.route.dst))).map((f) => ({ route: `${f.op} ${f.route.dst} via ${f.route.gw ?? "-"}`, error: f.error.message }));
  return { plan, failures, blocked };
}

/**
 * Our routes read back from the kernel, diffed against `desired`, then one batch: the stale ones
 * deleted, the missing ones added. Every change is tried; failures are returned.
 */
export async function reconcileRoutes(rtnl: Rtnl, desired: readonly DesiredRoute[]): Promise<RouteApplyResult> {
  return apply(rtnl, planRoutes(desired, await ownRoutes(rtnl), RT_TABLE_MAIN));
}

/**
 * The difference between `desired` and `known` (what the last reconcile applied) as one batch, without
 * reading the kernel: an event's route lands without waiting for a dump of thousands of routes. The
 * caller follows it with reconcileRoutes soon after (the read-back repairs whatever was not as known).
 */
export async function applyKnownDelta(rtnl: Rtnl, desired: readonly DesiredRoute[], known: readonly DesiredRoute[]): Promise<RouteApplyResult> {
  return apply(rtnl, planFromKnown(desired, known, RT_TABLE_MAIN));
}
