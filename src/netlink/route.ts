/** Routes (RTM_NEWROUTE / RTM_DELROUTE / RTM_GETROUTE). */
import { endianness, constants as osConstants } from "node:os";
import { NetlinkError, isErrno } from "./errors";
import { type CidrValue, type Ip, cidrOf } from "../ip/ip";
import { type IpFamily, addressText, afOf, familyOfAf, formatIp, ipOfBytes, networkOf, parseCidr, parseIp, prefixText } from "./ip";
import { type Encoded, attrBytes, attrNested, attrU32, parseAttrMap, readU32 } from "./nlattr";
import { RTMSG_LEN, type RtMsg, rtmsg } from "./msg";
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
/** RTM_GETROUTE of one address: answer with the matching route as the table holds it (kernel 4.13+) ... */
const RTM_F_FIB_MATCH = 0x2000;
/** ... naming the table the lookup found it in (else the answer says main, 254). */
const RTM_F_LOOKUP_TABLE = 0x1000;

export interface RouteSpec {
  /** Destination prefix, "10.0.0.0/8", "0.0.0.0/0", "::/0" (text, or a src/ip value). Host bits are cleared. */
  dst: string | CidrValue;
  /** Next hop. */
  gw?: string | Ip;
  /** Output interface index. */
  oif?: number;
  /** Default: "link" for a route without a gateway, "universe" otherwise. */
  scope?: RouteScopeName | number;
  /** Metric. */
  priority?: number;
  /** Routing table (default main, 254). */
  table?: number;
  /** Preferred source address (RTA_PREFSRC). */
  src?: string | Ip;
  mtu?: number;
  advmss?: number;
  /** Routing protocol (RTPROT_*, or a number of the caller's own, e.g. the agent's 152); default boot (3). */
  protocol?: number;
}

/** A route the kernel listed, its prefix as P and its addresses as A (text, or src/ip values). */
export interface RouteOf<P, A> {
  family: IpFamily;
  /** Destination as a prefix; "0.0.0.0/0" / "::/0" for a default route. */
  dst: P;
  gw?: A;
  oif?: number;
  scope: number;
  priority?: number;
  table: number;
  src?: A;
  /** RTPROT_*: 2 kernel, 3 boot, 4 static, ... */
  protocol: number;
  /** RTN_*: 1 unicast, 2 local, 3 broadcast, ... */
  type: number;
  mtu?: number;
  advmss?: number;
}

/** A listed route as text (the agent's, the doctor's). */
export type RouteInfo = RouteOf<string, string>;
/** A listed route as src/ip values (the Kernel port's). */
export type RouteValue = RouteOf<CidrValue, Ip>;

/** How a listed route's addresses are read from the kernel's bytes. */
interface AddressReader<P, A> {
  prefix(bytes: Buffer, len: number): P;
  ip(bytes: Buffer): A;
}

const AS_TEXT: AddressReader<string, string> = { prefix: (b, len) => `${formatIp(b)}/${len}`, ip: formatIp };
const AS_VALUES: AddressReader<CidrValue, Ip> = { prefix: (b, len) => cidrOf(ipOfBytes(b), len), ip: ipOfBytes };

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

/** Routes of one batch; `R` is the caller's own route type (text routes for the agent). */
export interface RouteChanges<R extends RouteSpec = RouteSpec> {
  /** Deleted first (fields left out match anything, as in deleteRoute); a route already gone is no failure. */
  delete?: readonly R[];
  /** Then added (EXCL: an existing route with the same key is a failure, never replaced). */
  add?: readonly R[];
}

/** A text route (the agent's). */
export type TextRouteSpec = RouteSpec & { dst: string; gw?: string; src?: string };

