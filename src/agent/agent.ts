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
import { CONFLIST_FILE, configsBefore, conflistText } from "./conflist";
import { type AgentNode, type DesiredRoute, type LocalAddress, desiredState } from "./desired";
import { type AgentMetrics, newMetrics, startHealthServer } from "./health";
import { installPlugin, writeIfChanged } from "./install";
import { ReconcileLoop } from "./loop";
import { ChainVersions } from "./chain";
import { type MasqueradeState, masqueradeWant, reconcileMasquerade } from "./masquerade";
import type { AgentOptions } from "./options";
import { applyKnownDelta, localAddresses, reconcileRoutes } from "./routes";
import { writeState } from "./state";
import type { PolicyController } from "./policy";
import fs = require("node:fs");

/** What the agent needs of a Node informer (src/k8s/informer.ts Informer<Node>). */
export interface NodeSource {
  readonly synced: boolean;
  items(): AgentNode[];
  onChange(cb: () => void): () => void;
  start(): void;
  stop(): Promise<void>;
  readonly metrics: { watchRestarts: number; apiErrors: number; relists: number };
}

/** How soon after an event's reconcile the kernel is read back (one read-back serves a burst). */
const READ_BACK_MS = 1000;

function sameRoutes(a: readonly DesiredRoute[], b: readonly DesiredRoute[]): boolean {
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) {
    const x = a[i]!;
    const y = b[i]!;
    if (x !== y && (x.dst !== y.dst || x.gw !== y.gw || x.node !== y.node)) return false;
  }
  return true;
}

export class Agent {
  readonly metrics: AgentMetrics = newMetrics();
  private readonly rtnl: Rtnl;
  private readonly loop: ReconcileLoop;
  /** The masquerade table has a loop of its own: an nft run never delays a route. */
  private readonly masqLoop: ReconcileLoop;
  private masqOk = false;
  private readBackTimer: NodeJS.Timeout | undefined;
  private local: LocalAddress[] | undefined;
  /** When the informer first reported a change not yet reconciled (for the debug log's latency). */
  private changedAt: bigint | undefined;
  private readonly chain: ChainVersions;
  private chainNote: string | undefined;
  private masqApplied: string | undefined;
  private masqState: MasqueradeState | undefined;
  private lastDesired: ReturnType<typeof desiredState> | undefined;
  /** What the last successful reconcile applied; an event that changes none of it reads nothing back. */
  private applied: { routes: readonly DesiredRoute[]; cluster: string; own: string } | undefined;
  private server: Server | undefined;
  private reconciledOnce = false;
  private resolveFirstApplied: (() => void) | undefined;
  /** Resolved once the first reconcile has applied everything (all routes of the first list). */
  readonly firstApplied = new Promise<void>((resolve) => (this.resolveFirstApplied = resolve));
  /** Called after each reconcile that read the kernel back and succeeded (memory housekeeping). */
  afterReadBack: (() => void) | undefined;
  private lastOk = false;
  private stateText: string | undefined;
  /** node/family -> the warning last logged, so each unroutable node is warned about once. */
  private warned = new Map<string, string>();
  private problemsLogged = new Set<string>();
  /** Routes held by a route of another protocol, each warned about once. */
  private blockedLogged = new Set<string>();
  private waitingLogged: string | undefined;
  private shadowedLogged = "";
  private unsubscribe: (() => void) | undefined;

  constructor(
    private readonly opts: AgentOptions,
    private readonly nodes: NodeSource,
    /** NetworkPolicy enforcement (its own loop); undefined: none. */
    private readonly policy?: PolicyController,
  ) {
    this.rtnl = Rtnl.open(undefined, { timeoutMs: 10_000 });
    this.chain = new ChainVersions(opts.cniBinDir);
    this.loop = new ReconcileLoop((full) => this.reconcile(full), {
      resyncMs: opts.resyncMs,
      onError: (err) => {
        this.metrics.reconcileErrors++;
        this.lastOk = false;
        log.error("reconcile failed", { err: (err as Error).message });
      },
    });
    this.masqLoop = new ReconcileLoop((full) => this.reconcileMasquerade(full), {
      resyncMs: opts.resyncMs,
      onError: (err) => {
        this.metrics.reconcileErrors++;
        this.masqOk = false;
        log.error("masquerade reconcile failed", { err: (err as Error).message });
      },
    });
  }

  /** Routes, masquerade and (unless disabled) NetworkPolicy in place: a rollout waits for all of them. */
  ready(): boolean {
    return this.nodes.synced && this.reconciledOnce && this.lastOk && this.masqOk && (this.policy === undefined || this.policy.ready);
  }

