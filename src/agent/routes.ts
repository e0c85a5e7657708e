/**
 * Routes to other nodes' pod CIDRs, in the main table, marked with the agent's own routing protocol
 * number: the agent reads back only routes of that protocol, so it never changes a route it did not
 * make, and after a restart finds every route it made before.
 */
import { type ActualRoute, type LocalAddress, type DesiredRoute, type RoutePlan, planRoutes } from "./desired";
import { RT_TABLE_MAIN, type Rtnl, addRoute, deleteRoute, listAddresses, listRoutes } from "../netlink";

/** tether's routing protocol number (`ip route show proto 152`); unassigned in /etc/iproute2/rt_protos. */
export const RTPROT_TETHER = 152;

export async function ownRoutes(rtnl: Rtnl): Promise<ActualRoute[]> {
  return (await listRoutes(rtnl, { protocol: RTPROT_TETHER })).map((r) => ({ dst: r.dst, gw: r.gw, table: r.table, oif: r.oif }));
}

/** The node's addresses with their prefixes: the directly connected networks next hops must be on. */
export async function localAddresses(rtnl: Rtnl): Promise<LocalAddress[]> {
  return (await listAddresses(rtnl)).map((a) => ({ address: a.address, prefixLen: a.prefixLen }));
}

export interface RouteApplyResult {
  plan: RoutePlan;
  failures: { route: string; error: string }[];
}

/**
 * Read our routes, diff against `desired`, delete the stale ones then add the missing ones. Every
 * change is tried; failures are returned (the next reconcile tries again).
 */
export async function reconcileRoutes(rtnl: Rtnl, desired: readonly DesiredRoute[]): Promise<RouteApplyResult> {
  const actual = await ownRoutes(rtnl);
  const plan = planRoutes(desired, actual, RT_TABLE_MAIN);
  const failures: RouteApplyResult["failures"] = [];
  // Sent without waiting for each answer in between (Rtnl keeps them in order on its one socket).
  const deletes = plan.delete.map((r) =>
    deleteRoute(rtnl, { dst: r.dst, ...(r.gw === undefined ? {} : { gw: r.gw }), table: r.table, protocol: RTPROT_TETHER }).catch((e: unknown) => {
      failures.push({ route: `delete ${r.dst} via ${r.gw ?? "-"}`, error: (e as Error).message });
    }),
  );
  await Promise.all(deletes);
  const adds = plan.add.map((r) =>
    addRoute(rtnl, { dst: r.dst, gw: r.gw, protocol: RTPROT_TETHER }).catch((e: unknown) => {
      failures.push({ route: `add ${r.dst} via ${r.gw} (node ${r.node})`, error: (e as Error).message });
    }),
  );
  await Promise.all(adds);
  return { plan, failures };
}
