/**
 * The agent's desired state, computed from the Node objects alone (pure, no I/O): this node's pod
 * CIDRs (for the conflist), a route per pod CIDR of every other node via that node's address of the
 * same family, and the cluster's pod CIDRs (the masquerade exclusion set).
 */
import { type Family, type Ip, bitsOf, formatIp, hostMask, networkOf, parseIp } from "../ipam/ip";

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
  /** Canonical text, "10.244.1.0/24", "fd00:10:244:1::/64". */
  text: string;
}

/** A prefix in canonical form (host bits cleared); undefined when the text is not a CIDR. */
export function parsePrefix(text: string): Prefix | undefined {
  const slash = text.indexOf("/");
  if (slash < 0) return undefined;
  const ip = parseIp(text.slice(0, slash));
  const lenText = text.slice(slash + 1);
  if (ip === undefined || !/^\d{1,3}$/.test(lenText)) return undefined;
  // parseIp turns ::ffff:a.b.c.d into IPv4; a mapped prefix is not a pod CIDR.
  if (ip.family === 4 && text.includes(":")) return undefined;
  const len = Number(lenText);
  if (len > bitsOf(ip.family)) return undefined;
  const network = networkOf(ip, len);
  return { family: ip.family, network, len, text: `${formatIp(network)}/${len}` };
}

export function prefixContains(p: Prefix, ip: Ip): boolean {
  return p.family === ip.family && (ip.value & ~hostMask(p.family, p.len)) === p.network.value;
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

export function desiredState(nodes: readonly AgentNode[], self: string, local: readonly LocalAddress[]): DesiredState {
  const problems: string[] = [];
  const sorted = [...nodes].sort((a, b) => (a.metadata.name < b.metadata.name ? -1 : a.metadata.name > b.metadata.name ? 1 : 0));
  const me = sorted.find((n) => n.metadata.name === self);
  const ownCidrs = me === undefined ? [] : podCidrsOf(me, problems);
  const onLink = onLinkNetworks(local);
  const routes: DesiredRoute[] = [];
  const unroutable: DesiredState["unroutable"] = [];
  const all: Prefix[] = [...ownCidrs];
  const claimed: { p: Prefix; node: string }[] = ownCidrs.map((p) => ({ p, node: self }));
  for (const node of sorted) {
    if (node === me) continue;
    const name = node.metadata.name;
    for (const cidr of podCidrsOf(node, problems)) {
      const clash = claimed.find((c) => prefixesOverlap(c.p, cidr));
      if (clash !== undefined) {
        problems.push(`node ${name}: pod CIDR ${cidr.text} overlaps ${clash.p.text} of node ${clash.node}; not routed`);
        continue;
      }
      claimed.push({ p: cidr, node: name });
      all.push(cidr);
      const gwText = nodeAddress(node, cidr.family);
      if (gwText === undefined) {
        unroutable.push({ node: name, family: cidr.family, reason: `no IPv${cidr.family} InternalIP or ExternalIP` });
        continue;
      }
      const gw = parseIp(gwText) as Ip;
      if (onLink.some((l) => l.own.family === gw.family && l.own.value === gw.value)) {
        unroutable.push({ node: name, family: cidr.family, reason: `its address ${gwText} is this node's own` });
        continue;
      }
      if (!onLink.some((l) => prefixContains(l.net, gw))) {
        unroutable.push({ node: name, family: cidr.family, reason: `its address ${gwText} is not on a directly connected network of this node` });
        continue;
      }
      routes.push({ family: cidr.family, dst: cidr.text, gw: gwText, node: name });
    }
  }
  const collapsed = collapsePrefixes(all);
  const state: DesiredState = {
    ownCidrs,
    routes,
    unroutable,
    clusterCidrs: { 4: collapsed.filter((p) => p.family === 4).map((p) => p.text), 6: collapsed.filter((p) => p.family === 6).map((p) => p.text) },
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
}

/** What turns the actual routes of ours into the desired ones; only routes of ours are ever passed in. */
export function planRoutes(desired: readonly DesiredRoute[], actual: readonly ActualRoute[], table: number): RoutePlan {
  const want = new Map(desired.map((r) => [r.dst, r]));
  const kept = new Set<string>();
  const del: ActualRoute[] = [];
  for (const a of actual) {
    const canonical = parsePrefix(a.dst)?.text ?? a.dst;
    const d = want.get(canonical);
    const gwIp = a.gw === undefined ? undefined : parseIp(a.gw);
    const same = d !== undefined && a.table === table && gwIp !== undefined && formatIp(gwIp) === d.gw;
    if (same && !kept.has(canonical)) kept.add(canonical);
    else del.push(a);
  }
  return { add: desired.filter((d) => !kept.has(d.dst)), delete: del };
}
