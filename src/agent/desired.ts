/**
 * The agent's desired state, computed from the Node objects alone (pure, no I/O): this node's pod
 * CIDRs (for the conflist), a route per pod CIDR of every other node via that node's address of the
 * same family, and the cluster's pod CIDRs (the masquerade exclusion set).
 */
import { type Family, type Ip, bitsOf, formatIp, parseIp, readCidr } from "../ip/ip";

/** The fields of a Node the agent reads (a structural subset of src/k8s/types Node). */
export interface AgentNode {
  metadata: { name: string };
  spec?: { podCIDR?: string; podCIDRs?: string[] } | undefined;
  status?: { addresses?: { type: string; address: string }[] | undefined } | undefined;
}

export interface Prefix {
  family: Family;
  network: Ip;
  len: number;
  /** The last address of the prefix (network | host bits), for range comparisons. */
  last: bigint;
  /** Canonical text, "10.244.1.0/24", "fd00:10:244:1::/64". */
  text: string;
}

/** A prefix in canonical form (host bits cleared); undefined when the text is not a CIDR. */
export function parsePrefix(text: string): Prefix | undefined {
  const c = readCidr(text);
  // A mapped prefix (::ffff:a.b.c.d/n) is not a pod CIDR.
  if (typeof c === "string" || c.mapped) return undefined;
  return { family: c.ip.family, network: c.network, len: c.prefix, last: c.last, text: `${formatIp(c.network)}/${c.prefix}` };
}

export function prefixContains(p: Prefix, ip: Ip): boolean {
  return p.family === ip.family && ip.value >= p.network.value && ip.value <= p.last;
}

export function prefixesOverlap(a: Prefix, b: Prefix): boolean {
  if (a.family !== b.family) return false;
  return a.len <= b.len ? prefixContains(a, b.network) : prefixContains(b, a.network);
}

/** An address configured on this node, with its prefix length (its directly connected network). */
export interface LocalAddress {
  address: string;
  prefixLen: number;
}

export interface DesiredRoute {
  family: Family;
  /** Canonical prefix text. */
  dst: string;
  gw: string;
  node: string;
}

export interface DesiredState {
  /** This node's pod CIDRs (one per family, IPv4 first); empty when the node or its CIDR is missing. */
  ownCidrs: Prefix[];
  /** Why ownCidrs is empty (node not found / no pod CIDR yet); undefined otherwise. */
  waiting?: string;
  routes: DesiredRoute[];
  /** Nodes (and families) with a pod CIDR but no usable next hop: no route, one warning each. */
  unroutable: { node: string; family: Family; reason: string }[];
  /** Pod CIDRs of the whole cluster, this node's included, per family, none contained in another. */
  clusterCidrs: Record<Family, string[]>;
  /** Objects that cannot be used as they are (bad CIDRs, overlaps). */
  problems: string[];
}

/** spec.podCIDRs, else spec.podCIDR; at most one per family, IPv4 first. Bad values go to problems. */
export function podCidrsOf(node: AgentNode, problems: string[] = []): Prefix[] {
  const texts = node.spec?.podCIDRs !== undefined && node.spec.podCIDRs.length > 0 ? node.spec.podCIDRs : node.spec?.podCIDR ? [node.spec.podCIDR] : [];
  const byFamily = new Map<Family, Prefix>();
  for (const t of texts) {
    const p = parsePrefix(t);
    if (p === undefined) {
      problems.push(`node ${node.metadata.name}: pod CIDR ${JSON.stringify(t)} is not a CIDR`);
      continue;
    }
    if (byFamily.has(p.family)) {
      problems.push(`node ${node.metadata.name}: a second IPv${p.family} pod CIDR ${p.text} is ignored`);
      continue;
    }
    byFamily.set(p.family, p);
  }
  return [byFamily.get(4), byFamily.get(6)].filter((p): p is Prefix => p !== undefined);
}

/** The node's InternalIP of that family, else its ExternalIP of that family. */
export function nodeAddress(node: AgentNode, family: Family): string | undefined {
  const addrs = node.status?.addresses ?? [];
  for (const type of ["InternalIP", "ExternalIP"]) {
    for (const a of addrs) {
      if (a.type !== type) continue;
      const ip = parseIp(a.address);
      if (ip !== undefined && ip.family === family) return formatIp(ip);
    }
  }
  return undefined;
}

interface OnLink {
  net: Prefix;
  own: Ip;
}

function onLinkNetworks(local: readonly LocalAddress[]): OnLink[] {
  const out: OnLink[] = [];
  for (const a of local) {
    const ip = parseIp(a.address);
    if (ip === undefined) continue;
    // Host-length addresses (a ptp gateway on a host veth) connect no network; link-local ones are
    // not where node addresses live.
    if (a.prefixLen >= bitsOf(ip.family)) continue;
    if (ip.family === 6 && ip.value >> 118n === 0x3fan) continue;
    const net = parsePrefix(`${formatIp(ip)}/${a.prefixLen}`);
    if (net !== undefined) out.push({ net, own: ip });
  }
  return out;
}

