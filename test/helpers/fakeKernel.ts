/**
 * An in-memory Kernel for unit tests: namespaces with links, addresses, routes and sysctls, and a
 * switch that makes the N-th mutating call fail, to prove that every undo step runs.
 */
import type { AttachmentKey, Firewall, MasqBackend, RuleTags, SpoofCheckSpec } from "../../src/firewall/index";
import { attachmentTag, networkTag } from "../../src/firewall/key";
import type { Address, Kernel, KernelRoute, Link, Ns, RouteSpec } from "../../src/kernel/port";
import { type CidrValue, type Ip, bitsOf, cidrOf, cidrText, formatIp, isCidrValue, networkOf, parseIpExact, readCidr } from "../../src/ip/ip";
import { dataDirs } from "./ipamFixtures";
import { constants as osConstants } from "node:os";
import { NetlinkError } from "../../src/netlink/errors";

/** The fake keeps addresses and routes as text (tests read and plant them so); the port gets values. */
interface FakeAddress {
  index: number;
  family: 4 | 6;
  address: string;
  prefixLen: number;
}

interface FakeRoute {
  family: 4 | 6;
  dst: string;
  gw?: string | undefined;
  oif?: number | undefined;
  scope?: number | undefined;
  src?: string | undefined;
  table?: number | undefined;
  priority?: number | undefined;
}

interface FakeNs {
  links: Map<number, Link>;
  addrs: FakeAddress[];
  routes: FakeRoute[];
  sysctls: Map<string, string>;
}

function ipOf(text: string): Ip {
  const ip = parseIpExact(text);
  if (ip === undefined) throw new Error(`fake kernel: ${JSON.stringify(text)} is no address`);
  return ip;
}

function cidrOfText(text: string): CidrValue {
  const c = readCidr(text, true);
  if (!isCidrValue(c)) throw new Error(`fake kernel: ${JSON.stringify(text)} is no CIDR`);
  return c;
}

function routeValue(r: FakeRoute): KernelRoute {
  const dst = cidrOfText(r.dst);
  return { ...r, dst: cidrOf(dst.network, dst.prefix), gw: r.gw === undefined ? undefined : ipOf(r.gw), src: r.src === undefined ? undefined : ipOf(r.src) };
}

/** The fake's errors are the netlink layer's, as the real kernel port's. */
export class InjectedFault extends NetlinkError {
  constructor(op: string) {
    super(op, osConstants.errno.EIO);
    this.message = `${op} -> EIO (injected)`;
  }
}

function kernelError(op: string, errno: number, message: string): NetlinkError {
  const e = new NetlinkError(op, errno);
  e.message = message;
  return e;
}

const HOST = "<host>";

/** The container namespace of the handler tests on a fake kernel. */
export const FAKE_NETNS = "/var/run/netns/c1";

/**
 * For a test file of handlers on a fake kernel: a function giving a fresh kernel (holding
 * FAKE_NETNS), a fresh IPAM data dir (all removed when the file's tests end) and the handlers
 * `make` builds on that kernel.
 */
