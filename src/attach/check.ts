/** CHECK of the container side, against prevResult. */
import type { Invocation } from "../cni/dispatch";
import type { IpConfig, Result, Route } from "../cni/types";
import type { NetConf } from "../config/netconf";
import { parseAddress, parseCidr, subnetOf } from "../ip/cidr";
import { ipEquals, sameCidr } from "../ip/ip";
import { type Kernel, type KernelRoute, type Link, type Ns, MAIN_TABLE } from "../kernel/port";
import { PluginError } from "./errors";

export function checkFailed(msg: string): PluginError {
  return new PluginError("check-failed", msg);
}

/** prevResult, required by CHECK. */
export function requirePrevResult(inv: Invocation<NetConf>): Result {
  if (!inv.prevResult) throw new PluginError("config", "prevResult: required for CHECK but missing");
  return inv.prevResult;
}

/** The index of CNI_IFNAME (in CNI_NETNS) among prevResult's interfaces. */
export function containerInterfaceIndex(inv: Invocation<NetConf>, prev: Result): number {
  const i = (prev.interfaces ?? []).findIndex((itf) => itf.name === inv.env.ifname && itf.sandbox === inv.env.netns);
  if (i < 0) throw checkFailed(`prevResult has no interface "${inv.env.ifname}" in sandbox ${inv.env.netns}`);
  return i;
}

/**
 * The container interface exists, is a veth with prevResult's MAC, and carries its addresses; the
 * result's routes exist. Later plugins may add routes or change the MTU: only what is listed counts.
 */
export async function checkContainerSide(k: Kernel, container: Ns, inv: Invocation<NetConf>, prev: Result, ifIndex: number): Promise<Link> {
  const link = await k.getLink(container, inv.env.ifname);
  if (!link) throw checkFailed(`interface "${inv.env.ifname}" not found in ${inv.env.netns}`);
  if (link.kind !== "veth") throw checkFailed(`interface "${inv.env.ifname}" is a ${link.kind ?? "link of unknown kind"}, not a veth`);
  const wantMac = prev.interfaces?.[ifIndex]?.mac;
  if (wantMac && link.mac && wantMac.toLowerCase() !== link.mac.toLowerCase()) {
    throw checkFailed(`interface "${inv.env.ifname}" has MAC ${link.mac}, prevResult says ${wantMac}`);
  }
  const have = await k.listAddresses(container, link.index);
  for (const ip of ipsOf(prev, ifIndex)) {
    const c = parseCidr(ip.address);
    if (!have.some((a) => sameCidr(a.cidr, c))) {
      throw checkFailed(`address ${ip.address} not found on "${link.name}"`);
    }
  }
  await checkRoutes(k, container, prev.routes ?? []);
  return link;
}

/** The IPs prevResult attributes to interface `ifIndex` (or to no interface). */
export function ipsOf(prev: Result, ifIndex: number): IpConfig[] {
  return (prev.ips ?? []).filter((ip) => ip.interface === undefined || ip.interface === ifIndex);
}


async function checkRoutes(k: Kernel, ns: Ns, routes: readonly Route[]): Promise<void> {
  const byFamily = new Map<4 | 6, KernelRoute[]>();
  for (const r of routes) {
    const c = parseCidr(r.dst);
    const fam = c.ip.family;
    // Every table: a route may name its own (route.table, CNI 1.1).
    if (!byFamily.has(fam)) byFamily.set(fam, await k.listRoutes(ns, fam, true));
    const dst = subnetOf(c); // as the kernel lists it: host bits cleared
    const gw = r.gw === undefined ? undefined : parseAddress(r.gw);
    const table = r.table ?? MAIN_TABLE;
    const found = byFamily.get(fam)!.some((kr) => sameCidr(kr.dst, dst) && (kr.table ?? MAIN_TABLE) === table && (gw === undefined || (kr.gw !== undefined && ipEquals(kr.gw, gw))));
    if (!found) {
      throw checkFailed(`route to ${r.dst}${r.gw ? ` via ${r.gw}` : ""} not found in the container`);
    }
  }
}
