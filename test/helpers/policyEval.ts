/**
 * Two independent evaluators for compiler tests:
 * - referenceAllows: NetworkPolicy semantics straight from the API reference, on the API objects
 *   (shares no code with src/policy);
 * - rulesetAllows: an interpreter of the compiled ruleset's data for a new connection, walking the
 *   base chain as the kernel would (only the rule forms the compiler emits).
 * A property test compares the two on random clusters.
 */
import type { LabelSelector, NetworkPolicy, NetworkPolicyPeer, NetworkPolicyPort, Namespace, Pod } from "../../src/k8s/types";
import { parseIp } from "../../src/ip/ip";
import type { PolicyRuleset } from "../../src/policy/nft";

export type Proto = "TCP" | "UDP" | "SCTP";
export interface Endpoint {
  ip: string;
  pod?: Pod;
}

function selects(sel: LabelSelector, labels: Record<string, string> = {}): boolean {
  for (const [k, v] of Object.entries(sel.matchLabels ?? {})) if (labels[k] !== v) return false;
  for (const e of sel.matchExpressions ?? []) {
    const has = k(labels, e.key);
    const vals = e.values ?? [];
    if (e.operator === "In" && !(has && vals.includes(labels[e.key] as string))) return false;
    if (e.operator === "NotIn" && has && vals.includes(labels[e.key] as string)) return false;
    if (e.operator === "Exists" && !has) return false;
    if (e.operator === "DoesNotExist" && has) return false;
  }
  return true;
}
const k = (o: object, key: string): boolean => Object.prototype.hasOwnProperty.call(o, key);

function inCidr(ip: string, cidr: string): boolean {
  const [base, len] = cidr.split("/");
  const a = parseIp(ip);
  const b = parseIp(base as string);
  if (a === undefined || b === undefined || a.family !== b.family) return false;
  const bits = a.family === 4 ? 32 : 128;
  const shift = BigInt(bits - Number(len));
  return a.value >> shift === b.value >> shift;
}

function types(np: NetworkPolicy): string[] {
  const t = np.spec?.policyTypes;
  if (t !== undefined && t.length > 0) return t;
  return (np.spec?.egress?.length ?? 0) > 0 ? ["Ingress", "Egress"] : ["Ingress"];
}

function peerOk(peers: NetworkPolicyPeer[] | undefined, polNs: string, other: Endpoint, nsLabels: (ns: string) => Record<string, string> | undefined): boolean {
  if (peers === undefined || peers.length === 0) return true;
  return peers.some((p) => {
    if (p.ipBlock !== undefined) return inCidr(other.ip, p.ipBlock.cidr) && !(p.ipBlock.except ?? []).some((e) => inCidr(other.ip, e));
    const pod = other.pod;
    if (pod === undefined) return false;
    const ns = pod.metadata.namespace ?? "default";
    if (p.namespaceSelector !== undefined) {
      if (!selects(p.namespaceSelector, nsLabels(ns) ?? {})) return false;
    } else if (ns !== polNs) return false;
    return p.podSelector === undefined || selects(p.podSelector, pod.metadata.labels);
  });
}

function portOk(ports: NetworkPolicyPort[] | undefined, proto: Proto, port: number, dst: Endpoint): boolean {
  if (ports === undefined || ports.length === 0) return true;
  return ports.some((p) => {
    if ((p.protocol ?? "TCP") !== proto) return false;
    if (p.port === undefined) return true;
    if (typeof p.port === "number") return port >= p.port && port <= (p.endPort ?? p.port);
    const named = p.port;
    return (dst.pod?.spec?.containers ?? []).some((c) =>
      (c.ports ?? []).some((cp) => cp.name === named && (cp.protocol ?? "TCP") === proto && cp.containerPort === port),
    );
  });
}

export interface World {
  pods: Pod[];
  namespaces: Namespace[];
  policies: NetworkPolicy[];
}

/** Whether `dir` allows the connection for the pod `self`, per the API reference. */
function directionAllows(w: World, dir: "Ingress" | "Egress", self: Pod, other: Endpoint, dst: Endpoint, proto: Proto, port: number): boolean {
  const ns = self.metadata.namespace ?? "default";
  const nsLabels = (n: string): Record<string, string> | undefined => w.namespaces.find((x) => x.metadata.name === n)?.metadata.labels;
  const pols = w.policies.filter((np) => (np.metadata.namespace ?? "default") === ns && selects(np.spec?.podSelector ?? {}, self.metadata.labels) && types(np).includes(dir));
  if (pols.length === 0) return true;
  return pols.some((np) => {
    const pns = np.metadata.namespace ?? "default";
    const rules = dir === "Ingress" ? (np.spec?.ingress ?? []).map((r) => ({ peers: r.from, ports: r.ports })) : (np.spec?.egress ?? []).map((r) => ({ peers: r.to, ports: r.ports }));
    return rules.some((r) => peerOk(r.peers, pns, other, nsLabels) && portOk(r.ports, proto, port, dst));
  });
}

