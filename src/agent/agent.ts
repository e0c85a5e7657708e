/**
 * The agent: on every trigger, desired state from the cached Nodes (desired.ts), then each part made
 * to match it (conflist file, routes, masquerade table, state file). Routes and rules stay when the
 * agent stops: pods keep their network while it restarts, and the next start reconciles them.
 */
import { join } from "node:path";
import type { Server } from "node:http";
import { Rtnl } from "../netlink";
import { log } from "../util/log";
import { replaceFile } from "../util/replaceFile";
import { CONFLIST_FILE, conflistText } from "./conflist";
import { type AgentNode, desiredState } from "./desired";
import { type AgentMetrics, newMetrics, startHealthServer } from "./health";
import { installPlugin, writeIfChanged } from "./install";
import { ReconcileLoop } from "./loop";
import { reconcileMasquerade } from "./masquerade";
import type { AgentOptions } from "./options";
import { localAddresses, reconcileRoutes } from "./routes";
import { writeState } from "./state";
import * as fs from "node:fs";

/** What the agent needs of a Node informer (src/k8s/informer.ts Informer<Node>). */
export interface NodeSource {
  readonly synced: boolean;
  items(): AgentNode[];
  onChange(cb: () => void): () => void;
  start(): void;
  stop(): Promise<void>;
  readonly metrics: { watchRestarts: number; apiErrors: number; relists: number };
}

export class Agent {
  readonly metrics: AgentMetrics = newMetrics();
  private readonly rtnl: Rtnl;
  private readonly loop: ReconcileLoop;
  private server: Server | undefined;
  private reconciledOnce = false;
  private lastOk = false;
  private stateText: string | undefined;
  /** node/family -> the warning last logged, so each unroutable node is warned about once. */
  private warned = new Map<string, string>();
  private problemsLogged = new Set<string>();
  private waitingLogged: string | undefined;
  private unsubscribe: (() => void) | undefined;

  constructor(
    private readonly opts: AgentOptions,
    private readonly nodes: NodeSource,
  ) {
    this.rtnl = Rtnl.open(undefined, { timeoutMs: 10_000 });
    this.loop = new ReconcileLoop(() => this.reconcile(), {
      resyncMs: opts.resyncMs,
      onError: (err) => {
        this.metrics.reconcileErrors++;
        this.lastOk = false;
        log.error("reconcile failed", { err: (err as Error).message });
      },
    });
  }

  ready(): boolean {
    return this.nodes.synced && this.reconciledOnce && this.lastOk;
  }

  async start(): Promise<void> {
    if (this.opts.installSource !== undefined) {
      const r = installPlugin(this.opts.installSource, this.opts.cniBinDir);
      log.info("plugin installed", { binDir: this.opts.cniBinDir, ...r });
    }
    this.server = await startHealthServer(this.opts.metricsBindAddress, { metrics: () => this.snapshotMetrics(), ready: () => this.ready() });
    this.unsubscribe = this.nodes.onChange(() => this.loop.trigger());
    this.nodes.start();
    this.loop.start();
  }

  /** Stop watching and serving; leaves routes, rules and files in place. */
  async stop(): Promise<void> {
    this.unsubscribe?.();
    await this.loop.stop();
    await this.nodes.stop();
    await new Promise<void>((resolve) => (this.server ? this.server.close(() => resolve()) : resolve()));
    this.server?.closeAllConnections();
    this.rtnl.close();
  }

  whenIdle(): Promise<void> {
    return this.loop.whenIdle();
  }

  private snapshotMetrics(): AgentMetrics {
    const m = this.nodes.metrics;
    return { ...this.metrics, watchRestarts: m.watchRestarts, apiErrors: m.apiErrors, relists: m.relists };
  }

  /** One reconcile. Nothing is changed before the first complete list: an empty cache is not "no nodes". */
  async reconcile(): Promise<void> {
    if (!this.nodes.synced) return;
    const started = process.hrtime.bigint();
    const nodes = this.nodes.items();
    const local = await localAddresses(this.rtnl);
    const desired = desiredState(nodes, this.opts.nodeName, local);
    this.logFindings(desired);

    let conflist = "";
    if (desired.ownCidrs.length > 0) {
      conflist = conflistText({ podCidrs: desired.ownCidrs, mtu: this.opts.mtu, ipamDataDir: this.opts.ipamDataDir });
      fs.mkdirSync(this.opts.cniConfDir, { recursive: true, mode: 0o755 });
      const path = join(this.opts.cniConfDir, CONFLIST_FILE);
      if (writeIfChanged(path, conflist, (p, t) => replaceFile(p, t, { mode: 0o644, fsync: true }))) {
        this.metrics.conflistWrites++;
        log.info("conflist written", { path, podCIDRs: desired.ownCidrs.map((p) => p.text) });
      }
    }

    const routes = await reconcileRoutes(this.rtnl, desired.routes);
    if (routes.plan.add.length + routes.plan.delete.length > 0) {
      log.info("routes reconciled", { added: routes.plan.add.length - routes.failures.filter((f) => f.route.startsWith("add")).length, deleted: routes.plan.delete.length });
    }

    const local4 = desired.ownCidrs.filter((p) => p.family === 4).map((p) => p.text);
    const local6 = desired.ownCidrs.filter((p) => p.family === 6).map((p) => p.text);
    if (reconcileMasquerade({ local: { 4: local4, 6: local6 }, cluster: desired.clusterCidrs })) this.metrics.masqueradeWrites++;

    this.stateText = writeState(
      this.opts.stateDir,
      {
        node: this.opts.nodeName,
        podCidrs: desired.ownCidrs.map((p) => p.text),
        conflist: join(this.opts.cniConfDir, CONFLIST_FILE),
        routes: desired.routes.map((r) => ({ dst: r.dst, gw: r.gw, node: r.node })),
        clusterCidrs: desired.clusterCidrs,
      },
      this.stateText,
    );

    const seconds = Number(process.hrtime.bigint() - started) / 1e9;
    this.metrics.reconciles++;
    this.metrics.reconcileSecondsSum += seconds;
    this.metrics.lastReconcileSeconds = seconds;
    this.metrics.nodes = nodes.length;
    this.metrics.routes = desired.routes.length;
    this.metrics.unroutableNodes = desired.unroutable.length;
    this.reconciledOnce = true;
    if (routes.failures.length > 0) {
      for (const f of routes.failures.slice(0, 10)) log.warn("route change failed", f);
      throw new Error(`${routes.failures.length} route change(s) failed`);
    }
    this.lastOk = true;
  }

  private logFindings(desired: ReturnType<typeof desiredState>): void {
    if (desired.waiting !== this.waitingLogged) {
      if (desired.waiting !== undefined) log.warn(`waiting: ${desired.waiting}; no conflist is written until it has one`);
      this.waitingLogged = desired.waiting;
    }
    const now = new Map(desired.unroutable.map((u) => [`${u.node}/IPv${u.family}`, u.reason]));
    for (const [key, reason] of now) {
      if (this.warned.get(key) !== reason) log.warn(`no route to the pod CIDR of node ${key}: ${reason}`);
    }
    this.warned = now;
    for (const p of desired.problems) {
      if (!this.problemsLogged.has(p)) log.warn(p);
    }
    this.problemsLogged = new Set(desired.problems);
  }
}
