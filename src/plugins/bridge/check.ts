/**
 * Bridge mode CHECK against prevResult: the container interface, its addresses and routes, the
 * bridge and the host veth, and the IPAM reservation. Plugins chained after tether may add routes
 * or change the MTU; only what tether made and listed is required.
 */
import type { Invocation } from "../../cni/dispatch";
import { CniError, ErrorCode } from "../../cni/errors";
import type { Result } from "../../cni/types";
import { DEFAULT_BRIDGE, type NetConf } from "../../config/netconf";
import { familyOf, parseCidr } from "../attach";
import { ipamFor } from "../ipam";
import type { Kernel, KernelRoute, Link } from "../kernel";

function checkFailed(msg: string): CniError {
  return new CniError(ErrorCode.CheckFailed, msg);
}

export async function bridgeCheck(k: Kernel, inv: Invocation<NetConf>): Promise<void> {
  const prev = inv.prevResult;
  if (!prev) throw new CniError(ErrorCode.InvalidConfig, "prevResult: required for CHECK but missing");
  const ipam = ipamFor(inv);
  if (ipam) await ipam.check();

  const interfaces = prev.interfaces ?? [];
  const ifIndex = interfaces.findIndex((i) => i.name === inv.env.ifname && i.sandbox === inv.env.netns);
  if (ifIndex < 0) {
    throw checkFailed(`prevResult has no interface "${inv.env.ifname}" in sandbox ${inv.env.netns}`);
  }
  const host = await k.open();
  const container = await k.open(inv.env.netns);
  try {
    const link = await k.getLink(container, inv.env.ifname);
    if (!link) throw checkFailed(`interface "${inv.env.ifname}" not found in ${inv.env.netns}`);
    if (link.kind !== "veth") throw checkFailed(`interface "${inv.env.ifname}" is a ${link.kind ?? "link of unknown kind"}, not a veth`);
    const wantMac = interfaces[ifIndex]!.mac;
    if (wantMac && link.mac && wantMac.toLowerCase() !== link.mac.toLowerCase()) {
      throw checkFailed(`interface "${inv.env.ifname}" has MAC ${link.mac}, prevResult says ${wantMac}`);
    }
    await checkAddresses(k, container, link, prev, ifIndex);
    await checkRoutes(k, container, prev);
    await checkHostSide(k, host, link, prev, inv.conf.bridge ?? DEFAULT_BRIDGE, ifIndex);
  } finally {
    k.close(container);
    k.close(host);
  }
}

async function checkAddresses(k: Kernel, ns: Parameters<Kernel["listAddresses"]>[0], link: Link, prev: Result, ifIndex: number): Promise<void> {
  const have = await k.listAddresses(ns, link.index);
  for (const ip of prev.ips ?? []) {
    if (ip.interface !== undefined && ip.interface !== ifIndex) continue;
    const c = parseCidr(ip.address);
    if (!have.some((a) => a.address === c.ip && a.prefixLen === c.prefix)) {
      throw checkFailed(`address ${ip.address} not found on "${link.name}"`);
    }
  }
}

function routeMatches(r: KernelRoute, dst: string, gw: string | undefined): boolean {
  if (r.dst !== dst) return false;
  return gw === undefined || r.gw === gw;
}

async function checkRoutes(k: Kernel, ns: Parameters<Kernel["listRoutes"]>[0], prev: Result): Promise<void> {
  const routes = prev.routes ?? [];
  if (routes.length === 0) return;
  const byFamily = new Map<4 | 6, KernelRoute[]>();
  for (const r of routes) {
    const fam = familyOf(r.dst);
    if (!byFamily.has(fam)) byFamily.set(fam, await k.listRoutes(ns, fam));
    const dst = `${parseCidr(r.dst).ip}/${parseCidr(r.dst).prefix}`;
    if (!byFamily.get(fam)!.some((kr) => routeMatches(kr, dst, r.gw))) {
      throw checkFailed(`route to ${r.dst}${r.gw ? ` via ${r.gw}` : ""} not found in the container`);
    }
  }
}

async function checkHostSide(
  k: Kernel,
  host: Parameters<Kernel["getLink"]>[0],
  containerLink: Link,
  prev: Result,
  bridgeName: string,
  ifIndex: number,
): Promise<void> {
  const bridge = await k.getLink(host, bridgeName);
  if (!bridge) throw checkFailed(`bridge "${bridgeName}" not found`);
  if (bridge.kind !== "bridge") throw checkFailed(`"${bridgeName}" is a ${bridge.kind ?? "link of unknown kind"}, not a bridge`);
  const hostVeths = (prev.interfaces ?? []).filter((itf, i) => i !== ifIndex && !itf.sandbox && itf.name !== bridgeName);
  if (hostVeths.length === 0) throw checkFailed("prevResult lists no host-side veth");
  for (const itf of hostVeths) {
    const veth = await k.getLink(host, itf.name);
    if (!veth) throw checkFailed(`host veth "${itf.name}" not found`);
    if (veth.master !== bridge.index) throw checkFailed(`host veth "${itf.name}" is not a port of bridge "${bridgeName}"`);
    if (veth.peerIndex !== undefined && veth.peerIndex !== containerLink.index) {
      throw checkFailed(`host veth "${itf.name}" is not the peer of "${containerLink.name}"`);
    }
  }
}
