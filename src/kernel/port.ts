/**
 * What the plugins need from the kernel, as one interface: the real implementation sits on
 * src/netlink, and unit tests substitute a fake that can fail at any step.
 */
import type { CidrValue, Ip } from "../ip/ip";
import { withFaultPoints } from "../util/faults";
import { lazy } from "../util/lazy";

const netlinkKernelModule = lazy(() => require("./netlinkKernel") as typeof import("./netlinkKernel"));

export interface Link {
  index: number;
  name: string;
  kind?: string | undefined;
  mac?: string | undefined;
  mtu: number;
  up: boolean;
  master?: number | undefined;
  promisc: boolean;
  /** For a veth: the peer's index (in the peer's namespace). */
  peerIndex?: number | undefined;
  /** For a veth whose peer is in another namespace: that namespace's id (absent: same namespace). */
  peerNetnsId?: number | undefined;
  /** IFLA_IFALIAS; tether labels each host veth with its attachment's key (src/attach/hostVeth.ts). */
  alias?: string | undefined;
}

/** An address of a link, as the kernel lists it. */
export interface Address {
  index: number;
  family: 4 | 6;
  /** The address (as the kernel has it: ::ffff:a.b.c.d stays IPv6) with its prefix length. */
  cidr: CidrValue;
}

/** RT_SCOPE_* values (linux/rtnetlink.h). */
export const ROUTE_SCOPE = { universe: 0, link: 253, host: 254 } as const;
/** RT_TABLE_MAIN: the table a route goes to when it names none. */
export const MAIN_TABLE = 254;

/** A route to add: values parsed once at the edge (config, IPAM result); bytes only inside src/netlink. */
export interface RouteSpec {
  /** The destination; its host bits are cleared on the way to the kernel. */
  dst: CidrValue;
  gw?: Ip | undefined;
  oif?: number | undefined;
  scope?: number | undefined;
  priority?: number | undefined;
  table?: number | undefined;
  src?: Ip | undefined;
  mtu?: number | undefined;
  advmss?: number | undefined;
}

/** A route as the kernel lists it. */
export interface KernelRoute {
  family: 4 | 6;
  /** The destination prefix (host bits clear; 0.0.0.0/0 or ::/0 for a default route). */
  dst: CidrValue;
  gw?: Ip | undefined;
  oif?: number | undefined;
  scope?: number | undefined;
  src?: Ip | undefined;
  table?: number | undefined;
  priority?: number | undefined;
}

/** A namespace opened for configuration: the host's (path undefined) or a container's. */
export interface Ns {
  readonly path: string | undefined;
}

export interface Kernel {
  /**
   * Open a namespace (undefined = the one tether runs in). Fails if the path is not a netns, or is
   * tether's own namespace unless `allowOwn` (CNI_NETNS_OVERRIDE).
   */
  open(path?: string, options?: { allowOwn?: boolean }): Promise<Ns>;
  close(ns: Ns): void;
  getLink(ns: Ns, name: string): Promise<Link | undefined>;
  getLinkByIndex(ns: Ns, index: number): Promise<Link | undefined>;
  listLinks(ns: Ns): Promise<Link[]>;
  setAlias(ns: Ns, index: number, alias: string): Promise<void>;
  /** Create the bridge if absent; an existing link of that name that is not a bridge is an error. */
  ensureBridge(ns: Ns, opts: { name: string; mtu?: number | undefined; vlanFiltering?: boolean }): Promise<{ link: Link; created: boolean }>;
  /**
   * Create a veth pair inside `container` named `name`, its peer placed in `host`, named `peerName`
   * (chosen before, so the attachment's record can name it before it exists), else `veth<hex>`.
   */
  createVeth(
    container: Ns,
    host: Ns,
    opts: { name: string; peerName?: string | undefined; mtu?: number | undefined; mac?: string | undefined },
  ): Promise<{ container: Link; host: Link }>;
  deleteLink(ns: Ns, nameOrIndex: string | number): Promise<boolean>;
  setLinkUp(ns: Ns, index: number): Promise<void>;
  setMaster(ns: Ns, index: number, master: number): Promise<void>;
  setMac(ns: Ns, index: number, mac: string): Promise<void>;
  setPromisc(ns: Ns, index: number, on: boolean): Promise<void>;
  setBridgePort(ns: Ns, index: number, opts: { hairpin?: boolean; isolated?: boolean }): Promise<void>;
  addBridgeVlan(ns: Ns, index: number, vid: number, opts: { pvid: boolean; untagged: boolean }): Promise<void>;
  /** Remove a VID from a bridge port; false when the port did not carry it. */
  deleteBridgeVlan(ns: Ns, index: number, vid: number): Promise<boolean>;
  /** noPrefixRoute: the kernel adds no route to the address's subnet (ptp routes it via the gateway). */
  addAddress(ns: Ns, index: number, cidr: CidrValue, opts: { noDad: boolean; noPrefixRoute?: boolean }): Promise<void>;
  /** Wait until no global IPv6 address of the link is tentative; fails if DAD failed or on timeout. */
  waitForDad(ns: Ns, index: number): Promise<void>;
  deleteAddress(ns: Ns, index: number, cidr: CidrValue): Promise<boolean>;
  /** Addresses of one link (or all), of one family (or both): a family filter makes the kernel dump only that family. */
  listAddresses(ns: Ns, index?: number, family?: 4 | 6): Promise<Address[]>;
  /** Add a route; with `replace`, one to the same destination is replaced instead of failing with EEXIST. */
  addRoute(ns: Ns, route: RouteSpec, opts?: { replace?: boolean }): Promise<void>;
  /** Routes of the main table, or of every table with `allTables`. */
  listRoutes(ns: Ns, family?: 4 | 6, allTables?: boolean): Promise<KernelRoute[]>;
  /** The route the kernel would use to reach `address` (one lookup); undefined when nothing routes it. */
  routeGet(ns: Ns, address: Ip): Promise<KernelRoute | undefined>;
  /** Write /proc/sys/<key> in the namespace; a missing key is ignored when `optional`. */
  writeSysctl(ns: Ns, key: string, value: string, optional?: boolean): void;
  readSysctl(ns: Ns, key: string): string | undefined;
}

/** Open a container namespace for DEL/GC: a path that is gone or no longer a namespace means "nothing to do". */
export async function openIfPresent(k: Kernel, path: string, options?: { allowOwn?: boolean }): Promise<Ns | undefined> {
  try {
    return await k.open(path, options);
  } catch (e) {
    const reason = (e as { reason?: unknown }).reason;
    if (reason === "not-found" || reason === "not-netns") return undefined;
    throw e;
  }
}

/** The real kernel, loaded on first use (commands that never touch the kernel never load netlink). */
export function realKernel(): Kernel {
  const k = netlinkKernelModule().netlinkKernel;
  // Tests only (src/util/faults.ts): identity in dist/tether.
  return withFaultPoints(k, "kernel", KERNEL_CHANGES);
}

/** The Kernel methods that change something (a fault point follows each in test builds). */
const KERNEL_CHANGES = [
  "ensureBridge",
  "createVeth",
  "setLinkUp",
  "setMaster",
  "setMac",
  "setPromisc",
  "setBridgePort",
  "addBridgeVlan",
  "deleteBridgeVlan",
  "addAddress",
  "waitForDad",
  "addRoute",
  "writeSysctl",
] as const satisfies readonly (keyof Kernel)[];
