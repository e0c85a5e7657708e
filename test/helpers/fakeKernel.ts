/**
 * An in-memory Kernel for unit tests: namespaces with links, addresses, routes and sysctls, and a
 * switch that makes the N-th mutating call fail, to prove that every undo step runs.
 */
import type { Address, Kernel, KernelRoute, Link, Ns, RouteSpec } from "../../src/plugins/kernel";

interface FakeNs {
  links: Map<number, Link>;
  addrs: Address[];
  routes: KernelRoute[];
  sysctls: Map<string, string>;
}

export class InjectedFault extends Error {
  readonly code = "EIO";
  constructor(readonly op: string) {
    super(`${op} -> EIO (injected)`);
  }
}

const HOST = "<host>";

export class FakeKernel implements Kernel {
  readonly spaces = new Map<string, FakeNs>();
  /** Mutating calls so far. */
  mutations = 0;
  /** Fail the mutating call with this 1-based number (undefined: never). */
  failAt: number | undefined;
  readonly log: string[] = [];
  private nextIndex = 10;
  openHandles = 0;

  constructor(containerPaths: string[] = []) {
    this.addNs(HOST);
    for (const p of containerPaths) this.addNs(p);
  }

  addNs(path: string): void {
    const ns: FakeNs = { links: new Map(), addrs: [], routes: [], sysctls: new Map() };
    ns.links.set(1, { index: 1, name: "lo", kind: undefined, mtu: 65536, up: true, promisc: false });
    this.spaces.set(path, ns);
  }

  space(ns: Ns): FakeNs {
    const s = this.spaces.get(ns.path ?? HOST);
    if (!s) throw Object.assign(new Error(`no namespace ${ns.path}`), { reason: "not-found" });
    return s;
  }

  host(): FakeNs {
    return this.spaces.get(HOST)!;
  }

  private mutate(op: string): void {
    this.mutations++;
    this.log.push(op);
    if (this.failAt === this.mutations) throw new InjectedFault(op);
  }

  private find(s: FakeNs, nameOrIndex: string | number): Link | undefined {
    if (typeof nameOrIndex === "number") return s.links.get(nameOrIndex);
    return [...s.links.values()].find((l) => l.name === nameOrIndex);
  }

