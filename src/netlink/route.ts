/** Routes (RTM_NEWROUTE / RTM_DELROUTE / RTM_GETROUTE). */
import { constants as osConstants } from "node:os";
import { NetlinkError, isErrno } from "./errors";
import { type IpFamily, afOf, familyOfAf, formatIp, networkOf, parseCidr, parseIp } from "./ip";
import { type Encoded, attrBytes, attrNested, attrU32, parseAttrMap, readU32 } from "./nlattr";
import { RTMSG_LEN, type RtMsg, parseRtmsg, rtmsg } from "./msg";
import { NLM_F, RTM, type RawMessage, type Rtnl } from "./rtnl";

/** Route scopes by name (linux/rtnetlink.h rt_scope_t). */
export const RT_SCOPE = { universe: 0, site: 200, link: 253, host: 254, nowhere: 255 } as const;
export type RouteScopeName = keyof typeof RT_SCOPE;

export const RT_TABLE_MAIN = 254;
const RTPROT_BOOT = 3;
const RTN_UNICAST = 1;
const RTA_DST = 1;
const RTA_OIF = 4;
const RTA_GATEWAY = 5;
const RTA_PRIORITY = 6;
const RTA_PREFSRC = 7;
const RTA_METRICS = 8;
const RTA_TABLE = 15;
const RTAX_MTU = 2;
const RTAX_ADVMSS = 8;

export interface RouteSpec {
  /** Destination prefix, "10.0.0.0/8", "0.0.0.0/0", "::/0". Host bits are cleared. */
  dst: string;
  /** Next hop. */
  gw?: string;
  /** Output interface index. */
  oif?: number;
  /** Default: "link" for a route without a gateway, "universe" otherwise. */
  scope?: RouteScopeName | number;
  /** Metric. */
  priority?: number;
  /** Routing table (default main, 254). */
  table?: number;
  /** Preferred source address (RTA_PREFSRC). */
  src?: string;
  mtu?: number;
  advmss?: number;
  /** Routing protocol (RTPROT_*, or a number of the caller's own, e.g. the agent's 152); default boot (3). */
  protocol?: number;
}

export interface RouteInfo {
  family: IpFamily;
  /** Destination as a prefix; "0.0.0.0/0" / "::/0" for a default route. */
  dst: string;
  gw?: string;
  oif?: number;
  scope: number;
  priority?: number;
  table: number;
  src?: string;
  /** RTPROT_*: 2 kernel, 3 boot, 4 static, ... */
  protocol: number;
  /** RTN_*: 1 unicast, 2 local, 3 broadcast, ... */
  type: number;
  mtu?: number;
  advmss?: number;
}

export interface AddRouteOptions {
  /** Replace a route with the same key instead of failing with EEXIST. */
  replace?: boolean;
}

export async function addRoute(rtnl: Rtnl, route: RouteSpec, options: AddRouteOptions = {}): Promise<void> {
  const op = `RTM_NEWROUTE ${describeRoute(route)}`;
  const flags = NLM_F.CREATE | (options.replace === true ? NLM_F.REPLACE : NLM_F.EXCL);
  await rtnl.request(op, RTM.NEWROUTE, routePayload(op, route, "add"), flags);
}

/**
 * Delete the route matching `route` (fields left out match anything, scope included); false when
 * there is no such route.
 */
export async function deleteRoute(rtnl: Rtnl, route: RouteSpec): Promise<boolean> {
  const op = `RTM_DELROUTE ${describeRoute(route)}`;
  try {
    await rtnl.request(op, RTM.DELROUTE, routePayload(op, route, "delete"));
    return true;
  } catch (err) {
    if (isErrno(err, "ESRCH") || isErrno(err, "ENOENT")) return false;
    throw err;
  }
}

export interface ListRoutesOptions {
  family?: IpFamily;
  /** Only this table (default main, 254); "all" for every table. */
  table?: number | "all";
  /** Only routes of this routing protocol (RTPROT_* or a number of the caller's own). */
  protocol?: number;
}

export async function listRoutes(rtnl: Rtnl, options: ListRoutesOptions = {}): Promise<RouteInfo[]> {
  const header: RtMsg = { family: options.family === undefined ? 0 : afOf(options.family) };
  const messages = await rtnl.dump("RTM_GETROUTE dump", RTM.GETROUTE, routeMessage(header, []));
  const table = options.table ?? RT_TABLE_MAIN;
  return messages
    .flatMap((m) => parseRouteInfo(m) ?? [])
    .filter((r) => (table === "all" || r.table === table) && (options.protocol === undefined || r.protocol === options.protocol));
}

