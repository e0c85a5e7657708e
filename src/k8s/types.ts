/** Typed subsets of the Kubernetes API objects tether reads (core/v1 and networking.k8s.io/v1). */

export interface ObjectMeta {
  name: string;
  namespace?: string;
  uid?: string;
  resourceVersion?: string;
  labels?: Record<string, string>;
  deletionTimestamp?: string;
}

export interface NodeAddress {
  type: string;
  address: string;
}

export interface Node {
  metadata: ObjectMeta;
  spec?: { podCIDR?: string; podCIDRs?: string[] };
  status?: { addresses?: NodeAddress[] };
}

export interface ContainerPort {
  name?: string;
  containerPort: number;
  protocol?: "TCP" | "UDP" | "SCTP";
}

export interface Pod {
  metadata: ObjectMeta;
  spec?: {
    nodeName?: string;
    hostNetwork?: boolean;
    containers?: { name: string; ports?: ContainerPort[] }[];
    /** Sidecars (restartPolicy Always) run beside the containers: their named ports are the pod's too. */
    initContainers?: { name: string; restartPolicy?: string; ports?: ContainerPort[] }[];
  };
  status?: { phase?: string; podIP?: string; podIPs?: { ip: string }[] };
}

export interface Namespace {
  metadata: ObjectMeta;
}

export interface LabelSelectorRequirement {
  key: string;
  operator: "In" | "NotIn" | "Exists" | "DoesNotExist";
  values?: string[];
}

export interface LabelSelector {
  matchLabels?: Record<string, string>;
  matchExpressions?: LabelSelectorRequirement[];
}

export interface IPBlock {
  cidr: string;
  except?: string[];
}

export interface NetworkPolicyPeer {
  podSelector?: LabelSelector;
  namespaceSelector?: LabelSelector;
  ipBlock?: IPBlock;
}

export interface NetworkPolicyPort {
  protocol?: "TCP" | "UDP" | "SCTP";
  /** A number or a named container port. */
  port?: number | string;
  endPort?: number;
}

export interface NetworkPolicyIngressRule {
  from?: NetworkPolicyPeer[];
  ports?: NetworkPolicyPort[];
}

export interface NetworkPolicyEgressRule {
  to?: NetworkPolicyPeer[];
  ports?: NetworkPolicyPort[];
}

export interface NetworkPolicySpec {
  podSelector: LabelSelector;
  ingress?: NetworkPolicyIngressRule[];
  egress?: NetworkPolicyEgressRule[];
  policyTypes?: ("Ingress" | "Egress")[];
}

export interface NetworkPolicy {
  metadata: ObjectMeta;
  spec?: NetworkPolicySpec;
}

/** Any API object with metadata (what lists and watches carry). */
export interface KubeObject {
  metadata: ObjectMeta;
}

/** The store key of an object: "ns/name", or "name" for cluster-scoped objects. */
export function objectKey(o: { metadata: ObjectMeta }): string {
  return o.metadata.namespace ? `${o.metadata.namespace}/${o.metadata.name}` : o.metadata.name;
}

/** ObjectMeta reduced to the fields above (a real object's managedFields, annotations... dropped). */
export function slimMeta(m: ObjectMeta): ObjectMeta {
  const out: ObjectMeta = { name: m.name };
  if (m.namespace !== undefined) out.namespace = m.namespace;
  if (m.uid !== undefined) out.uid = m.uid;
  if (m.resourceVersion !== undefined) out.resourceVersion = m.resourceVersion;
  if (m.labels !== undefined) out.labels = m.labels;
  if (m.deletionTimestamp !== undefined) out.deletionTimestamp = m.deletionTimestamp;
  return out;
}

/**
 * A Node reduced to what tether reads (an Informer `transform`): a real Node also carries its image
 * list, conditions and managedFields, tens of KiB each, which 1,000 cached nodes would pay for.
 */
export function slimNode(n: Node): Node {
  const out: Node = { metadata: slimMeta(n.metadata) };
  if (n.spec) {
    const spec: NonNullable<Node["spec"]> = {};
    if (n.spec.podCIDR !== undefined) spec.podCIDR = n.spec.podCIDR;
    if (n.spec.podCIDRs !== undefined) spec.podCIDRs = n.spec.podCIDRs;
    out.spec = spec;
  }
  if (n.status?.addresses) out.status = { addresses: n.status.addresses.map((a) => ({ type: a.type, address: a.address })) };
  return out;
}

/** A Pod reduced to what tether reads (node, host network, container ports, phase and addresses). */
export function slimPod(p: Pod): Pod {
  const out: Pod = { metadata: slimMeta(p.metadata) };
  if (p.spec) {
    const spec: NonNullable<Pod["spec"]> = {};
    if (p.spec.nodeName !== undefined) spec.nodeName = p.spec.nodeName;
    if (p.spec.hostNetwork !== undefined) spec.hostNetwork = p.spec.hostNetwork;
    if (p.spec.containers !== undefined) {
      spec.containers = p.spec.containers.map((c) => {
        const cc: { name: string; ports?: ContainerPort[] } = { name: c.name };
        if (c.ports !== undefined) cc.ports = c.ports;
        return cc;
      });
    }
    // Only sidecars with ports: what NetworkPolicy named ports can resolve to (plain init containers have finished).
    const sidecars = p.spec.initContainers?.filter((c) => c.restartPolicy === "Always" && c.ports !== undefined && c.ports.length > 0);
    if (sidecars !== undefined && sidecars.length > 0) spec.initContainers = sidecars.map((c) => ({ name: c.name, restartPolicy: "Always", ports: c.ports ?? [] }));
    out.spec = spec;
  }
  if (p.status) {
    const st: NonNullable<Pod["status"]> = {};
    if (p.status.phase !== undefined) st.phase = p.status.phase;
    if (p.status.podIP !== undefined) st.podIP = p.status.podIP;
    if (p.status.podIPs !== undefined) st.podIPs = p.status.podIPs.map((i) => ({ ip: i.ip }));
    out.status = st;
  }
  return out;
}

/** A Namespace reduced to its metadata subset (its labels are what policies select on). */
export function slimNamespace(n: Namespace): Namespace {
  return { metadata: slimMeta(n.metadata) };
}

/** A NetworkPolicy with its metadata subset and its spec whole. */
export function slimNetworkPolicy(p: NetworkPolicy): NetworkPolicy {
  const out: NetworkPolicy = { metadata: slimMeta(p.metadata) };
  if (p.spec !== undefined) out.spec = p.spec;
  return out;
}