/** Drop prefixes contained in another (nft interval sets refuse overlapping elements), sorted. */
export function collapsePrefixes(prefixes: readonly Prefix[]): Prefix[] {
  const sorted = [...prefixes].sort((a, b) => a.len - b.len || (a.network.value < b.network.value ? -1 : a.network.value > b.network.value ? 1 : 0));
  const kept: Prefix[] = [];
  for (const p of sorted) if (!kept.some((k) => prefixesOverlap(k, p))) kept.push(p);
  return kept.sort((a, b) => (a.network.value < b.network.value ? -1 : a.network.value > b.network.value ? 1 : a.len - b.len));
}

/**
 * Disjoint prefixes per family, kept sorted: claiming one that overlaps a held one fails, naming the
 * holder. O(log n) per check, so 1,000s of nodes cost milliseconds (CIDR prefixes either nest or
 * are disjoint, so a neighbour in start order is the only possible overlap).
 */
class Claims {
  private readonly byFamily: Record<Family, { start: bigint; end: bigint; p: Prefix; owner: string }[]> = { 4: [], 6: [] };

  /** The owner of a held prefix overlapping `p`, else claims `p` for `owner` and returns undefined. */
  claim(p: Prefix, owner: string): { p: Prefix; owner: string } | undefined {
    const list = this.byFamily[p.family];
    const start = p.network.value;
    const end = p.last;
    let lo = 0;
    let hi = list.length;
    while (lo < hi) {
      const mid = (lo + hi) >> 1;
      if (list[mid]!.start <= start) lo = mid + 1;
      else hi = mid;
    }
    const before = list[lo - 1];
    if (before !== undefined && before.end >= start) return before;
    const after = list[lo];
    if (after !== undefined && after.start <= end) return after;
    list.splice(lo, 0, { start, end, p, owner });
    return undefined;
  }

  /** Every claimed prefix of the family, in address order. */
  prefixes(family: Family): Prefix[] {
    return this.byFamily[family].map((e) => e.p);
  }
}

/** What desiredState reads of a node, parsed once per object (the informer replaces changed ones). */
interface NodeFacts {
  cidrs: Prefix[];
  problems: string[];
  addr: Record<Family, { text: string; ip: Ip } | undefined>;
  /** The route (or why none) per pod CIDR, for the local addresses `hopsFor` names. */
  hopsFor?: string;
  hops?: Map<Prefix, DesiredRoute | { unroutable: string }>;
}

const factsCache = new WeakMap<AgentNode, NodeFacts>();

function factsOf(node: AgentNode): NodeFacts {
  let f = factsCache.get(node);
  if (f === undefined) {
    const problems: string[] = [];
    const cidrs = podCidrsOf(node, problems);
    const addr = (family: Family): { text: string; ip: Ip } | undefined => {
      const text = nodeAddress(node, family);
      return text === undefined ? undefined : { text, ip: parseIp(text) as Ip };
    };
    f = { cidrs, problems, addr: { 4: addr(4), 6: addr(6) } };
    factsCache.set(node, f);
  }
  return f;
}

function nextHop(name: string, cidr: Prefix, facts: NodeFacts, onLink: readonly OnLink[]): DesiredRoute | { unroutable: string } {
  const next = facts.addr[cidr.family];
  if (next === undefined) return { unroutable: `no IPv${cidr.family} InternalIP or ExternalIP` };
  const { text: gwText, ip: gw } = next;
  if (onLink.some((l) => l.own.family === gw.family && l.own.value === gw.value)) return { unroutable: `its address ${gwText} is this node's own` };
  if (!onLink.some((l) => prefixContains(l.net, gw))) return { unroutable: `its address ${gwText} is not on a directly connected network of this node` };
  return { family: cidr.family, dst: cidr.text, gw: gwText, node: name };
}

