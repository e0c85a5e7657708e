/**
 * The one list of what the agent may ask the API server. The client refuses anything else, and the
 * RBAC rules of the deployment are derived from (and tested against) this list.
 */
import { K8sAccessError } from "./errors";

export type ResourceKind = "nodes" | "pods" | "namespaces" | "networkpolicies";
export type Verb = "list" | "watch";

export interface AccessRule {
  kind: ResourceKind;
  apiGroup: "" | "networking.k8s.io";
  resource: string;
  verbs: readonly Verb[];
  /** Collection path across all namespaces (or of the cluster-scoped resource). */
  path: string;
}

export const AGENT_ACCESS: readonly AccessRule[] = [
  { kind: "nodes", apiGroup: "", resource: "nodes", verbs: ["list", "watch"], path: "/api/v1/nodes" },
  { kind: "pods", apiGroup: "", resource: "pods", verbs: ["list", "watch"], path: "/api/v1/pods" },
  { kind: "namespaces", apiGroup: "", resource: "namespaces", verbs: ["list", "watch"], path: "/api/v1/namespaces" },
  {
    kind: "networkpolicies",
    apiGroup: "networking.k8s.io",
    resource: "networkpolicies",
    verbs: ["list", "watch"],
    path: "/apis/networking.k8s.io/v1/networkpolicies",
  },
];

/** The rule allowing `verb` on `kind`; throws K8sAccessError when there is none. */
export function accessFor(kind: string, verb: string): AccessRule {
  const rule = AGENT_ACCESS.find((r) => r.kind === kind);
  if (!rule || !(rule.verbs as readonly string[]).includes(verb)) throw new K8sAccessError(kind, verb);
  return rule;
}

export interface PolicyRule {
  apiGroups: string[];
  resources: string[];
  verbs: string[];
}

/** The ClusterRole rules AGENT_ACCESS amounts to (what deploy/tether.yaml must grant, no more). */
export function agentClusterRoleRules(): PolicyRule[] {
  return AGENT_ACCESS.map((r) => ({ apiGroups: [r.apiGroup], resources: [r.resource], verbs: [...r.verbs] }));
}
