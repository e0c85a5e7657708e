/** The Node informer the agent runs on (src/k8s), behind the agent's NodeSource. */
import { loadClusterConfig } from "../k8s/config";
import { KubeClient } from "../k8s/client";
import { Informer } from "../k8s/informer";
import { slimNamespace, slimNetworkPolicy, slimNode, slimPod, type Namespace, type NetworkPolicy, type Node, type Pod } from "../k8s/types";
import type { NodeSource } from "./agent";
import type { PolicySources } from "./policy";
import type { AgentOptions } from "./options";
import { log } from "../util/log";

/**
 * Objects per list request. A page is read whole and parsed before it is slimmed: 500 Nodes of a
 * kubelet's size (~13 KB of JSON each) took the agent's peak RSS to ~107 MiB, 100 to ~74
 * (scripts/bench-agent.mjs --real-nodes); 1,000 nodes then take 10 requests instead of 2.
 */
const LIST_PAGE = 100;

/** The agent's own loop has the resync timer; the informer needs none. */
export function nodeInformer(opts: AgentOptions, env: NodeJS.ProcessEnv): NodeSource {
  // Only pod CIDRs and addresses are read: real Nodes (images, conditions, managedFields) are ~10x larger.
  return new Informer<Node>(kubeClient(opts, env), "nodes", { log, transform: slimNode, pageSize: LIST_PAGE });
}

function kubeClient(opts: AgentOptions, env: NodeJS.ProcessEnv): KubeClient {
  const cfg = loadClusterConfig(opts.kubeconfig === undefined ? { env } : { kubeconfig: opts.kubeconfig, env });
  return new KubeClient(cfg);
}

/** Informers of every Pod, Namespace and NetworkPolicy (peers live on any node). */
export function policyInformers(opts: AgentOptions, env: NodeJS.ProcessEnv): PolicySources {
  const client = kubeClient(opts, env);
  return {
    // Cached slim: a real Pod carries managedFields, env, volumes... that every cached pod would pay for.
    pods: new Informer<Pod>(client, "pods", { log, transform: slimPod, pageSize: LIST_PAGE }),
    namespaces: new Informer<Namespace>(client, "namespaces", { log, transform: slimNamespace, pageSize: LIST_PAGE }),
    policies: new Informer<NetworkPolicy>(client, "networkpolicies", { log, transform: slimNetworkPolicy, pageSize: LIST_PAGE }),
  };
}