export function fakeWorlds<H>(prefix: string, make: (k: FakeKernel) => H): () => { k: FakeKernel; dataDir: string; h: H } {
  const newDataDir = dataDirs(prefix);
  return () => {
    const k = new FakeKernel([FAKE_NETNS]);
    return { k, dataDir: newDataDir(), h: make(k) };
  };
}

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

  /** Make `path` name the host namespace itself (CNI_NETNS_OVERRIDE with the plugin's own netns). */
  aliasHost(path: string): void {
    this.spaces.set(path, this.host());
  }

  space(ns: Ns): FakeNs {
    const s = this.spaces.get(ns.path ?? HOST);
    if (!s) throw Object.assign(new Error(`no namespace ${ns.path}`), { reason: "not-found" });
    return s;
  }

  host(): FakeNs {
    return this.spaces.get(HOST)!;
  }

  /** The firewall of this fake machine; its changes count as mutations too. */
  readonly firewall = new FakeFirewall((op) => this.mutate(op));

  mutate(op: string): void {
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
  async listLinks(ns: Ns): Promise<Link[]> {
    return [...this.space(ns).links.values()].map((l) => ({ ...l }));
  }
  setAlias(ns: Ns, index: number, alias: string): Promise<void> {
    return this.setField(ns, index, `alias ${index}`, { alias: alias === "" ? undefined : alias });
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
  async createVeth(container: Ns, host: Ns, opts: { name: string; peerName?: string | undefined; mtu?: number | undefined; mac?: string | undefined }): Promise<{ container: Link; host: Link }> {
    const peerName = opts.peerName ?? `veth${(this.nextIndex * 7919).toString(16).padStart(8, "0")}`;
    this.mutate(`createVeth ${opts.name}/${peerName}`);
    const c = this.space(container);
    const h = this.space(host);
    if (this.find(c, opts.name)) throw kernelError("createVeth", osConstants.errno.EEXIST, "EEXIST");
    const ci = this.nextIndex++;
    const hi = this.nextIndex++;
    const cl: Link = { index: ci, name: opts.name, kind: "veth", mac: opts.mac ?? "0a:00:00:00:00:02", mtu: opts.mtu ?? 1500, up: false, promisc: false, peerIndex: hi, peerNetnsId: 0 };
    const hl: Link = { index: hi, name: peerName, kind: "veth", mac: "0a:00:00:00:00:03", mtu: opts.mtu ?? 1500, up: false, promisc: false, peerIndex: ci, peerNetnsId: 1 };
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
        if (peer?.peerIndex !== l.index) continue;
        other.links.delete(peer.index);
        other.addrs = other.addrs.filter((a) => a.index !== peer.index);
        other.routes = other.routes.filter((r) => r.oif !== peer.index);
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
  async deleteBridgeVlan(ns: Ns, index: number): Promise<boolean> {
    await this.setField(ns, index, `vlan del ${index}`, {});
    return true;
  }
  addBridgeVlan(ns: Ns, index: number): Promise<void> {
    return this.setField(ns, index, `vlan ${index}`, {});
  }
  async addAddress(ns: Ns, index: number, cidr: CidrValue, opts: { noDad: boolean; noPrefixRoute?: boolean } = { noDad: false }): Promise<void> {
    this.mutate(`addAddress ${cidrText(cidr)}`);
    const family = cidr.ip.family;
    const s = this.space(ns);
    s.addrs.push({ index, family, address: formatIp(cidr.ip), prefixLen: cidr.prefix });
    // As the kernel does: a route to the address's subnet, unless asked not to.
    if (!opts.noPrefixRoute && cidr.prefix < bitsOf(family)) {
      s.routes.push({ family, dst: `${formatIp(cidr.network)}/${cidr.prefix}`, oif: index, scope: family === 4 ? 253 : 0 });
    }
  }
  async waitForDad(): Promise<void> {}
  async deleteAddress(ns: Ns, index: number, cidr: CidrValue): Promise<boolean> {
    const s = this.space(ns);
    const before = s.addrs.length;
    s.addrs = s.addrs.filter((a) => !(a.index === index && `${a.address}/${a.prefixLen}` === cidrText(cidr)));
    if (s.addrs.length !== before) this.mutate(`deleteAddress ${cidrText(cidr)}`);
    return s.addrs.length !== before;
  }
  async listAddresses(ns: Ns, index?: number, family?: 4 | 6): Promise<Address[]> {
    return this.space(ns)
      .addrs.filter((a) => (index === undefined || a.index === index) && (family === undefined || a.family === family))
      .map((a) => ({ index: a.index, family: a.family, cidr: cidrOf(ipOf(a.address), a.prefixLen) }));
  }
  /** Routes are kept as the kernel lists them (text); the destination as given (the real kernel clears host bits). */
  async addRoute(ns: Ns, route: RouteSpec, opts: { replace?: boolean } = {}): Promise<void> {
    const dst = cidrText(route.dst);
    this.mutate(`addRoute ${dst}`);
    const s = this.space(ns);
    if (opts.replace === true) s.routes = s.routes.filter((r) => !(r.dst === dst && (r.table ?? 254) === (route.table ?? 254)));
    // As the kernel: one route per destination, table and metric (NLM_F_EXCL), whatever its device.
    if (s.routes.some((r) => r.dst === dst && (r.table ?? 254) === (route.table ?? 254) && (r.priority ?? 0) === (route.priority ?? 0))) {
      throw kernelError(`addRoute ${dst}`, osConstants.errno.EEXIST, `addRoute ${dst} -> EEXIST`);
    }
    const text = (ip: Ip | undefined): string | undefined => (ip === undefined ? undefined : formatIp(ip));
    s.routes.push({ family: route.dst.ip.family, dst, gw: text(route.gw), oif: route.oif, scope: route.scope, src: text(route.src), table: route.table });
  }
  async listRoutes(ns: Ns, family?: 4 | 6, allTables?: boolean): Promise<KernelRoute[]> {
    return this.routesOf(ns, family, allTables).map(routeValue);
  }
  private routesOf(ns: Ns, family?: 4 | 6, allTables?: boolean): FakeRoute[] {
    return this.space(ns).routes.filter((r) => (family === undefined || r.family === family) && (allTables === true || (r.table ?? 254) === 254));
  }
  /** Longest prefix match over the main table (lowest metric first), as the kernel's lookup without rules. */
  async routeGet(ns: Ns, address: Ip): Promise<KernelRoute | undefined> {
    let best: FakeRoute | undefined;
    let bestLen = -1;
    for (const r of this.routesOf(ns, address.family)) {
      const c = cidrOfText(r.dst);
      if (networkOf(address, c.prefix).value !== c.network.value) continue;
      if (c.prefix > bestLen || (c.prefix === bestLen && (r.priority ?? 0) < (best!.priority ?? 0))) {
        best = r;
        bestLen = c.prefix;
      }
    }
    return best === undefined ? undefined : routeValue(best);
  }
  writeSysctl(ns: Ns, key: string, value: string): void {
    this.space(ns).sysctls.set(key, value);
  }
  readSysctl(ns: Ns, key: string): string | undefined {
    return this.space(ns).sysctls.get(key);
  }
}


export interface FakeRule {
  kind: "masquerade" | "spoofcheck";
  key: AttachmentKey;
  cidrs?: readonly string[];
  backend?: MasqBackend | undefined;
  spec?: SpoofCheckSpec;
}

const sameKey = (a: AttachmentKey, b: AttachmentKey): boolean =>
  a.network === b.network && a.containerId === b.containerId && a.ifname === b.ifname;

/** An in-memory Firewall: the rules it holds, keyed like the real ones. */
export class FakeFirewall implements Firewall {
  rules: FakeRule[] = [];
  constructor(private readonly mutate: (op: string) => void) {}

  private remove(kind: FakeRule["kind"], key: AttachmentKey): void {
    const keep = this.rules.filter((r) => !(r.kind === kind && sameKey(r.key, key)));
    if (keep.length !== this.rules.length) this.mutate(`remove ${kind} ${key.containerId}/${key.ifname}`);
    this.rules = keep;
  }
  async addMasquerade(key: AttachmentKey, cidrs: readonly string[], backend: MasqBackend | undefined): Promise<void> {
    this.mutate(`addMasquerade ${cidrs.join(",")}`);
    this.rules.push({ kind: "masquerade", key, cidrs, backend });
  }
  async removeMasquerade(key: AttachmentKey): Promise<void> {
    this.remove("masquerade", key);
  }
  async hasMasquerade(key: AttachmentKey): Promise<boolean> {
    return this.rules.some((r) => r.kind === "masquerade" && sameKey(r.key, key));
  }
  async addSpoofCheck(key: AttachmentKey, spec: SpoofCheckSpec): Promise<void> {
    this.mutate(`addSpoofCheck ${spec.hostIfname}`);
    this.rules.push({ kind: "spoofcheck", key, spec });
  }
  async removeSpoofCheck(key: AttachmentKey): Promise<void> {
    this.remove("spoofcheck", key);
  }
  async hasSpoofCheck(key: AttachmentKey): Promise<boolean> {
    return this.rules.some((r) => r.kind === "spoofcheck" && sameKey(r.key, key));
  }
  async listTags(): Promise<RuleTags[]> {
    return this.rules.map((r) => ({ network: networkTag(r.key.network), attachment: attachmentTag(r.key) }));
  }
  async removeTagged(attachments: ReadonlySet<string>): Promise<void> {
    const keep = this.rules.filter((r) => !attachments.has(attachmentTag(r.key)));
    if (keep.length !== this.rules.length) this.mutate(`removeTagged ${attachments.size}`);
    this.rules = keep;
  }
  async gc(network: string, valid: readonly AttachmentKey[]): Promise<void> {
    this.rules = this.rules.filter((r) => r.key.network !== network || valid.some((v) => sameKey(v, r.key)));
  }
}
