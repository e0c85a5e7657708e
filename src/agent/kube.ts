/** The Node informer the agent runs on (src/k8s), behind the agent's NodeSource. */
import { loadClusterConfig } from "../k8s/config";
import { KubeClient } from "../k8s/client";
import { Informer } from "../k8s/informer";
import { type Node, slimNode } from "../k8s/types";
import type { NodeSource } from "./agent";
import type { AgentOptions } from "./options";
import { log } from "../util/log";

/** The agent's own loop has the resync timer; the informer needs none. */
export function nodeInformer(opts: AgentOptions, env: NodeJS.ProcessEnv): NodeSource {
  const cfg = loadClusterConfig(opts.kubeconfig === undefined ? { env } : { kubeconfig: opts.kubeconfig, env });
  // Only pod CIDRs and addresses are read: real Nodes (images, conditions, managedFields) are ~10x larger.
  return new Informer<Node>(new KubeClient(cfg), "nodes", { log, transform: slimNode });
}