  async start(): Promise<void> {
    if (this.opts.installSource !== undefined) {
      const r = installPlugin(this.opts.installSource, this.opts.cniBinDir);
      log.info("plugin installed", { binDir: this.opts.cniBinDir, ...r });
    }
    this.server = await startHealthServer(this.opts.metricsBindAddress, { metrics: () => this.snapshotMetrics(), ready: () => this.ready() });
    this.unsubscribe = this.nodes.onChange(() => {
      this.changedAt ??= process.hrtime.bigint();
      this.loop.trigger();
    });
    this.nodes.start();
    this.loop.start();
    this.policy?.start();
    this.masqLoop.start();
  }

  /** Stop watching and serving; leaves routes, rules and files in place. */
  async stop(): Promise<void> {
    this.unsubscribe?.();
    await this.policy?.stop();
    await this.loop.stop();
    this.cancelReadBack();
    await this.masqLoop.stop();
    await this.nodes.stop();
    await new Promise<void>((resolve) => (this.server ? this.server.close(() => resolve()) : resolve()));
    this.server?.closeAllConnections();
    this.rtnl.close();
  }

  async whenIdle(): Promise<void> {
    await Promise.all([this.loop.whenIdle(), this.masqLoop.whenIdle()]);
  }

  /**
   * The masquerade table from the last desired state (this node's pod CIDRs as sources, the
   * cluster's as exceptions); triggered by every reconcile once its routes are applied.
   */
  async reconcileMasquerade(full = true): Promise<void> {
    const desired = this.lastDesired;
    if (desired === undefined) return;
    const key = `${desired.ownCidrs.map((p) => p.text).join(",")} ${desired.clusterCidrs[4].join(",")} ${desired.clusterCidrs[6].join(",")}`;
    if (!full && this.masqOk && key === this.masqApplied) return;
    const want = masqueradeWant(desired, this.masqState);
    if (await reconcileMasquerade(want, full || !this.masqOk ? undefined : this.masqState)) this.metrics.masqueradeWrites++;
    this.masqState = want;
    this.masqApplied = key;
    this.masqOk = true;
  }

  private snapshotMetrics(): AgentMetrics {
    const m = this.nodes.metrics;
    return { ...this.metrics, ...this.policy?.metrics, watchRestarts: m.watchRestarts, apiErrors: m.apiErrors, relists: m.relists };
  }

  /** A full reconcile (kernel read back) READ_BACK_MS after the first of a burst of event reconciles. */
  private scheduleReadBack(): void {
    if (this.readBackTimer !== undefined) return;
    this.readBackTimer = setTimeout(() => {
      this.readBackTimer = undefined;
      this.loop.trigger(true);
    }, READ_BACK_MS);
  }

  private cancelReadBack(): void {
    if (this.readBackTimer !== undefined) clearTimeout(this.readBackTimer);
    this.readBackTimer = undefined;
  }

