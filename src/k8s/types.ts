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