/** One batch of route changes (Rtnl.requestMany); returns the failures, each with its route. */
export async function applyRouteChanges<R extends RouteSpec = TextRouteSpec>(rtnl: Rtnl, changes: RouteChanges<R>): Promise<{ route: R; op: "add" | "delete"; error: Error }[]> {
  const items: { route: R; op: "add" | "delete" }[] = [];
  const reqs: { op: string; type: number; payload: Uint8Array[]; flags?: number }[] = [];
  for (const route of changes.delete ?? []) {
    const op = `RTM_DELROUTE ${describeRoute(route)}`;
    items.push({ route, op: "delete" });
    reqs.push({ op, type: RTM.DELROUTE, payload: routePayload(op, route, "delete") });
  }
  for (const route of changes.add ?? []) {
    const op = `RTM_NEWROUTE ${describeRoute(route)}`;
    items.push({ route, op: "add" });
    reqs.push({ op, type: RTM.NEWROUTE, payload: routePayload(op, route, "add"), flags: NLM_F.CREATE | NLM_F.EXCL });
  }
  const results = await rtnl.requestMany(reqs);
  const failures: { route: R; op: "add" | "delete"; error: Error }[] = [];
  results.forEach((r, i) => {
    const item = items[i]!;
    if (r.status === "fulfilled") return;
    if (item.op === "delete" && (isErrno(r.reason, "ESRCH") || isErrno(r.reason, "ENOENT"))) return;
    failures.push({ ...item, error: r.reason instanceof Error ? r.reason : new Error(String(r.reason)) });
  });
  return failures;
}

export interface ListRoutesOptions {
  family?: IpFamily;
  /** Only this table (default main, 254); "all" for every table. */
  table?: number | "all";
  /** Only routes of this routing protocol (RTPROT_* or a number of the caller's own). */
  protocol?: number;
}

export function listRoutes(rtnl: Rtnl, options: ListRoutesOptions = {}): Promise<RouteInfo[]> {
  return dumpRoutes(rtnl, options, AS_TEXT);
}

/** listRoutes with src/ip values for prefixes and addresses, read from the kernel's bytes. */
export function listRouteValues(rtnl: Rtnl, options: ListRoutesOptions = {}): Promise<RouteValue[]> {
  return dumpRoutes(rtnl, options, AS_VALUES);
}

async function dumpRoutes<P, A>(rtnl: Rtnl, options: ListRoutesOptions, read: AddressReader<P, A>): Promise<RouteOf<P, A>[]> {
  const header: RtMsg = { family: options.family === undefined ? 0 : afOf(options.family) };
  const messages = await rtnl.dump("RTM_GETROUTE dump", RTM.GETROUTE, routeMessage(header, []));
  const table = options.table ?? RT_TABLE_MAIN;
  const out: RouteOf<P, A>[] = [];
  for (const m of messages) {
    // rtm_protocol is byte 5 of struct rtmsg: skip other protocols' routes before parsing them.
    if (options.protocol !== undefined && m.data[5] !== options.protocol) continue;
    const r = parseRoute(m, read);
    if (r !== undefined && (table === "all" || r.table === table)) out.push(r);
  }
  return out;
}

/**
 * The route the kernel would use to reach `address` from this host (RTM_GETROUTE of that one
 * address, policy rules and every table considered, as for a packet the host sends): its prefix,
 * output interface, gateway and table. One lookup, where a dump of the table grows with every
 * route the node has. undefined when nothing routes it: no route (ENETUNREACH), or an
 * unreachable (EHOSTUNREACH), prohibit (EACCES) or blackhole (EINVAL) route. A kernel older than
 * 4.13 ignores RTM_F_FIB_MATCH and answers with the resolved route (dst the address itself).
 */
export function routeGet(rtnl: Rtnl, address: string | Ip): Promise<RouteInfo | undefined> {
  return lookupRoute(rtnl, address, AS_TEXT);
}

/** routeGet with src/ip values. */
export function routeGetValue(rtnl: Rtnl, address: string | Ip): Promise<RouteValue | undefined> {
  return lookupRoute(rtnl, address, AS_VALUES);
}

