/**
 * NetworkPolicy enforcement in the agent: Pods (all namespaces), Namespaces and NetworkPolicies
 * from their informers -> src/policy's compiler -> one nftables transaction (src/policy/apply.ts).
 * Its own level-triggered loop, apart from the routes loop, so a slow route reconcile never delays
 * a policy change. Nothing is applied before all three lists are complete (an empty cache is not
 * "no policies"); the table stays when the agent stops, so pods stay protected while it restarts,
 * and the first apply after a start replaces it whole. Every resync replaces the table whole too,
 * which repairs anything changed behind the agent's back.
 */
import type { Namespace, NetworkPolicy, Pod } from "../k8s/types";
import { PolicyApplier } from "../policy/apply";
import { PolicyCompiler } from "../policy/compile";
import { log } from "../util/log";
import { ReconcileLoop } from "./loop";

/** What the policy part needs of an informer (src/k8s/informer.ts). */
export interface ObjectSource<T> {
  readonly synced: boolean;
  items(): T[];
  onChange(cb: () => void): () => void;
  start(): void;
  stop(): Promise<void>;
}

export interface PolicySources {
  pods: ObjectSource<Pod>;
  namespaces: ObjectSource<Namespace>;
  policies: ObjectSource<NetworkPolicy>;
}

export interface PolicyMetrics {
  policyApplies: number;
  policyApplyErrors: number;
  policyLastApplySeconds: number;
  policyRules: number;
  policyMapElements: number;
}

/** The part of PolicyApplier the controller uses (a fake in unit tests). */
export type Applier = Pick<PolicyApplier, "apply" | "reset" | "close">;

export class PolicyController {
  readonly metrics: PolicyMetrics = { policyApplies: 0, policyApplyErrors: 0, policyLastApplySeconds: 0, policyRules: 0, policyMapElements: 0 };
  private readonly compiler: PolicyCompiler;
  private readonly applier: Applier;
  private readonly loop: ReconcileLoop;
  private readonly unsubscribe: (() => void)[] = [];
  private fullTimer: NodeJS.Timeout | undefined;
  private warned = new Set<string>();
  private applied = false;
  private lastOk = false;

  constructor(
    nodeName: string,
    private readonly sources: PolicySources,
    private readonly opts: { resyncMs: number; applier?: Applier },
  ) {
    this.applier = opts.applier ?? new PolicyApplier();
    this.compiler = new PolicyCompiler(nodeName);
    this.loop = new ReconcileLoop(() => this.reconcile(), {
      resyncMs: opts.resyncMs,
      retryMs: 200,
      maxRetryMs: 10_000,
      onError: (err) => {
        this.lastOk = false;
        this.metrics.policyApplyErrors++;
        this.applier.reset();
        log.error("network policy apply failed", { err: (err as Error).message });
      },
    });
  }

  /** True once the lists are complete and a ruleset is in, and while the last apply succeeded. */
  get ready(): boolean {
    return this.applied && this.lastOk;
  }

  start(): void {
    const all = [this.sources.pods, this.sources.namespaces, this.sources.policies];
    for (const s of all) this.unsubscribe.push(s.onChange(() => this.loop.trigger()));
    for (const s of all) s.start();
    this.fullTimer = setInterval(() => {
      this.applier.reset();
      this.loop.trigger();
    }, this.opts.resyncMs);
    this.loop.start();
  }

  whenIdle(): Promise<void> {
    return this.loop.whenIdle();
  }

  /** Stop watching; the table stays (pods stay protected while the agent restarts). */
  async stop(): Promise<void> {
    if (this.fullTimer !== undefined) clearInterval(this.fullTimer);
    for (const u of this.unsubscribe.splice(0)) u();
    await this.loop.stop();
    await Promise.all([this.sources.pods.stop(), this.sources.namespaces.stop(), this.sources.policies.stop()]);
    this.applier.close();
  }

  async reconcile(): Promise<void> {
    const { pods, namespaces, policies } = this.sources;
    if (!pods.synced || !namespaces.synced || !policies.synced) return;
    const started = process.hrtime.bigint();
    const compiled = this.compiler.compileRuleset({ pods: pods.items(), namespaces: namespaces.items(), policies: policies.items() });
    const now = new Set(compiled.warnings);
    for (const w of now) if (!this.warned.has(w)) log.warn(`network policy: ${w}`);
    this.warned = now;
    const outcome = await this.applier.apply(compiled.ruleset);
    this.applied = true;
    this.lastOk = true;
    if (outcome.mode === "unchanged") return;
    const seconds = Number(process.hrtime.bigint() - started) / 1e9;
    this.metrics.policyApplies++;
    this.metrics.policyLastApplySeconds = seconds;
    this.metrics.policyRules = compiled.stats.rules;
    this.metrics.policyMapElements = compiled.stats.mapElements;
    log.info("network policy applied", { mode: outcome.mode, bytes: outcome.bytes, ms: Math.round(seconds * 1000), ...compiled.stats });
  }
}
