/**
 * NetworkPolicy -> nftables, for the pods of one node. Pure: objects in, a ruleset (data and
 * text) out.
 *
 * Shape (see README "NetworkPolicy"): the base chain looks a packet's source up in the egress
 * verdict maps and its destination in the ingress maps, keyed by the addresses of this node's
 * isolated pods; each hit jumps to that pod's chain for the direction, which `return`s when some
 * rule allows the packet and drops it otherwise. So a packet costs one map lookup per direction
 * plus the rules of the one pod it concerns, however many policies exist. Chains are named by
 * a hash of their rules (pods with the same policies share one); peer address sets are named by
 * the peer's definition, so a pod or namespace change only refills sets and map elements.
 */
import { createHash } from "node:crypto";
import type { Family } from "../ip/ip";
import type { ClusterView, NamedPort, NamespaceView, Peer, PodPeer, PodView, PolicyView, PortSpec, Protocol, RuleView } from "./model";
import { PROTOCOLS } from "./model";
import { renderFull, rulesetStats, SELF_SETS, type NftChain, type NftSet, type PolicyRuleset, type RulesetStats, type VerdictMapName } from "./nft";
import { namespaceLabels, newNormalizeCache, normalize, type PolicyInputs } from "./normalize";
import { containsAddress, intervalElement, mergeIntervals } from "./ranges";
import { parseIp } from "../ip/ip";

export type CompileInputs = PolicyInputs;

export interface CompiledPolicy {
  readonly ruleset: PolicyRuleset;
  /** The whole table as one `nft -f` transaction. */
  readonly text: string;
  readonly warnings: readonly string[];
  readonly stats: RulesetStats;
}

type Direction = "ingress" | "egress";

const hash = (s: string): string => createHash("sha256").update(s).digest("hex").slice(0, 16);

const ALL_PODS: PodPeer = { kind: "pods", key: "P:*", namespaces: { selector: { key: "{}", matches: () => true } }, pods: { key: "{}", matches: () => true } };

export class PolicyCompiler {
  /** Objects are taken as immutable (see NormalizeCache): give changed objects as new objects. */
  private readonly cache = newNormalizeCache();

  constructor(readonly nodeName: string) {}

  /** The nftables text of the whole table (one transaction). */
  compile(inputs: CompileInputs): string {
    return this.compileRuleset(inputs).text;
  }

  compileRuleset(inputs: CompileInputs): CompiledPolicy {
    const view = normalize(inputs, this.nodeName, this.cache);
    const ruleset = new Compilation(view).run();
    return {
      ruleset,
      get text() {
        return renderFull(ruleset);
      },
      warnings: view.warnings,
      stats: rulesetStats(ruleset),
    };
  }
}

class Compilation {
  private readonly podsByNs = new Map<string, PodView[]>();
  private readonly namespaces: NamespaceView[];
  private readonly members = new Map<string, PodView[]>();
  private readonly sets = new Map<string, NftSet>();
  private readonly chains = new Map<string, NftChain>();
  private readonly maps: Record<VerdictMapName, Map<string, string>> = {
    egress4: new Map(),
    egress6: new Map(),
    ingress4: new Map(),
    ingress6: new Map(),
  };
  /** Lines of a (policy, direction) that do not depend on the pod, cached. */
  private readonly podFree = new Map<string, string[] | undefined>();
  private readonly chainByContent = new Map<string, string>();

  constructor(private readonly view: ClusterView) {
    for (const p of view.pods) {
      let list = this.podsByNs.get(p.namespace);
      if (list === undefined) this.podsByNs.set(p.namespace, (list = []));
      list.push(p);
    }
    const names = new Set([...view.namespaces.keys(), ...this.podsByNs.keys()]);
    this.namespaces = [...names].sort().map((n) => view.namespaces.get(n) ?? { name: n, labels: namespaceLabels(n, undefined) });
  }

