/** The Kernel interface on the real kernel, through src/netlink. */
import {
  Rtnl,
  addAddress,
  addBridgeVlan,
  addRoute,
  closeNetns,
  createVethPair,
  deleteAddress,
  deleteBridgeVlan,
  deleteLink,
  ensureBridge,
  getLinkByIndex,
  getLinkByName,
  getVethPeer,
  listLinks,
  listAddressValues,
  listRouteValues,
  routeGetValue,
  openNetns,
  openOwnNetns,
  readSysctl,
  setBridgePort,
  setLinkAlias,
  setLinkUp,
  setMac,
  setMaster,
  setPromisc,
  waitForDad,
  writeSysctl,
  type LinkInfo,
  type RouteValue,
} from "../netlink/index";

/** How long ADD waits for IPv6 duplicate address detection to finish (the reference waits 10 s). */
const DAD_TIMEOUT_MS = 10_000;
import { NetlinkError } from "../netlink/errors";
import type { Address, Kernel, KernelRoute, Link, Ns } from "./port";

class NetlinkNs implements Ns {
  constructor(
    readonly path: string | undefined,
    readonly rtnl: Rtnl,
  ) {}
}

function rtnl(ns: Ns): Rtnl {
  if (ns instanceof NetlinkNs) return ns.rtnl;
  throw new Error("a namespace handle not opened by the netlink kernel");
}

function toLink(l: LinkInfo): Link {
  return {
    index: l.index,
    name: l.name,
    kind: l.kind,
    mac: l.mac,
    mtu: l.mtu,
    up: l.up,
    master: l.master,
    promisc: l.promisc,
    peerIndex: l.peerIndex,
    peerNetnsId: l.peerNetnsId,
    alias: l.alias,
  };
}

function toKernelRoute(r: RouteValue): KernelRoute {
  return { family: r.family, dst: r.dst, gw: r.gw, oif: r.oif, table: r.table, priority: r.priority, scope: r.scope, src: r.src };
}

export const netlinkKernel: Kernel = {
  async open(path?: string, options?: { allowOwn?: boolean }): Promise<Ns> {
    // Refuses non-namespaces (and our own, without CNI_NETNS_OVERRIDE) up front.
    if (path !== undefined) closeNetns(openNetns(path, { allowOwn: options?.allowOwn === true }));
    return new NetlinkNs(path, Rtnl.open(path));
  },
  close(ns: Ns): void {
    rtnl(ns).close();
  },
  async getLink(ns, name) {
    const l = await getLinkByName(rtnl(ns), name);
    return l && toLink(l);
  },
  async getLinkByIndex(ns, index) {
    const l = await getLinkByIndex(rtnl(ns), index);
    return l && toLink(l);
  },
  async ensureBridge(ns, opts) {
    const spec: Parameters<typeof ensureBridge>[1] = { name: opts.name };
    if (opts.mtu !== undefined) spec.mtu = opts.mtu;
    if (opts.vlanFiltering) spec.vlanFiltering = true;
    const { link, created } = await ensureBridge(rtnl(ns), spec);
    if (!link.up) await setLinkUp(rtnl(ns), link.index);
    return { link: toLink({ ...link, up: true }), created };
  },
  async createVeth(container, host, opts) {
    const fd = host.path === undefined ? openOwnNetns() : openNetns(host.path, { allowOwn: true });
    try {
      const spec: Parameters<typeof createVethPair>[1] = { name: opts.name, peerNetnsFd: fd };
      if (opts.mtu !== undefined) spec.mtu = opts.mtu;
      if (opts.mac !== undefined) spec.mac = opts.mac;
      if (opts.peerName !== undefined) spec.peerName = opts.peerName;
      const pair = await createVethPair(rtnl(container), spec);
      const peer = await getVethPeer(rtnl(host), pair);
      if (!peer) throw new NetlinkError(`RTM_GETLINK ${pair.peerName}`, 19 /* ENODEV */, "veth peer not found in the host namespace");
      return { container: toLink(pair.link), host: toLink(peer) };
    } finally {
      closeNetns(fd);
    }
  },
  async listLinks(ns) {
    return (await listLinks(rtnl(ns))).map(toLink);
  },
  setAlias: (ns, index, alias) => setLinkAlias(rtnl(ns), index, alias),
  deleteLink: (ns, nameOrIndex) => deleteLink(rtnl(ns), nameOrIndex),
  setLinkUp: (ns, index) => setLinkUp(rtnl(ns), index),
  setMaster: (ns, index, master) => setMaster(rtnl(ns), index, master),
  setMac: (ns, index, mac) => setMac(rtnl(ns), index, mac),
  setPromisc: (ns, index, on) => setPromisc(rtnl(ns), index, on),
  setBridgePort: (ns, index, opts) => setBridgePort(rtnl(ns), index, opts),
  addBridgeVlan: (ns, index, vid, opts) => addBridgeVlan(rtnl(ns), index, vid, opts),
  deleteBridgeVlan: (ns, index, vid) => deleteBridgeVlan(rtnl(ns), index, vid),
  addAddress: (ns, index, cidr, opts) => addAddress(rtnl(ns), index, cidr, { noDad: opts.noDad, noPrefixRoute: opts.noPrefixRoute === true }),
  waitForDad: (ns, index) => waitForDad(rtnl(ns), index, { timeoutMs: DAD_TIMEOUT_MS }),
  deleteAddress: (ns, index, cidr) => deleteAddress(rtnl(ns), index, cidr),
  async listAddresses(ns, index, family): Promise<Address[]> {
    const list = await listAddressValues(rtnl(ns), index, family);
    return list.map((a) => ({ index: a.index, family: a.family, cidr: a.cidr }));
  },
  async addRoute(ns, route, opts) {
    const spec: Parameters<typeof addRoute>[1] = { dst: route.dst };
    if (route.gw !== undefined) spec.gw = route.gw;
    if (route.oif !== undefined) spec.oif = route.oif;
    if (route.scope !== undefined) spec.scope = route.scope;
    if (route.priority !== undefined) spec.priority = route.priority;
    if (route.table !== undefined) spec.table = route.table;
    if (route.src !== undefined) spec.src = route.src;
    if (route.mtu !== undefined) spec.mtu = route.mtu;
    if (route.advmss !== undefined) spec.advmss = route.advmss;
    await addRoute(rtnl(ns), spec, { replace: opts?.replace === true });
  },
  async listRoutes(ns, family, allTables): Promise<KernelRoute[]> {
    const opts: Parameters<typeof listRouteValues>[1] = allTables ? { table: "all" } : {};
    if (family !== undefined) opts.family = family;
    return (await listRouteValues(rtnl(ns), opts)).map(toKernelRoute);
  },
  async routeGet(ns, address): Promise<KernelRoute | undefined> {
    const r = await routeGetValue(rtnl(ns), address);
    return r === undefined ? undefined : toKernelRoute(r);
  },
  writeSysctl(ns, key, value, optional) {
    writeSysctl(ns.path, key, value, { optional: optional === true });
  },
  readSysctl: (ns, key) => readSysctl(ns.path, key),
};