function routePayload(op: string, route: RouteSpec, purpose: "add" | "delete"): Uint8Array[] {
  const dst = parseCidr(op, route.dst);
  const gw = route.gw === undefined ? undefined : parseIp(op, route.gw);
  const src = route.src === undefined ? undefined : parseIp(op, route.src);
  for (const other of [gw, src]) {
    if (other !== undefined && other.family !== dst.family) {
      throw new NetlinkError(op, osConstants.errno.EINVAL, "gateway / source family differs from the destination's");
    }
  }
  const table = route.table ?? RT_TABLE_MAIN;
  const header: RtMsg = {
    family: afOf(dst.family),
    dstLen: dst.prefixLen,
    table: table < 256 ? table : 0,
    // For a delete, protocol 0, type 0 and scope "nowhere" match any route.
    protocol: route.protocol ?? (purpose === "add" ? RTPROT_BOOT : 0),
    scope: routeScope(route, purpose),
    type: purpose === "add" ? RTN_UNICAST : 0,
  };
  const attrs: Encoded[] = [];
  if (dst.prefixLen > 0) attrs.push(attrBytes(RTA_DST, networkOf(dst.bytes, dst.prefixLen)));
  if (gw !== undefined) attrs.push(attrBytes(RTA_GATEWAY, gw.bytes));
  if (route.oif !== undefined) attrs.push(attrU32(RTA_OIF, route.oif));
  if (route.priority !== undefined) attrs.push(attrU32(RTA_PRIORITY, route.priority));
  if (src !== undefined) attrs.push(attrBytes(RTA_PREFSRC, src.bytes));
  if (table >= 256) attrs.push(attrU32(RTA_TABLE, table));
  const metrics = routeMetricsAttr(route);
  if (metrics !== undefined && purpose === "add") attrs.push(metrics);
  return routeMessage(header, attrs);
}

function routeScope(route: RouteSpec, purpose: "add" | "delete"): number {
  if (route.scope !== undefined) return typeof route.scope === "number" ? route.scope : RT_SCOPE[route.scope];
  if (purpose === "delete") return RT_SCOPE.nowhere;
  return route.gw === undefined ? RT_SCOPE.link : RT_SCOPE.universe;
}

/** RTA_METRICS { RTAX_MTU, RTAX_ADVMSS } (u32 each); undefined when neither is set. */
function routeMetricsAttr(route: RouteSpec): Encoded | undefined {
  if (route.mtu === undefined && route.advmss === undefined) return undefined;
  return attrNested(
    RTA_METRICS,
    route.mtu === undefined ? undefined : attrU32(RTAX_MTU, route.mtu),
    route.advmss === undefined ? undefined : attrU32(RTAX_ADVMSS, route.advmss),
  );
}

/** struct rtmsg followed by the attributes. */
function routeMessage(header: RtMsg, attrs: Encoded[]): Uint8Array[] {
  return [rtmsg(header), ...attrs.flat()];
}

function parseRouteInfo(message: RawMessage): RouteInfo | undefined {
  if (message.type !== RTM.NEWROUTE || message.data.length < RTMSG_LEN) return undefined;
  const h = parseRtmsg(message.data);
  const family = familyOfAf(h.family);
  if (family === undefined) return undefined;
  const attrs = parseAttrMap(message.data.subarray(RTMSG_LEN));
  const tableAttr = attrs.get(RTA_TABLE);
  const dstBytes = attrs.get(RTA_DST) ?? Buffer.alloc(family === 4 ? 4 : 16);
  const route: RouteInfo = {
    family,
    dst: `${formatIp(dstBytes)}/${h.dstLen}`,
    scope: h.scope,
    table: tableAttr === undefined ? h.table : readU32(tableAttr),
    protocol: h.protocol,
    type: h.type,
  };
  const gw = attrs.get(RTA_GATEWAY);
  if (gw !== undefined) route.gw = formatIp(gw);
  const oif = attrs.get(RTA_OIF);
  if (oif !== undefined) route.oif = readU32(oif);
  const priority = attrs.get(RTA_PRIORITY);
  if (priority !== undefined) route.priority = readU32(priority);
  const src = attrs.get(RTA_PREFSRC);
  if (src !== undefined) route.src = formatIp(src);
  const metrics = attrs.get(RTA_METRICS);
  if (metrics !== undefined) Object.assign(route, parseRouteMetrics(metrics));
  return route;
}

function parseRouteMetrics(metrics: Buffer): Pick<RouteInfo, "mtu" | "advmss"> {
  const m = parseAttrMap(metrics);
  const mtu = m.get(RTAX_MTU);
  const advmss = m.get(RTAX_ADVMSS);
  return { ...(mtu === undefined ? {} : { mtu: readU32(mtu) }), ...(advmss === undefined ? {} : { advmss: readU32(advmss) }) };
}

function describeRoute(route: RouteSpec): string {
  const parts = [route.dst];
  if (route.gw !== undefined) parts.push(`via ${route.gw}`);
  if (route.oif !== undefined) parts.push(`dev #${route.oif}`);
  if (route.table !== undefined) parts.push(`table ${route.table}`);
  if (route.priority !== undefined) parts.push(`metric ${route.priority}`);
  if (route.protocol !== undefined) parts.push(`proto ${route.protocol}`);
  return parts.join(" ");
}