/** The verdict of `node`'s half: egress of src when src is a pod of that node, ingress of dst likewise. */
export function referenceAllows(w: World, node: string, src: Endpoint, dst: Endpoint, proto: Proto, port: number): boolean {
  // "A pod cannot block access to itself" (the API reference): its own traffic back to it, through a Service.
  if (src.pod !== undefined && src.pod === dst.pod && src.ip === dst.ip) return true;
  if (src.pod !== undefined && src.pod.spec?.nodeName === node && !directionAllows(w, "Egress", src.pod, dst, dst, proto, port)) return false;
  if (dst.pod !== undefined && dst.pod.spec?.nodeName === node && !directionAllows(w, "Ingress", dst.pod, src, dst, proto, port)) return false;
  return true;
}

function setHas(rs: PolicyRuleset, name: string, key: string): boolean {
  const set = rs.sets.get(name);
  if (set === undefined) throw new Error(`rule references missing set ${name}`);
  for (const e of set.elements) {
    if (e.includes(" . ")) {
      if (e === key) return true;
    } else if (e.includes("/")) {
      if (inCidr(key, e)) return true;
    } else if (e.includes("-") && !key.includes(" . ")) {
      const [lo, hi] = e.split("-").map((x) => parseIp(x)?.value ?? -1n);
      const v = parseIp(key)?.value ?? -2n;
      if (lo !== undefined && hi !== undefined && v >= lo && v <= hi && parseIp(key)?.family === parseIp(e.split("-")[0] as string)?.family) return true;
    } else if (e === key) return true;
  }
  return false;
}

/** One rule of the compiled form; returns "return", "drop" or undefined (no match). */
function evalRule(rs: PolicyRuleset, rule: string, saddr: string, daddr: string, fam: 4 | 6, proto: string, port: number): string | undefined {
  let rest = rule.trim();
  const take = (re: RegExp): RegExpMatchArray | null => {
    const m = rest.match(re);
    if (m !== null) rest = rest.slice(m[0].length).trimStart();
    return m;
  };
  for (;;) {
    if (rest === "return" || rest === "drop") return rest;
    let m: RegExpMatchArray | null;
    if ((m = take(/^(ip6?) daddr \. (tcp|udp|sctp) dport @(\S+)/))) {
      if ((m[1] === "ip") !== (fam === 4) || m[2] !== proto || !setHas(rs, m[3] as string, `${daddr} . ${port}`)) return undefined;
    } else if ((m = take(/^(ip6?) (saddr|daddr) @(\S+)/))) {
      if ((m[1] === "ip") !== (fam === 4) || !setHas(rs, m[3] as string, m[2] === "saddr" ? saddr : daddr)) return undefined;
    } else if ((m = take(/^meta l4proto (tcp|udp|sctp)/))) {
      if (m[1] !== proto) return undefined;
    } else if ((m = take(/^(tcp|udp|sctp) dport (\{ [^}]* \}|\S+)/))) {
      if (m[1] !== proto) return undefined;
      const items = (m[2] as string).replace(/[{}]/g, "").split(",").map((s) => s.trim());
      if (!items.some((it) => { const [a, b] = it.split("-").map(Number); return port >= (a as number) && port <= (b ?? a as number); })) return undefined;
    } else throw new Error(`interpreter does not know: ${rest}`);
  }
}

/** A new connection through the compiled forward chain: true when accepted. */
export function rulesetAllows(rs: PolicyRuleset, saddr: string, daddr: string, proto: Proto, port: number): boolean {
  const fam = parseIp(saddr)?.family === 6 ? 6 : 4;
  const p = proto.toLowerCase();
  // The base chain's self rule: a pod's own address to itself (hairpin through a Service).
  if (setHas(rs, `self${fam}`, `${saddr} . ${daddr}`)) return true;
  for (const [map, addr] of [[`egress${fam}`, saddr], [`ingress${fam}`, daddr]] as const) {
    const chainName = rs.maps[map as keyof PolicyRuleset["maps"]].get(addr);
    if (chainName === undefined) continue;
    const chain = rs.chains.get(chainName);
    if (chain === undefined) throw new Error(`map ${map} jumps to missing chain ${chainName}`);
    let verdict: string | undefined;
    for (const r of chain.rules) if ((verdict = evalRule(rs, r, saddr, daddr, fam, p, port)) !== undefined) break;
    if (verdict !== "return") return false;
  }
  return true;
}
