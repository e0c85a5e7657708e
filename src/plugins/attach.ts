/**
 * What bridge and ptp modes share: the veth into the container, its addresses and routes, the
 * result's IP list, the MAC a runtime asked for.
 */
import type { Invocation } from "../cni/dispatch";
import * as fs from "node:fs";
import { CniError, ErrorCode, descriptorExhaustion } from "../cni/errors";
import { toCniError } from "../cni/mapError";
import { compactDns } from "../cni/result";
import type { Dns, Interface, IpamResult, IpConfig, Result, Route } from "../cni/types";
import type { NetConf } from "../config/netconf";
import type { AttachmentKey, Firewall, NftFamily, SpoofCheckSpec } from "../firewall/index";
import { formatIp, networkOf, parseIp, withValue } from "../ipam/ip";
import { log } from "../util/log";
import { Rollback } from "../util/rollback";
import { randomHex } from "../util/random";
import { completeIntent, readRecord, readRecordState, recordPath, recordsDataDir, removeRecord, writeIntent, type AttachmentRecord } from "./attachmentRecord";
import { hostVethAlias } from "./hostVeth";
import type { Kernel, KernelRoute, Link, Ns } from "./kernel";

export interface Cidr {
  ip: string;
  prefix: number;
  family: 4 | 6;
}

export function parseCidr(text: string): Cidr {
  const [ip, len] = text.split("/");
  const parsed = parseIp(ip ?? "");
  if (!parsed) throw new CniError(ErrorCode.InvalidConfig, `${JSON.stringify(text)} is not a CIDR`);
  const bits = parsed.family === 4 ? 32 : 128;
  const prefix = len === undefined ? bits : Number(len);
  return { ip: formatIp(parsed), prefix, family: parsed.family };
}

export function familyOf(ipOrCidr: string): 4 | 6 {
  return parseCidr(ipOrCidr).family;
}

/** The subnet of an address ("10.1.2.3/16" -> "10.1.0.0/16"). */
export function subnetOf(cidr: string): string {
  const c = parseCidr(cidr);
  return `${formatIp(networkOf(parseIp(c.ip)!, c.prefix))}/${c.prefix}`;
}

/** network+1, the gateway a subnet gets when IPAM names none (as the reference bridge does). */
export function defaultGateway(cidr: string): string {
  const c = parseCidr(cidr);
  const net = networkOf(parseIp(c.ip)!, c.prefix);
  return formatIp(withValue(net.family, net.value + 1n));
}

/** runtimeConfig.mac > args.cni.mac > CNI_ARGS MAC=. */
export function requestedMac(inv: Invocation<NetConf>): string | undefined {
  return inv.conf.runtimeConfig?.mac ?? inv.conf.args?.cni?.mac ?? inv.args.mac;
}

/** Create CNI_IFNAME in the container with its peer in the host; undo pushed as soon as it exists. */
export async function createContainerVeth(
  k: Kernel,
  host: Ns,
  container: Ns,
  opts: { ifname: string; hostIfname: string; mtu?: number | undefined; mac?: string | undefined },
  rollback: Rollback,
): Promise<{ host: Link; container: Link }> {
  if (await k.getLink(container, opts.ifname)) {
    throw new CniError(
      ErrorCode.InterfaceExists,
      `CNI_IFNAME: interface "${opts.ifname}" already exists in ${container.path ?? "the container namespace"}`,
    );
  }
  // The undo goes first: createVeth can fail after the pair exists (looking up the host end). It
  // deletes by index what this call made; by name only a veth, and never after EEXIST (nothing was
  // made: someone else took the name since the check, which matters when CNI_NETNS_OVERRIDE makes
  // the "container" the node's own namespace).
  let made: Link | undefined;
  let nothingMade = false;
  rollback.push(`delete veth ${opts.ifname}`, async () => {
    if (made !== undefined) return k.deleteLink(container, made.index);
    if (nothingMade) return false;
    const link = await k.getLink(container, opts.ifname);
    return link?.kind === "veth" ? k.deleteLink(container, link.index) : false;
  });
  try {
    const pair = await k.createVeth(container, host, { name: opts.ifname, peerName: opts.hostIfname, mtu: opts.mtu, mac: opts.mac });
    made = pair.container;
    return pair;
  } catch (e) {
    nothingMade = (e as { code?: unknown }).code === "EEXIST";
    throw e;
  }
}

