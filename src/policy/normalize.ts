/**
 * API objects -> ClusterView. Applies the API's defaults (policyTypes, protocol TCP, absent
 * lists) and drops what enforcement must ignore: hostNetwork pods, finished pods, pods without
 * addresses. Invalid parts (which the API server would have refused) are skipped with a warning
 * naming the object and field, and make the rule that holds them match nothing.
 */
import type {
  Namespace,
  NetworkPolicy,
  NetworkPolicyPeer,
  NetworkPolicyPort,
  Pod,
  NetworkPolicyIngressRule,
  NetworkPolicyEgressRule,
  NetworkPolicySpec,
} from "../k8s/types";
import { formatIp, parseIp } from "../ip/ip";
import type { ClusterView, NamedPort, NamespaceView, Peer, PodView, PolicyView, PortSpec, Protocol, RuleView } from "./model";
import { blockIntervals, intervalElement } from "./ranges";
import { compileSelector, type CompiledSelector } from "./selector";

export interface PolicyInputs {
  readonly pods: readonly Pod[];
  readonly namespaces: readonly Namespace[];
  readonly policies: readonly NetworkPolicy[];
}

function protocolOf(p: string | undefined): Protocol | undefined {
  switch (p ?? "TCP") {
    case "TCP":
      return "tcp";
    case "UDP":
      return "udp";
    case "SCTP":
      return "sctp";
    default:
      return undefined;
  }
}

/**
 * Address text -> [family, canonical text] (undefined: not an address). Every compile reads every
 * pod's addresses and parsing them dominated a compile, so parses are remembered (a pure function;
 * the cache is dropped whole when it grows past what a big cluster's churn needs).
 */
const canonical = new Map<string, readonly [4 | 6, string] | undefined>();
function canonicalAddress(text: string): readonly [4 | 6, string] | undefined {
  let c = canonical.get(text);
  if (c !== undefined || canonical.has(text)) return c;
  const ip = parseIp(text);
  c = ip === undefined ? undefined : ([ip.family, formatIp(ip)] as const);
  if (canonical.size >= 200_000) canonical.clear();
  canonical.set(text, c);
  return c;
}

/** A pod's addresses from status.podIPs (or status.podIP), canonical, split per family. */
export function podAddresses(pod: Pod): { v4: string[]; v6: string[] } {
  const listed = pod.status?.podIPs ?? [];
  const texts = listed.length > 0 ? listed.map((p) => p?.ip ?? "") : pod.status?.podIP ? [pod.status.podIP] : [];
  const v4: string[] = [];
  const v6: string[] = [];
  for (const t of texts) {
    const c = canonicalAddress(t);
    if (c === undefined) continue;
    const list = c[0] === 4 ? v4 : v6;
    if (!list.includes(c[1])) list.push(c[1]);
  }
  return { v4, v6 };
}

export function normalizePod(pod: Pod, nodeName: string): PodView | undefined {
  if (pod.spec?.hostNetwork === true) return undefined;
  const phase = pod.status?.phase;
  if (phase === "Succeeded" || phase === "Failed") return undefined;
  const { v4, v6 } = podAddresses(pod);
  if (v4.length === 0 && v6.length === 0) return undefined;
  const namespace = pod.metadata.namespace ?? "default";
  const namedPorts: NamedPort[] = [];
  // A named port is the pod's: its containers' and its sidecars' (restartable init containers, as
  // Kubernetes resolves a Service's named targetPort), never a plain init container's.
  const sidecars = (pod.spec?.initContainers ?? []).filter((c) => c.restartPolicy === "Always");
  for (const c of [...(pod.spec?.containers ?? []), ...sidecars]) {
    for (const p of c.ports ?? []) {
      const protocol = protocolOf(p.protocol);
      if (p.name !== undefined && p.name !== "" && protocol !== undefined) {
        namedPorts.push({ name: p.name, protocol, port: p.containerPort });
      }
    }
  }
  return {
    key: `${namespace}/${pod.metadata.name}`,
    namespace,
    labels: pod.metadata.labels ?? {},
    v4,
    v6,
    namedPorts,
    local: pod.spec?.nodeName === nodeName,
    terminating: pod.metadata.deletionTimestamp !== undefined,
  };
}

/**
 * A pod being deleted keeps its addresses in the API until it is gone, but its sandbox (and so its
 * address) may already be released and handed to a new pod. An address a live pod holds too is the
 * live pod's alone: the terminating one loses it (as a peer and as a policed pod), so the new pod
 * never gets the old one's rules or privileges. Costs nothing while no pod is terminating.
 */
