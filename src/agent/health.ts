/** /healthz, /readyz and Prometheus metrics (text format 0.0.4) on a localhost port. */
import { createServer, type Server } from "node:http";

export interface AgentMetrics {
  routes: number;
  unroutableNodes: number;
  nodes: number;
  watchRestarts: number;
  apiErrors: number;
  relists: number;
  reconciles: number;
  /** Event reconciles that stopped at the desired state: nothing the agent uses had changed. */
  skippedReconciles: number;
  reconcileErrors: number;
  reconcileSecondsSum: number;
  lastReconcileSeconds: number;
  conflistWrites: number;
  masqueradeWrites: number;
  /** NetworkPolicy (src/agent/policy.ts). */
  policyApplies: number;
  policyApplyErrors: number;
  policyLastApplySeconds: number;
  policyRules: number;
  policyMapElements: number;
}

export function newMetrics(): AgentMetrics {
  return {
    routes: 0,
    unroutableNodes: 0,
    nodes: 0,
    watchRestarts: 0,
    apiErrors: 0,
    relists: 0,
    reconciles: 0,
    skippedReconciles: 0,
    reconcileErrors: 0,
    reconcileSecondsSum: 0,
    lastReconcileSeconds: 0,
    conflistWrites: 0,
    masqueradeWrites: 0,
    policyApplies: 0,
    policyApplyErrors: 0,
    policyLastApplySeconds: 0,
    policyRules: 0,
    policyMapElements: 0,
  };
}

/** The metrics in Prometheus text exposition format. */
export function metricsText(m: AgentMetrics, ready: boolean): string {
  const lines: string[] = [];
  const metric = (name: string, type: "gauge" | "counter", help: string, value: number): void => {
    lines.push(`# HELP ${name} ${help}`, `# TYPE ${name} ${type}`, `${name} ${Number.isFinite(value) ? value : 0}`);
  };
  metric("tether_agent_ready", "gauge", "1 once the nodes are listed and the last reconciles (routes, masquerade, NetworkPolicy) succeeded", ready ? 1 : 0);
  metric("tether_agent_nodes", "gauge", "Nodes in the agent's cache", m.nodes);
  metric("tether_agent_routes", "gauge", "Routes to other nodes' pod CIDRs the agent keeps", m.routes);
  metric("tether_agent_unroutable_nodes", "gauge", "Node pod CIDRs without a next hop on a directly connected network", m.unroutableNodes);
  metric("tether_agent_watch_restarts_total", "counter", "Node watches started again (stream ended or failed)", m.watchRestarts);
  metric("tether_agent_api_errors_total", "counter", "Failed Kubernetes API requests", m.apiErrors);
  metric("tether_agent_relists_total", "counter", "Full relists of the nodes (410 Gone or errors)", m.relists);
  metric("tether_agent_reconcile_errors_total", "counter", "Reconciles that failed", m.reconcileErrors);
  metric("tether_agent_reconciles_unchanged_total", "counter", "Node events that changed nothing the agent uses (no read-back)", m.skippedReconciles);
  metric("tether_agent_conflist_writes_total", "counter", "Times the conflist was written", m.conflistWrites);
  metric("tether_agent_masquerade_writes_total", "counter", "nft transactions on the agent's table", m.masqueradeWrites);
  metric("tether_agent_policy_applies_total", "counter", "NetworkPolicy rulesets applied (nft transactions)", m.policyApplies);
  metric("tether_agent_policy_apply_errors_total", "counter", "NetworkPolicy applies that failed", m.policyApplyErrors);
  metric("tether_agent_policy_last_apply_seconds", "gauge", "Compile and apply time of the last NetworkPolicy change", m.policyLastApplySeconds);
  metric("tether_agent_policy_rules", "gauge", "Rules in the NetworkPolicy chains", m.policyRules);
  metric("tether_agent_policy_pod_addresses", "gauge", "Pod addresses with a policy chain (verdict map elements)", m.policyMapElements);
  metric("tether_agent_last_reconcile_seconds", "gauge", "Duration of the last reconcile", m.lastReconcileSeconds);
  lines.push(
    "# HELP tether_agent_reconcile_seconds Duration of reconciles",
    "# TYPE tether_agent_reconcile_seconds summary",
    `tether_agent_reconcile_seconds_sum ${m.reconcileSecondsSum}`,
    `tether_agent_reconcile_seconds_count ${m.reconciles}`,
  );
  return lines.join("\n") + "\n";
}

/** "127.0.0.1:9717", "[::1]:9717" -> host and port; throws naming the flag. */
export function parseBindAddress(text: string): { host: string; port: number } {
  const m = /^(?:\[([0-9a-fA-F:.]+)\]|([^:[\]]+)):(\d{1,5})$/.exec(text);
  const port = m === null ? NaN : Number(m[3]);
  if (m === null || port > 65535) throw new Error(`--metrics-bind-address ${JSON.stringify(text)} is not HOST:PORT`);
  return { host: m[1] ?? m[2] ?? "", port };
}

export interface HealthSource {
  metrics(): AgentMetrics;
  ready(): boolean;
}

export function startHealthServer(bind: string, src: HealthSource): Promise<Server> {
  const { host, port } = parseBindAddress(bind);
  const server = createServer((req, res) => {
    const path = (req.url ?? "/").split("?")[0];
    if (req.method !== "GET" && req.method !== "HEAD") {
      res.writeHead(405).end();
      return;
    }
    if (path === "/healthz") res.writeHead(200, { "content-type": "text/plain" }).end("ok\n");
    else if (path === "/readyz") {
      const ok = src.ready();
      res.writeHead(ok ? 200 : 503, { "content-type": "text/plain" }).end(ok ? "ok\n" : "not ready\n");
    } else if (path === "/metrics") {
      res.writeHead(200, { "content-type": "text/plain; version=0.0.4" }).end(metricsText(src.metrics(), src.ready()));
    } else res.writeHead(404).end();
  });
  return new Promise((resolve, reject) => {
    server.once("error", reject);
    server.listen(port, host, () => {
      server.off("error", reject);
      resolve(server);
    });
  });
}