export function desiredState(nodes: readonly AgentNode[], self: string, local: readonly LocalAddress[]): DesiredState {
  const problems: string[] = [];
  const sorted = [...nodes].sort((a, b) => (a.metadata.name < b.metadata.name ? -1 : a.metadata.name > b.metadata.name ? 1 : 0));
  const me = sorted.find((n) => n.metadata.name === self);
  const meFacts = me === undefined ? undefined : factsOf(me);
  const ownCidrs = meFacts?.cidrs ?? [];
  if (meFacts !== undefined) problems.push(...meFacts.problems);
  const onLink = onLinkNetworks(local);
  const localSig = local.map((a) => `${a.address}/${a.prefixLen}`).join(" ");
  const routes: DesiredRoute[] = [];
  const unroutable: DesiredState["unroutable"] = [];
  const claims = new Claims();
  for (const p of ownCidrs) claims.claim(p, self);
  for (const node of sorted) {
    if (node === me) continue;
    const name = node.metadata.name;
    const facts = factsOf(node);
    problems.push(...facts.problems);
    for (const cidr of facts.cidrs) {
      const clash = claims.claim(cidr, name);
      if (clash !== undefined) {
        problems.push(`node ${name}: pod CIDR ${cidr.text} overlaps ${clash.p.text} of node ${clash.owner}; not routed`);
        continue;
      }
      // The same objects while the node and this node's addresses stay the same: no garbage per
      // reconcile, and callers can compare routes by reference.
      if (facts.hopsFor !== localSig || facts.hops === undefined) {
        facts.hopsFor = localSig;
        facts.hops = new Map();
      }
      let hop = facts.hops.get(cidr);
      if (hop === undefined) {
        hop = nextHop(name, cidr, facts, onLink);
        facts.hops.set(cidr, hop);
      }
      if ("unroutable" in hop) unroutable.push({ node: name, family: cidr.family, reason: hop.unroutable });
      else routes.push(hop);
    }
  }
  const state: DesiredState = {
    ownCidrs,
    routes,
    unroutable,
    clusterCidrs: { 4: claims.prefixes(4).map((p) => p.text), 6: claims.prefixes(6).map((p) => p.text) },
    problems,
  };
  if (me === undefined) state.waiting = `node ${self} is not in the API (yet)`;
  else if (ownCidrs.length === 0) state.waiting = `node ${self} has no pod CIDR yet (spec.podCIDRs)`;
  return state;
}

/** A route of ours as read back from the kernel (the fields the diff compares). */
export interface ActualRoute {
  dst: string;
  gw?: string | undefined;
  table: number;
  priority?: number | undefined;
  oif?: number | undefined;
}

export interface RoutePlan {
  add: DesiredRoute[];
  /** Routes of ours to remove: stale (no node, changed CIDR or next hop) or duplicates. */
  delete: ActualRoute[];
  /**
   * Desired routes not added because a route of another protocol holds their slot (same
   * destination and metric in the table): it is never touched, and adding ours would fail (EEXIST).
   */
  blocked?: DesiredRoute[];
}

/** The metric the kernel gives a route added without one: 0 for IPv4, 1024 for IPv6. */
function defaultMetric(dst: string): number {
  return dst.includes(":") ? 1024 : 0;
}

/**
 * What turns the actual routes of ours into the desired ones. `actual` holds only routes of ours;
 * `foreign` (routes of other protocols in the table) only decides what is blocked.
 */
export function planRoutes(desired: readonly DesiredRoute[], actual: readonly ActualRoute[], table: number, foreign: readonly ActualRoute[] = []): RoutePlan {
  const want = new Map(desired.map((r) => [r.dst, r]));
  const kept = new Set<string>();
  const del: ActualRoute[] = [];
  const canonicalIp = (text: string): string => {
    const ip = parseIp(text);
    return ip === undefined ? text : formatIp(ip);
  };
  for (const a of actual) {
    // The netlink layer prints canonical text already; parse only what does not match as it is.
    const canonical = want.has(a.dst) ? a.dst : (parsePrefix(a.dst)?.text ?? a.dst);
    const d = want.get(canonical);
    const same = d !== undefined && a.table === table && a.gw !== undefined && (a.gw === d.gw || canonicalIp(a.gw) === d.gw);
    if (same && !kept.has(canonical)) kept.add(canonical);
    else del.push(a);
  }
  const held = new Set(
    foreign
      .filter((f) => f.table === table && (f.priority ?? defaultMetric(f.dst)) === defaultMetric(f.dst))
      .map((f) => parsePrefix(f.dst)?.text ?? f.dst),
  );
  const missing = desired.filter((d) => !kept.has(d.dst));
  const plan: RoutePlan = { add: missing.filter((d) => !held.has(d.dst)), delete: del };
  const blocked = missing.filter((d) => held.has(d.dst));
  if (blocked.length > 0) plan.blocked = blocked;
  return plan;
}

/**
 * The difference between two desired states (what the last reconcile applied, and now), without the
 * kernel. Route objects are kept per node while it does not change, so most are compared by
 * reference; the rest by value.
 */
export function planFromKnown(desired: readonly DesiredRoute[], known: readonly DesiredRoute[], table: number): RoutePlan {
  const knownSet = new Set(known);
  const desiredSet = new Set(desired);
  const gone = new Map<string, DesiredRoute>();
  for (const r of known) if (!desiredSet.has(r)) gone.set(`${r.dst} ${r.gw}`, r);
  const add: DesiredRoute[] = [];
  for (const r of desired) {
    if (knownSet.has(r)) continue;
    if (gone.delete(`${r.dst} ${r.gw}`)) continue;
    add.push(r);
  }
  return { add, delete: [...gone.values()].map((r) => ({ dst: r.dst, gw: r.gw, table })) };
}