function yieldReusedAddresses(pods: PodView[]): PodView[] {
  if (!pods.some((p) => p.terminating)) return pods;
  const live = new Set<string>();
  for (const p of pods) if (!p.terminating) for (const a of [...p.v4, ...p.v6]) live.add(a);
  const out: PodView[] = [];
  for (const p of pods) {
    if (!p.terminating || ![...p.v4, ...p.v6].some((a) => live.has(a))) {
      out.push(p);
      continue;
    }
    const v4 = p.v4.filter((a) => !live.has(a));
    const v6 = p.v6.filter((a) => !live.has(a));
    if (v4.length + v6.length > 0) out.push({ ...p, v4, v6 });
  }
  return out;
}

function normalizePorts(ports: readonly NetworkPolicyPort[] | undefined, where: string, warn: (w: string) => void): PortSpec[] | "any" {
  if (ports === undefined || ports.length === 0) return "any";
  const out: PortSpec[] = [];
  ports.forEach((p, i) => {
    const at = `${where}.ports[${i}]`;
    const protocol = protocolOf(p.protocol);
    if (protocol === undefined) return warn(`${at}.protocol: unsupported ${JSON.stringify(p.protocol)}`);
    // endPort needs a numeric port (the API server refuses it otherwise): the clause is invalid.
    if (p.port === undefined || p.port === null) {
      if (p.endPort !== undefined && p.endPort !== null) return warn(`${at}.endPort: needs a numeric port`);
      return void out.push({ protocol, kind: "all" });
    }
    if (typeof p.port === "string" && !/^\d+$/.test(p.port)) {
      if (p.endPort !== undefined && p.endPort !== null) return warn(`${at}.endPort: not allowed with the named port ${JSON.stringify(p.port)}`);
      return void out.push({ protocol, kind: "named", name: p.port });
    }
    const from = Number(p.port);
    const to = p.endPort ?? from;
    if (!Number.isInteger(from) || from < 1 || from > 65535 || !Number.isInteger(to) || to < from || to > 65535) {
      return warn(`${at}: invalid port ${JSON.stringify(p.port)}..${JSON.stringify(p.endPort)}`);
    }
    out.push({ protocol, kind: "range", from, to });
  });
  // Every clause invalid: the rule must match nothing rather than every port.
  return out;
}

function normalizePeers(
  peers: readonly NetworkPolicyPeer[] | undefined,
  namespace: string,
  where: string,
  warn: (w: string) => void,
  selectors: Map<string, CompiledSelector>,
): Peer[] | "any" {
  if (peers === undefined || peers.length === 0) return "any";
  const sel = (s: NonNullable<NetworkPolicyPeer["podSelector"]>, at: string): CompiledSelector => {
    const c = compileSelector(s);
    const cached = selectors.get(c.key);
    if (cached !== undefined) return cached;
    if (c.invalid !== undefined) warn(`${at}: ${c.invalid}`);
    selectors.set(c.key, c);
    return c;
  };
  const out: Peer[] = [];
  peers.forEach((p, i) => {
    const at = `${where}[${i}]`;
    if (p.ipBlock !== undefined) {
      if (p.podSelector !== undefined || p.namespaceSelector !== undefined) {
        return warn(`${at}: ipBlock cannot be combined with a selector`);
      }
      try {
        const { family, intervals } = blockIntervals(p.ipBlock.cidr, p.ipBlock.except ?? []);
        const key = `B${family}:${intervals.map((iv) => intervalElement(family, iv)).join(",")}`;
        out.push({ kind: "block", key, family, intervals });
      } catch (e) {
        warn(`${at}.ipBlock: ${(e as Error).message}`);
      }
      return;
    }
    if (p.namespaceSelector !== undefined) {
      const ns = sel(p.namespaceSelector, `${at}.namespaceSelector`);
      const pods = sel(p.podSelector ?? {}, `${at}.podSelector`);
      return void out.push({ kind: "pods", key: `P:ns${ns.key}|${pods.key}`, namespaces: { selector: ns }, pods });
    }
    if (p.podSelector !== undefined) {
      const pods = sel(p.podSelector, `${at}.podSelector`);
      return void out.push({ kind: "pods", key: `P:=${namespace}|${pods.key}`, namespaces: { exact: namespace }, pods });
    }
    warn(`${at}: a peer needs podSelector, namespaceSelector or ipBlock`);
  });
  return out;
}