async function lookupRoute<P, A>(rtnl: Rtnl, address: string | Ip, read: AddressReader<P, A>): Promise<RouteOf<P, A> | undefined> {
  const op = `RTM_GETROUTE ${addressText(address)}`;
  const ip = parseIp(op, address);
  const header: RtMsg = { family: afOf(ip.family), dstLen: ip.family === 4 ? 32 : 128, flags: RTM_F_FIB_MATCH | RTM_F_LOOKUP_TABLE };
  let messages: RawMessage[];
  try {
    messages = await rtnl.request(op, RTM.GETROUTE, routeMessage(header, [attrBytes(RTA_DST, ip.bytes)]));
  } catch (err) {
    if (isErrno(err, "ENETUNREACH") || isErrno(err, "EHOSTUNREACH") || isErrno(err, "EACCES") || isErrno(err, "EINVAL")) return undefined;
    throw err;
  }
  for (const m of messages) {
    const r = parseRoute(m, read);
    if (r !== undefined) return r;
  }
  return undefined;
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

/** Netlink headers and attributes are in host byte order. */
const LITTLE_ENDIAN = endianness() === "LE";
const u16 = (b: Buffer, off: number): number => (LITTLE_ENDIAN ? b.readUInt16LE(off) : b.readUInt16BE(off));
const u32 = (b: Buffer, off: number): number => (LITTLE_ENDIAN ? b.readUInt32LE(off) : b.readUInt32BE(off));

function parseRoute<P, A>(message: RawMessage, read: AddressReader<P, A>): RouteOf<P, A> | undefined {
  const data = message.data;
  if (message.type !== RTM.NEWROUTE || data.length < RTMSG_LEN) return undefined;
  const family = familyOfAf(data[0] ?? 0);
  if (family === undefined) return undefined;
  // Attributes walked in place (a dump of thousands of routes: no Map or object per attribute).
  let dstBytes: Buffer | undefined;
  let gw: Buffer | undefined;
  let oif: number | undefined;
  let priority: number | undefined;
  let src: Buffer | undefined;
  let tableAttr: number | undefined;
  let metrics: Buffer | undefined;
  for (let off = RTMSG_LEN; off + 4 <= data.length; ) {
    const len = u16(data, off);
    const type = u16(data, off + 2) & 0x3fff;
    if (len < 4 || off + len > data.length) break;
    const start = off + 4;
    const end = off + len;
    switch (type) {
      case RTA_DST:
        dstBytes = data.subarray(start, end);
        break;
      case RTA_GATEWAY:
        gw = data.subarray(start, end);
        break;
      case RTA_OIF:
        if (len >= 8) oif = u32(data, start);
        break;
      case RTA_PRIORITY:
        if (len >= 8) priority = u32(data, start);
        break;
      case RTA_PREFSRC:
        src = data.subarray(start, end);
        break;
      case RTA_TABLE:
        if (len >= 8) tableAttr = u32(data, start);
        break;
      case RTA_METRICS:
        metrics = data.subarray(start, end);
        break;
    }
    off += (len + 3) & ~3;
  }
  const route: RouteOf<P, A> = {
    family,
    dst: read.prefix(dstBytes ?? Buffer.alloc(family === 4 ? 4 : 16), data[1] ?? 0),
    scope: data[6] ?? 0,
    table: tableAttr ?? data[4] ?? 0,
    protocol: data[5] ?? 0,
    type: data[7] ?? 0,
  };
  if (gw !== undefined) route.gw = read.ip(gw);
  if (oif !== undefined) route.oif = oif;
  if (priority !== undefined) route.priority = priority;
  if (src !== undefined) route.src = read.ip(src);
  if (metrics !== undefined) Object.assign(route, parseRouteMetrics(metrics));
  return route;
}

function parseRouteMetrics(metrics: Buffer): { mtu?: number; advmss?: number } {
  const m = parseAttrMap(metrics);
  const mtu = m.get(RTAX_MTU);
  const advmss = m.get(RTAX_ADVMSS);
  return { ...(mtu === undefined ? {} : { mtu: readU32(mtu) }), ...(advmss === undefined ? {} : { advmss: readU32(advmss) }) };
}

function describeRoute(route: RouteSpec): string {
  const parts = [prefixText(route.dst)];
  if (route.gw !== undefined) parts.push(`via ${addressText(route.gw)}`);
  if (route.oif !== undefined) parts.push(`dev #${route.oif}`);
  if (route.table !== undefined) parts.push(`table ${route.table}`);
  if (route.priority !== undefined) parts.push(`metric ${route.priority}`);
  if (route.protocol !== undefined) parts.push(`proto ${route.protocol}`);
  return parts.join(" ");
}