/** The result's `ips`: each IPAM address attributed to the container interface. */
export function resultIps(ipam: IpamResult, containerIndex: number, gatewayFor: (ip: string) => string | undefined): IpConfig[] {
  return ipam.ips.map((ip) => {
    const out: IpConfig = { address: ip.address, interface: containerIndex };
    const gw = ip.gateway ?? gatewayFor(ip.address);
    if (gw !== undefined) out.gateway = gw;
    return out;
  });
}

/**
 * Inside the container: DAD settings, addresses, link up, routes (each route's gateway defaults to
 * the gateway of an address of its family). Returns nothing; everything goes with the veth on undo.
 */
export async function configureContainerInterface(
  k: Kernel,
  container: Ns,
  link: Link,
  ips: readonly IpConfig[],
  routes: readonly Route[],
  opts: { enableDad: boolean },
): Promise<void> {
  await configureContainerAddresses(k, container, link, ips, { enableDad: opts.enableDad, noPrefixRoute: false });
  await addContainerRoutes(k, container, link, ips, routes);
}

/** DAD settings, the addresses, link up. */
export async function configureContainerAddresses(
  k: Kernel,
  container: Ns,
  link: Link,
  ips: readonly IpConfig[],
  opts: { enableDad: boolean; noPrefixRoute: boolean },
): Promise<void> {
  const hasV6 = ips.some((ip) => familyOf(ip.address) === 6);
  k.writeSysctl(container, `net/ipv4/conf/${link.name}/arp_notify`, "1", true);
  if (hasV6) {
    k.writeSysctl(container, `net/ipv6/conf/${link.name}/accept_dad`, opts.enableDad ? "1" : "0", true);
    if (opts.enableDad) k.writeSysctl(container, `net/ipv6/conf/${link.name}/enhanced_dad`, "1", true);
  }
  for (const ip of ips) {
    await k.addAddress(container, link.index, ip.address, { noDad: !opts.enableDad, noPrefixRoute: opts.noPrefixRoute });
  }
  await k.setLinkUp(container, link.index);
  // With DAD on, IPv6 addresses are tentative for a while: the container must not start with
  // addresses it cannot use yet (as the reference, which settles them before returning).
  if (hasV6 && opts.enableDad) await k.waitForDad(container, link.index);
}

/** The result's routes in the container, each gateway defaulting to that of an address of its family. */
export async function addContainerRoutes(
  k: Kernel,
  container: Ns,
  link: Link,
  ips: readonly IpConfig[],
  routes: readonly Route[],
): Promise<void> {
  for (const r of routes) {
    const fam = familyOf(r.dst);
    const gw = r.gw ?? ips.find((ip) => ip.gateway !== undefined && familyOf(ip.address) === fam)?.gateway;
    await k.addRoute(container, {
      dst: r.dst,
      gw,
      oif: link.index,
      priority: r.priority,
      table: r.table,
      scope: r.scope,
      mtu: r.mtu,
      advmss: r.advmss,
    });
  }
}

/** Default routes for isDefaultGateway: one per family with a gateway, unless IPAM routes have one. */
export function defaultRoutes(ips: readonly IpConfig[], ipamRoutes: readonly Route[]): Route[] {
  const out: Route[] = [];
  for (const fam of [4, 6] as const) {
    const dst = fam === 4 ? "0.0.0.0/0" : "::/0";
    // An IPAM default route (with or without its own gateway: it gets the address's) already does it.
    if (ipamRoutes.some((r) => familyOf(r.dst) === fam && parseCidr(r.dst).prefix === 0)) continue;
    const gw = ips.find((ip) => ip.gateway !== undefined && familyOf(ip.address) === fam)?.gateway;
    if (gw !== undefined) out.push({ dst, gw });
  }
  return out;
}

/**
 * The result's dns: the runtime's (capability `dns`: servers/searches/options) over the config's
 * `dns` over the IPAM's.
 */
export function resultDns(ipamDns: Dns | undefined, conf: NetConf): Dns | undefined {
  const rc = conf.runtimeConfig?.dns;
  const runtime = rc && compactDns({ nameservers: rc.servers, search: rc.searches, options: rc.options });
  return runtime ?? compactDns(conf.dns) ?? compactDns(ipamDns);
}