/** A copy without null fields: JSON null means absent (as Go's decoder reads it), never "empty". */
function withoutNulls<T>(v: T): T {
  if (Array.isArray(v)) return v.filter((x) => x !== null).map(withoutNulls) as T;
  if (v === null || typeof v !== "object") return v;
  const out: Record<string, unknown> = {};
  for (const [k, x] of Object.entries(v)) if (x !== null) out[k] = withoutNulls(x);
  return out as T;
}

export function normalizePolicy(
  original: NetworkPolicy,
  warn: (w: string) => void,
  selectors: Map<string, CompiledSelector> = new Map(),
): PolicyView {
  const np = withoutNulls(original);
  const namespace = np.metadata.namespace ?? "default";
  const key = `${namespace}/${np.metadata.name}`;
  const spec: Partial<NetworkPolicySpec> = np.spec ?? {};
  const types = spec.policyTypes !== undefined && spec.policyTypes.length > 0
    ? spec.policyTypes
    : (["Ingress", ...(spec.egress !== undefined && spec.egress.length > 0 ? ["Egress"] : [])] as const);
  const selector = compileSelector(spec.podSelector ?? {});
  if (selector.invalid !== undefined) warn(`networkpolicy ${key} spec.podSelector: ${selector.invalid}`);
  const rules = (list: readonly (NetworkPolicyIngressRule | NetworkPolicyEgressRule)[] | undefined, dir: "ingress" | "egress"): RuleView[] =>
    (list ?? []).map((r, i) => {
      const where = `networkpolicy ${key} spec.${dir}[${i}]`;
      const peerList = dir === "ingress" ? (r as NetworkPolicyIngressRule).from : (r as NetworkPolicyEgressRule).to;
      return {
        peers: normalizePeers(peerList, namespace, `${where}.${dir === "ingress" ? "from" : "to"}`, warn, selectors),
        ports: normalizePorts(r.ports, where, warn),
      };
    });
  return {
    key,
    namespace,
    selector,
    ingress: types.includes("Ingress") ? rules(spec.ingress, "ingress") : undefined,
    egress: types.includes("Egress") ? rules(spec.egress, "egress") : undefined,
  };
}

/** The API server sets this label on every namespace (immutable, = its name); upstream e2e selects on it. */
export const NAMESPACE_NAME_LABEL = "kubernetes.io/metadata.name";

export function namespaceLabels(name: string, labels: Readonly<Record<string, string>> | undefined): Record<string, string> {
  return { ...(labels ?? {}), [NAMESPACE_NAME_LABEL]: name };
}

/**
 * Normalized objects remembered by object identity. API objects are treated as immutable, as the
 * informers' are (every event brings a new object), so an unchanged pod or policy is not
 * normalized again on the next compile.
 */
export interface NormalizeCache {
  pods: WeakMap<Pod, PodView | null>;
  policies: WeakMap<NetworkPolicy, { view: PolicyView; warnings: string[] }>;
}

export function newNormalizeCache(): NormalizeCache {
  return { pods: new WeakMap(), policies: new WeakMap() };
}

export function normalize(inputs: PolicyInputs, nodeName: string, cache: NormalizeCache = newNormalizeCache()): ClusterView {
  const warnings: string[] = [];
  const namespaces = new Map<string, NamespaceView>();
  for (const ns of inputs.namespaces) namespaces.set(ns.metadata.name, { name: ns.metadata.name, labels: namespaceLabels(ns.metadata.name, ns.metadata.labels) });
  const pods: PodView[] = [];
  for (const p of inputs.pods) {
    let v = cache.pods.get(p);
    if (v === undefined) cache.pods.set(p, (v = normalizePod(p, nodeName) ?? null));
    if (v !== null) pods.push(v);
  }
  const kept = yieldReusedAddresses(pods);
  const policies = inputs.policies.map((np) => {
    let c = cache.policies.get(np);
    if (c === undefined) {
      const own: string[] = [];
      c = { view: normalizePolicy(np, (w) => void own.push(w)), warnings: own };
      cache.policies.set(np, c);
    }
    warnings.push(...c.warnings);
    return c.view;
  });
  policies.sort((a, b) => (a.key < b.key ? -1 : a.key > b.key ? 1 : 0));
  return { pods: kept, namespaces, policies, warnings };
}