  /**
   * One reconcile. Nothing is changed before the first complete list: an empty cache is not "no
   * nodes". `full` (start, resync timer, retry, and READ_BACK_MS after an event) reads our routes
   * back from the kernel and repairs everything. An event applies the difference from what the last
   * reconcile applied at once and leaves the read-back to the full reconcile it schedules, which
   * serves a whole burst of events; an event whose desired state equals what was last applied (a
   * Node status heartbeat) stops after computing it.
   */
  async reconcile(full = true): Promise<void> {
    if (!this.nodes.synced) return;
    const started = process.hrtime.bigint();
    const changedAt = this.changedAt;
    this.changedAt = undefined;
    const phases: Record<string, number> = {};
    let mark = started;
    let cpuMark = process.cpuUsage();
    const phase = (name: string): void => {
      const t = process.hrtime.bigint();
      const cpu = process.cpuUsage(cpuMark);
      phases[name] = Math.round(Number(t - mark) / 1e4) / 100;
      phases[`${name}Cpu`] = Math.round((cpu.user + cpu.system) / 10) / 100;
      mark = t;
      cpuMark = process.cpuUsage();
    };
    const nodes = this.nodes.items();
    // The node's own addresses change rarely: an event uses those of the last full reconcile.
    const local = full || this.local === undefined ? await localAddresses(this.rtnl) : this.local;
    this.local = local;
    const desired = desiredState(nodes, this.opts.nodeName, local);
    this.logFindings(desired);
    const cluster = `${desired.clusterCidrs[4].join(",")} ${desired.clusterCidrs[6].join(",")}`;
    const own = desired.ownCidrs.map((p) => p.text).join(",");
    const prev = this.applied;
    const unchanged = prev !== undefined && prev.cluster === cluster && prev.own === own && sameRoutes(prev.routes, desired.routes);
    if (unchanged && !full && this.lastOk) {
      this.metrics.skippedReconciles++;
      return;
    }
    this.lastDesired = desired;
    phase("desiredMs");

    let conflist = "";
    if (desired.ownCidrs.length > 0) {
      const versions = this.chain.get();
      if (this.chain.note !== this.chainNote) {
        if (this.chain.note !== undefined) log.warn(this.chain.note);
        this.chainNote = this.chain.note;
      }
      conflist = conflistText({ podCidrs: desired.ownCidrs, mtu: this.opts.mtu, ipamDataDir: this.opts.ipamDataDir, versions, portmap: this.chain.portmap });
      fs.mkdirSync(this.opts.cniConfDir, { recursive: true, mode: 0o755 });
      const path = join(this.opts.cniConfDir, CONFLIST_FILE);
      if (writeIfChanged(path, conflist, (p, t) => replaceFile(p, t, { mode: 0o644, fsync: true }))) {
        this.metrics.conflistWrites++;
        log.info("conflist written", { path, podCIDRs: desired.ownCidrs.map((p) => p.text) });
      }
      if (full) this.warnShadowed();
    }

    phase("conflistMs");
    let routes;
    const readBack = full || prev === undefined || !this.lastOk;
    try {
      if (readBack) {
        this.cancelReadBack();
        routes = await reconcileRoutes(this.rtnl, desired.routes);
      } else {
        routes = await applyKnownDelta(this.rtnl, desired.routes, prev.routes);
        this.scheduleReadBack();
      }
    } finally {
      this.masqLoop.trigger(full);
    }
    phase("routesMs");
    if (changedAt !== undefined && log.enabled("debug")) {
      log.debug("routes applied", { sinceChangeMs: Math.round(Number(process.hrtime.bigint() - changedAt) / 1e4) / 100, added: routes.plan.add.length, deleted: routes.plan.delete.length, full });
    }
    if (routes.plan.add.length + routes.plan.delete.length > 0) {
      log.info("routes reconciled", { added: routes.plan.add.length - routes.blocked.length, deleted: routes.plan.delete.length, failed: routes.failures.length, blocked: routes.blocked.length, readBack: full || prev === undefined });
    }
    const blocked = new Map(routes.blocked.map((r) => [`${r.dst} via ${r.gw}`, r.node]));
    for (const [route, node] of blocked) {
      if (!this.blockedLogged.has(route)) log.warn(`route ${route} (node ${node}) not added: a route of another protocol to ${route.split(" ")[0]} is in the main table; it is left alone`);
    }
    // A read-back sees every held slot again; a delta only the routes it tried to add.
    this.blockedLogged = readBack ? new Set(blocked.keys()) : new Set([...this.blockedLogged, ...blocked.keys()]);

    if (!unchanged || this.stateText === undefined) {
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
    }
    phase("stateMs");
    const seconds = Number(process.hrtime.bigint() - started) / 1e9;
    if (log.enabled("debug")) {
      const m = process.memoryUsage();
      log.debug("reconciled", { full, nodes: nodes.length, routes: desired.routes.length, ...phases, rssMiB: m.rss >> 20, heapTotalMiB: m.heapTotal >> 20, heapUsedMiB: m.heapUsed >> 20, externalMiB: m.external >> 20 });
    }
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
    this.applied = { routes: desired.routes, cluster, own };
    this.lastOk = true;
    if (readBack) this.afterReadBack?.();
    this.resolveFirstApplied?.();
    this.resolveFirstApplied = undefined;
  }

  /** A warning (again when the list changes) naming configs a runtime would load instead of ours. */
  private warnShadowed(): void {
    let names: string[];
    try {
      names = fs.readdirSync(this.opts.cniConfDir);
    } catch {
      return;
    }
    const before = configsBefore(names).join(", ");
    if (before !== "" && before !== this.shadowedLogged) {
      log.warn(`${before} in ${this.opts.cniConfDir} sort(s) before ${CONFLIST_FILE}: containerd and CRI-O use the first network config by name, so pods get that network, not tether's; remove or rename it`);
    }
    this.shadowedLogged = before;
  }

  private logFindings(desired: ReturnType<typeof desiredState>): void {
    if (desired.waiting !== this.waitingLogged) {
      if (desired.waiting !== undefined) log.warn(`waiting: ${desired.waiting}; no conflist is written until it has one`);
      this.waitingLogged = desired.waiting;
    }
    // One warning per node (both families in it), again only when what it says changes.
    const now = new Map<string, string>();
    for (const u of desired.unroutable) {
      const prev = now.get(u.node);
      now.set(u.node, `${prev === undefined ? "" : `${prev}; `}IPv${u.family}: ${u.reason}`);
    }
    for (const [node, reasons] of now) {
      if (this.warned.get(node) !== reasons) log.warn(`no route to the pod CIDRs of node ${node}: ${reasons}`);
    }
    this.warned = now;
    for (const p of desired.problems) {
      if (!this.problemsLogged.has(p)) log.warn(p);
    }
    this.problemsLogged = new Set(desired.problems);
  }
}