/**
 * tether after another plugin in a chain: the previous result stays in the output (spec), with
 * tether's interfaces appended and its IPs' interface indexes shifted to match.
 */
export function mergePrevResult(prev: Result | undefined, ours: Result): Result {
  if (!prev) return ours;
  const before: Interface[] = prev.interfaces ?? [];
  const shift = before.length;
  const out: Result = { cniVersion: ours.cniVersion };
  const interfaces = [...before, ...(ours.interfaces ?? [])];
  if (interfaces.length > 0) out.interfaces = interfaces;
  const ips = [
    ...(prev.ips ?? []),
    ...(ours.ips ?? []).map((ip) => (ip.interface === undefined ? ip : { ...ip, interface: ip.interface + shift })),
  ];
  if (ips.length > 0) out.ips = ips;
  const routes = [...(prev.routes ?? []), ...(ours.routes ?? [])];
  if (routes.length > 0) out.routes = routes;
  const dns = ours.dns ?? prev.dns;
  if (dns) out.dns = dns;
  return out;
}

/** What an ADD works with: the node's namespace, the container's, the undo stack, and the host veth's name to be. */
export interface AddContext {
  host: Ns;
  container: Ns;
  rollback: Rollback;
  /** Chosen before anything exists and written in the attachment's record (declareAttachment). */
  hostIfname: string;
}

/**
 * One ADD as a transaction, for both modes: `build` pushes an undo step the moment each resource
 * exists; on success prevResult is kept in front of tether's own result, on failure every undo runs
 * in reverse and the error reaches the runtime as a CNI error. Namespaces are closed on every path.
 */
export async function runAdd(k: Kernel, inv: Invocation<NetConf>, build: (ctx: AddContext) => Promise<Result>): Promise<Result> {
  // Before anything exists: an undo must never be the thing that runs out of descriptors.
  const reserve = FdReserve.take();
  const rollback = new Rollback();
  let host: Ns | undefined;
  let container: Ns | undefined;
  try {
    host = await k.open();
    container = await k.open(inv.env.netns, { allowOwn: inv.env.netnsOverride });
    const hostIfname = declareAttachment(inv, rollback);
    const result = await build({ host, container, rollback, hostIfname });
    completeAttachment(inv);
    rollback.commit();
    return mergePrevResult(inv.prevResult, result);
  } catch (err) {
    reserve.release();
    const failures = await rollback.run();
    for (const f of failures) log.error(`rollback step failed: ${f.what}`, { error: String(f.error) });
    throw withLeftovers(toCniError(err), failures);
  } finally {
    reserve.release();
    if (container) k.close(container);
    if (host) k.close(host);
  }
}

/** The ADD's error, saying what its rollback could not undo (the runtime's DEL, or `tether doctor --fix`, removes it). */
function withLeftovers(err: unknown, failures: readonly { what: string; error: unknown }[]): unknown {
  if (failures.length === 0) return err;
  const left = failures.map((f) => `${f.what} (${f.error instanceof Error ? f.error.message : String(f.error)})`).join("; ");
  const code = err instanceof CniError ? err.code : ErrorCode.Internal;
  const msg = err instanceof Error ? err.message : String(err);
  const details = err instanceof CniError ? err.details : undefined;
  return new CniError(code, `${msg}; left behind, could not be undone: ${left}`, details, { cause: err });
}

/**
 * A few descriptors held open (on /dev/null) from the start of an ADD and let go when it fails, so
 * its rollback (the IPAM lock and store, nft's pipes) has them even when the failure was running
 * out. An ADD that cannot even take them is refused before it makes anything (code 11).
 */
class FdReserve {
  static readonly SIZE = 16;
  private constructor(private fds: number[]) {}
  static take(): FdReserve {
    const fds: number[] = [];
    try {
      for (let i = 0; i < FdReserve.SIZE; i++) fds.push(fs.openSync("/dev/null", "r"));
    } catch (e) {
      for (const fd of fds) fs.closeSync(fd);
      if (descriptorExhaustion(e) === undefined) return new FdReserve([]);
      throw new CniError(
        ErrorCode.TryAgainLater,
        `out of file descriptors (${(e as NodeJS.ErrnoException).code}) before the ADD began: tether keeps ${FdReserve.SIZE} in reserve so that a failed ADD can always be undone`,
        "raise the open-file limit (ulimit -n) of the runtime",
        { cause: e },
      );
    }
    return new FdReserve(fds);
  }
  release(): void {
    for (const fd of this.fds) fs.closeSync(fd);
    this.fds = [];
  }
}