  run(): PolicyRuleset {
    const selecting = new Map<PodView, { ingress: PolicyView[]; egress: PolicyView[] }>();
    for (const pol of this.view.policies) {
      for (const pod of this.podsByNs.get(pol.namespace) ?? []) {
        if (!pod.local || !pol.selector.matches(pod.labels)) continue;
        let e = selecting.get(pod);
        if (e === undefined) selecting.set(pod, (e = { ingress: [], egress: [] }));
        if (pol.ingress !== undefined) e.ingress.push(pol);
        if (pol.egress !== undefined) e.egress.push(pol);
      }
    }
    const self: Record<Family, Set<string>> = { 4: new Set(), 6: new Set() };
    for (const [pod, by] of selecting) {
      for (const dir of ["ingress", "egress"] as const) {
        if (by[dir].length === 0) continue;
        const chain = this.chainFor(pod, dir, by[dir]);
        for (const a of pod.v4) this.maps[`${dir}4`].set(a, chain);
        for (const a of pod.v6) this.maps[`${dir}6`].set(a, chain);
      }
      for (const a of pod.v4) self[4].add(`${a} . ${a}`);
      for (const a of pod.v6) self[6].add(`${a} . ${a}`);
    }
    for (const family of [4, 6] as const) {
      const name = SELF_SETS[family];
      this.sets.set(name, { name, type: `${addrType(family)} . ${addrType(family)}`, interval: false, elements: [...self[family]].sort(), elementDelta: true });
    }
    return { sets: this.sets, chains: this.chains, maps: this.maps };
  }

  private chainFor(pod: PodView, dir: Direction, policies: readonly PolicyView[]): string {
    const lines = new Set<string>();
    for (const pol of policies) {
      const cacheKey = `${dir}|${pol.key}`;
      let free = this.podFree.get(cacheKey);
      if (free === undefined && !this.podFree.has(cacheKey)) {
        free = this.policyLines(pol, dir, undefined);
        this.podFree.set(cacheKey, free);
      }
      for (const l of free ?? this.policyLines(pol, dir, pod) ?? []) lines.add(l);
    }
    const rules = [...lines, "drop"];
    const content = rules.join("\n");
    let name = this.chainByContent.get(content);
    if (name === undefined) {
      name = `${dir === "ingress" ? "ing" : "egr"}_${hash(content)}`;
      this.chainByContent.set(content, name);
      this.chains.set(name, { name, rules });
    }
    return name;
  }

  /**
   * The allow lines of one policy in one direction. With pod undefined: undefined when the lines
   * depend on the pod (ingress named ports resolve against the selected pod's own ports).
   */
  private policyLines(pol: PolicyView, dir: Direction, pod: PodView | undefined): string[] | undefined {
    const rules = pol[dir] ?? [];
    if (pod === undefined && dir === "ingress" && rules.some((r) => r.ports !== "any" && r.ports.some((p) => p.kind === "named"))) {
      return undefined;
    }
    return rules.flatMap((r) => this.ruleLines(r, dir, pod));
  }

  private ruleLines(rule: RuleView, dir: Direction, pod: PodView | undefined): string[] {
    const field = dir === "ingress" ? "saddr" : "daddr";
    const out: string[] = [];
    // Port clauses that are numbers (or named ones resolved on the selected pod, for ingress).
    const ranges: PortSpec[] = [];
    const named: Extract<PortSpec, { kind: "named" }>[] = [];
    if (rule.ports !== "any") {
      for (const p of rule.ports) {
        if (p.kind !== "named") ranges.push(p);
        else if (dir === "egress") named.push(p);
        else if (pod !== undefined) ranges.push(...resolveNamed(pod.namedPorts, p));
      }
    }
    const portMatches = rule.ports === "any" ? [""] : portClauses(ranges);
    // No port clause left (only unresolved names): no line, and no set made for nothing.
    const peerMatches =
      portMatches.length === 0 ? [] : rule.peers === "any" ? [""] : rule.peers.flatMap((p) => this.peerClauses(p, field));
    for (const peer of peerMatches) for (const port of portMatches) out.push(join(peer, port, "return"));
    // Egress to a named port: the port number belongs to each destination pod, so the peer
    // becomes a set of (address . port) pairs.
    for (const n of named) {
      const peers: readonly Peer[] = rule.peers === "any" ? [ALL_PODS] : rule.peers;
      for (const peer of peers) {
        for (const family of [4, 6] as const) {
          if (peer.kind === "block" && peer.family !== family) continue;
          const set = this.namedPortSet(peer, n.protocol, n.name, family);
          out.push(`${family === 4 ? "ip" : "ip6"} daddr . ${n.protocol} dport @${set} return`);
        }
      }
    }
    return out;
  }