  async open(path?: string): Promise<Ns> {
    const key = path ?? HOST;
    if (!this.spaces.has(key)) throw Object.assign(new Error(`open netns ${path} -> ENOENT`), { reason: "not-found", code: "ENOENT" });
    this.openHandles++;
    return { path };
  }
  close(): void {
    this.openHandles--;
  }
  async getLink(ns: Ns, name: string): Promise<Link | undefined> {
    const l = this.find(this.space(ns), name);
    return l ? { ...l } : undefined;
  }
  async getLinkByIndex(ns: Ns, index: number): Promise<Link | undefined> {
    const l = this.space(ns).links.get(index);
    return l ? { ...l } : undefined;
  }
  async ensureBridge(ns: Ns, opts: { name: string; mtu?: number | undefined }): Promise<{ link: Link; created: boolean }> {
    const s = this.space(ns);
    const existing = this.find(s, opts.name);
    if (existing) {
      if (existing.kind !== "bridge") throw new Error(`"${opts.name}" exists and is not a bridge`);
      return { link: { ...existing }, created: false };
    }
    this.mutate(`ensureBridge ${opts.name}`);
    const link: Link = { index: this.nextIndex++, name: opts.name, kind: "bridge", mac: "02:00:00:00:00:01", mtu: opts.mtu ?? 1500, up: true, promisc: false };
    s.links.set(link.index, link);
    return { link: { ...link }, created: true };
  }
  async createVeth(container: Ns, host: Ns, opts: { name: string; mtu?: number | undefined; mac?: string | undefined }): Promise<{ container: Link; host: Link }> {
    const peerName = `veth${(this.nextIndex * 7919).toString(16).padStart(8, "0")}`;
    this.mutate(`createVeth ${opts.name}/${peerName}`);
    const c = this.space(container);
    const h = this.space(host);
    if (this.find(c, opts.name)) throw Object.assign(new Error("EEXIST"), { code: "EEXIST", op: "createVeth" });
    const ci = this.nextIndex++;
    const hi = this.nextIndex++;
    const cl: Link = { index: ci, name: opts.name, kind: "veth", mac: opts.mac ?? "0a:00:00:00:00:02", mtu: opts.mtu ?? 1500, up: false, promisc: false, peerIndex: hi };
    const hl: Link = { index: hi, name: peerName, kind: "veth", mac: "0a:00:00:00:00:03", mtu: opts.mtu ?? 1500, up: false, promisc: false, peerIndex: ci };
    c.links.set(ci, cl);
    h.links.set(hi, hl);
    return { container: { ...cl }, host: { ...hl } };
  }
  async deleteLink(ns: Ns, nameOrIndex: string | number): Promise<boolean> {
    const s = this.space(ns);
    const l = this.find(s, nameOrIndex);
    if (!l) return false;
    this.mutate(`deleteLink ${l.name}`);
    s.links.delete(l.index);
    s.addrs = s.addrs.filter((a) => a.index !== l.index);
    s.routes = s.routes.filter((r) => r.oif !== l.index);
    if (l.kind === "veth" && l.peerIndex !== undefined) {
      for (const other of this.spaces.values()) {
        const peer = other.links.get(l.peerIndex);
        if (peer?.peerIndex === l.index) other.links.delete(peer.index);
      }
    }
    return true;
  }
  private async setField(ns: Ns, index: number, op: string, patch: Partial<Link>): Promise<void> {
    this.mutate(op);
    const l = this.space(ns).links.get(index);
    if (!l) throw Object.assign(new Error(`${op} -> ENODEV`), { code: "ENODEV", op });
    Object.assign(l, patch);
  }
  setLinkUp(ns: Ns, index: number): Promise<void> {
    return this.setField(ns, index, `up ${index}`, { up: true });
  }
  setMaster(ns: Ns, index: number, master: number): Promise<void> {
    return this.setField(ns, index, `master ${index}`, { master });
  }
  setMac(ns: Ns, index: number, mac: string): Promise<void> {
    return this.setField(ns, index, `mac ${index}`, { mac });
  }
  setPromisc(ns: Ns, index: number, on: boolean): Promise<void> {
    return this.setField(ns, index, `promisc ${index}`, { promisc: on });
  }
  setBridgePort(ns: Ns, index: number): Promise<void> {
    return this.setField(ns, index, `brport ${index}`, {});
  }
  addBridgeVlan(ns: Ns, index: number): Promise<void> {
    return this.setField(ns, index, `vlan ${index}`, {});
  }
  async addAddress(ns: Ns, index: number, cidr: string): Promise<void> {
    this.mutate(`addAddress ${cidr}`);
    const [address, len] = cidr.split("/");
    this.space(ns).addrs.push({ index, family: address!.includes(":") ? 6 : 4, address: address!, prefixLen: Number(len) });
  }
  async deleteAddress(ns: Ns, index: number, cidr: string): Promise<boolean> {
    const s = this.space(ns);
    const before = s.addrs.length;
    s.addrs = s.addrs.filter((a) => !(a.index === index && `${a.address}/${a.prefixLen}` === cidr));
    if (s.addrs.length !== before) this.mutate(`deleteAddress ${cidr}`);
    return s.addrs.length !== before;
  }
  async listAddresses(ns: Ns, index?: number): Promise<Address[]> {
    return this.space(ns).addrs.filter((a) => index === undefined || a.index === index);
  }
  async addRoute(ns: Ns, route: RouteSpec): Promise<void> {
    this.mutate(`addRoute ${route.dst}`);
    this.space(ns).routes.push({ family: route.dst.includes(":") ? 6 : 4, dst: route.dst, gw: route.gw, oif: route.oif });
  }
  async listRoutes(ns: Ns, family?: 4 | 6): Promise<KernelRoute[]> {
    return this.space(ns).routes.filter((r) => family === undefined || r.family === family);
  }
  writeSysctl(ns: Ns, key: string, value: string): void {
    this.space(ns).sysctls.set(key, value);
  }
  readSysctl(ns: Ns, key: string): string | undefined {
    return this.space(ns).sysctls.get(key);
  }
}