// ---- firewall: masquerade and spoof checks, keyed by the attachment ----

export function attachmentKey(inv: Invocation<NetConf>): AttachmentKey {
  return { network: inv.conf.name, containerId: inv.env.containerId, ifname: inv.env.ifname };
}

function wantsSpoofCheck(conf: NetConf): boolean {
  return conf.macspoofchk || conf.ipspoofchk;
}

/**
 * ipMasq and the spoof checks of a new attachment. The undo (keyed removal, a no-op when nothing is
 * there) is pushed before each change, so a half-applied change is undone too.
 */
export async function installFirewall(
  fw: () => Firewall,
  inv: Invocation<NetConf>,
  opts: { layer: NftFamily; hostIfname: string; containerMac: string | undefined; ips: readonly IpConfig[] },
  rollback: Rollback,
): Promise<void> {
  const conf = inv.conf;
  const key = attachmentKey(inv);
  if (conf.ipMasq && opts.ips.length > 0) {
    const firewall = fw();
    rollback.push("remove masquerade rules", () => firewall.removeMasquerade(key));
    await firewall.addMasquerade(key, opts.ips.map((ip) => ip.address), conf.ipMasqBackend);
  }
  if (wantsSpoofCheck(conf)) {
    const spec: SpoofCheckSpec = { family: opts.layer, hostIfname: opts.hostIfname };
    if (conf.macspoofchk) {
      if (opts.containerMac === undefined) throw new CniError(ErrorCode.Internal, "macspoofchk: the container interface's MAC is unknown");
      spec.mac = opts.containerMac;
    }
    if (conf.ipspoofchk) spec.addresses = opts.ips.map((ip) => ip.address);
    const firewall = fw();
    rollback.push("remove spoof-check rules", () => firewall.removeSpoofCheck(key));
    await firewall.addSpoofCheck(key, spec);
  }
}

/** DEL: the attachment's rules, found by its key alone (works without netns or prevResult). */
export async function removeFirewall(fw: () => Firewall, inv: Invocation<NetConf>): Promise<void> {
  const key = attachmentKey(inv);
  if (inv.conf.ipMasq) await fw().removeMasquerade(key);
  if (wantsSpoofCheck(inv.conf)) await fw().removeSpoofCheck(key);
}

/** CHECK: the rules ADD made must still be there. */
export async function checkFirewall(fw: () => Firewall, inv: Invocation<NetConf>, ips: readonly IpConfig[]): Promise<void> {
  const key = attachmentKey(inv);
  if (inv.conf.ipMasq && ips.length > 0 && !(await fw().hasMasquerade(key))) {
    throw new CniError(ErrorCode.CheckFailed, "ipMasq: the attachment's masquerade rules are missing");
  }
  if (wantsSpoofCheck(inv.conf) && !(await fw().hasSpoofCheck(key))) {
    throw new CniError(ErrorCode.CheckFailed, "the attachment's spoof-check rules are missing");
  }
}

// ---- what GC and doctor need to find an attachment later ----

/**
 * The attachment's record, written before its first resource exists as an intent (renamed to the
 * record by completeAttachment when the ADD succeeds): its netns path and the name its host veth will get. So a DEL or `tether doctor` after an ADD killed at any point
 * knows what the attachment may hold, and DEL can tell its veth from one tether never made. Best
 * effort: without it doctor is blind to a killed ADD, nothing more. The rollback removes it last,
 * and only when every other undo worked (what is left stays visible to doctor).
 */