  private peerClauses(peer: Peer, field: "saddr" | "daddr"): string[] {
    if (peer.kind === "block") {
      const name = `pb${peer.family}_${hash(peer.key)}`;
      if (!this.sets.has(name)) {
        const elements = peer.intervals.map((iv) => intervalElement(peer.family, iv));
        this.sets.set(name, { name, type: addrType(peer.family), interval: true, elements });
      }
      return [`${peer.family === 4 ? "ip" : "ip6"} ${field} @${name}`];
    }
    return ([4, 6] as const).map((family) => {
      const name = `pp${family}_${hash(peer.key)}`;
      if (!this.sets.has(name)) {
        const addrs = new Set<string>();
        for (const p of this.podsOf(peer)) for (const a of family === 4 ? p.v4 : p.v6) addrs.add(a);
        this.sets.set(name, { name, type: addrType(family), interval: false, elements: [...addrs].sort() });
      }
      return `${family === 4 ? "ip" : "ip6"} ${field} @${name}`;
    });
  }

  private namedPortSet(peer: Peer, protocol: Protocol, portName: string, family: Family): string {
    const name = `pn${family}_${hash(`${peer.key}|${protocol}|${portName}`)}`;
    if (this.sets.has(name)) return name;
    const candidates = peer.kind === "pods" ? this.podsOf(peer) : this.view.pods;
    const elements = new Set<string>();
    for (const p of candidates) {
      const ports = resolveNamed(p.namedPorts, { protocol, kind: "named", name: portName });
      if (ports.length === 0) continue;
      for (const a of family === 4 ? p.v4 : p.v6) {
        if (peer.kind === "block" && !containsAddress(peer.intervals, parseIp(a)?.value ?? -1n)) continue;
        for (const r of ports) if (r.kind === "range") elements.add(`${a} . ${r.from}`);
      }
    }
    this.sets.set(name, { name, type: `${addrType(family)} . inet_service`, interval: false, elements: [...elements].sort() });
    return name;
  }

  private podsOf(peer: PodPeer): PodView[] {
    let list = this.members.get(peer.key);
    if (list !== undefined) return list;
    list = [];
    const ns = peer.namespaces;
    if ("exact" in ns) {
      for (const p of this.podsByNs.get(ns.exact) ?? []) if (peer.pods.matches(p.labels)) list.push(p);
    } else {
      for (const n of this.namespaces) {
        if (!ns.selector.matches(n.labels)) continue;
        for (const p of this.podsByNs.get(n.name) ?? []) if (peer.pods.matches(p.labels)) list.push(p);
      }
    }
    this.members.set(peer.key, list);
    return list;
  }
}

function addrType(family: Family): string {
  return family === 4 ? "ipv4_addr" : "ipv6_addr";
}

function join(...parts: string[]): string {
  return parts.filter((p) => p !== "").join(" ");
}

/** A named port clause resolved on one pod: the port numbers its containers give that name. */
function resolveNamed(ports: readonly NamedPort[], spec: Extract<PortSpec, { kind: "named" }>): PortSpec[] {
  return ports
    .filter((p) => p.name === spec.name && p.protocol === spec.protocol)
    .map((p) => ({ protocol: spec.protocol, kind: "range" as const, from: p.port, to: p.port }));
}

/** Port clauses grouped per protocol: "tcp dport { 80, 8000-8080 }", or "meta l4proto udp" for all. */
export function portClauses(specs: readonly PortSpec[]): string[] {
  const out: string[] = [];
  for (const proto of PROTOCOLS) {
    const mine = specs.filter((s) => s.protocol === proto);
    if (mine.length === 0) continue;
    if (mine.some((s) => s.kind === "all")) {
      out.push(`meta l4proto ${proto}`);
      continue;
    }
    const merged = mergeIntervals(
      mine.flatMap((s) => (s.kind === "range" ? [{ lo: BigInt(s.from), hi: BigInt(s.to) }] : [])),
    ).map((iv) => (iv.lo === iv.hi ? `${iv.lo}` : `${iv.lo}-${iv.hi}`));
    if (merged.length === 1) out.push(`${proto} dport ${merged[0]}`);
    else if (merged.length > 1) out.push(`${proto} dport { ${merged.join(", ")} }`);
  }
  return out;
}