export function declareAttachment(inv: Invocation<NetConf>, rollback: Rollback): string {
  const key = attachmentKey(inv);
  const hostIfname = `veth${randomHex(4)}`;
  const dataDir = recordsDataDir(inv.raw["ipam"]);
  if (dataDir === undefined) return hostIfname;
  // A record of the same key: an attachment that exists (this ADD will be refused) or one whose DEL
  // never came. It is theirs as much as ours: kept (its veth name too), never removed by a rollback.
  const existing = readRecordState(dataDir, key);
  if (existing !== undefined) {
    // Another namespace: this ADD's intent, in the record's place (completeAttachment makes it the record again).
    if (existing.record.netns !== inv.env.netns) {
      try {
        writeIntent(dataDir, { ...existing.record, netns: inv.env.netns });
        if (!existing.intent) fs.rmSync(recordPath(dataDir, key), { force: true });
      } catch (e) {
        log.warn("attachment record not updated", { error: String(e) });
      }
    }
    return existing.record.hostIfname;
  }
  rollback.push("remove attachment record", () => {
    if (rollback.failedSoFar > 0) throw new Error("kept: an earlier undo failed, the record lets DEL and doctor find what is left");
    removeRecord(dataDir, key);
  });
  try {
    writeIntent(dataDir, { ...key, netns: inv.env.netns, hostIfname });
  } catch (e) {
    log.warn("attachment record not written", { error: String(e) });
  }
  return hostIfname;
}

/**
 * The ADD succeeded: its intent becomes the attachment's record. A failure fails the ADD (its
 * rollback runs): an intent left beside a working attachment would let `doctor --fix` undo it.
 */
export function completeAttachment(inv: Invocation<NetConf>): void {
  const dataDir = recordsDataDir(inv.raw["ipam"]);
  if (dataDir === undefined) return;
  try {
    completeIntent(dataDir, attachmentKey(inv));
  } catch (e) {
    throw new CniError(ErrorCode.IoFailure, `cannot complete the attachment record in ${dataDir}: ${(e as NodeJS.ErrnoException).code ?? String(e)}`, undefined, { cause: e });
  }
}

/** Label the host veth with the attachment's key (IFLA_IFALIAS): GC, DEL and doctor find it by that. */
export async function labelHostVeth(k: Kernel, host: Ns, hostVeth: Link, inv: Invocation<NetConf>): Promise<void> {
  await k.setAlias(host, hostVeth.index, hostVethAlias(attachmentKey(inv)));
}

/** The attachment's record, if it has one that parses. */
export function attachmentRecordOf(inv: Invocation<NetConf>): AttachmentRecord | undefined {
  const dataDir = recordsDataDir(inv.raw["ipam"]);
  return dataDir === undefined ? undefined : readRecord(dataDir, attachmentKey(inv));
}

/** DEL: the attachment's record goes (best effort: a leftover record only makes doctor look twice). */
export function forgetAttachment(inv: Invocation<NetConf>): void {
  const dataDir = recordsDataDir(inv.raw["ipam"]);
  if (dataDir === undefined) return;
  try {
    removeRecord(dataDir, attachmentKey(inv));
  } catch (e) {
    log.warn("attachment record not removed", { error: String(e) });
  }
}

// ---- CHECK of the container side, against prevResult ----

export function checkFailed(msg: string): CniError {
  return new CniError(ErrorCode.CheckFailed, msg);
}

/** prevResult, required by CHECK. */
export function requirePrevResult(inv: Invocation<NetConf>): Result {
  if (!inv.prevResult) throw new CniError(ErrorCode.InvalidConfig, "prevResult: required for CHECK but missing");
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
    if (!have.some((a) => a.address === c.ip && a.prefixLen === c.prefix)) {
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

const MAIN_TABLE = 254;

async function checkRoutes(k: Kernel, ns: Ns, routes: readonly Route[]): Promise<void> {
  const byFamily = new Map<4 | 6, KernelRoute[]>();
  for (const r of routes) {
    const fam = familyOf(r.dst);
    // Every table: a route may name its own (route.table, CNI 1.1).
    if (!byFamily.has(fam)) byFamily.set(fam, await k.listRoutes(ns, fam, true));
    const dst = subnetOf(r.dst); // as the kernel lists it: host bits cleared
    const table = r.table ?? MAIN_TABLE;
    const found = byFamily.get(fam)!.some((kr) => kr.dst === dst && (kr.table ?? MAIN_TABLE) === table && (r.gw === undefined || kr.gw === r.gw));
    if (!found) {
      throw checkFailed(`route to ${r.dst}${r.gw ? ` via ${r.gw}` : ""} not found in the container`);
    }
  }
}
