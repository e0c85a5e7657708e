/**
 * A local cache of one resource kind kept current from the API server: a paged list, then a watch
 * from the list's resourceVersion with bookmarks; a watch closed at timeoutSeconds is re-opened from
 * the last resourceVersion seen; 410 Gone (HTTP status or ERROR event) => relist; any other failure
 * => exponential backoff with jitter, then the same path again. Consumers read items() after
 * onChange, which also fires on a resync timer so a reconcile loop runs even when nothing changed.
 */
import { accessFor, type ResourceKind } from "./access";
import type { KubeClient, WatchEvent } from "./client";
import { K8sApiError } from "./errors";
import { backoffDelay } from "./lines";
import { objectKey, type ObjectMeta } from "./types";

export interface InformerLog {
  debug(msg: string, fields?: Record<string, unknown>): void;
  info(msg: string, fields?: Record<string, unknown>): void;
  warn(msg: string, fields?: Record<string, unknown>): void;
}

export interface InformerOptions<T = unknown> {
  fieldSelector?: string | undefined;
  labelSelector?: string | undefined;
  /** onChange fires at least this often (0 or absent: no resync timer). */
  resyncMs?: number | undefined;
  /** Items per list page (default 500). */
  pageSize?: number | undefined;
  log?: InformerLog | undefined;
  /** Watch timeoutSeconds asked of the server (default: random 300-600, as client-go does). */
  watchTimeoutSeconds?: number | undefined;
  /** Backoff after failures: first delay and cap (defaults 250 ms, 30 s); jittered to [d/2, d]. */
  backoffInitialMs?: number | undefined;
  backoffMaxMs?: number | undefined;
  /** Applied to every object before it is cached (e.g. types.ts slimNode, to keep only what is read). */
  transform?: ((o: T) => T) | undefined;
}

export interface InformerMetrics {
  watchRestarts: number;
  apiErrors: number;
  relists: number;
}

export class Informer<T extends { metadata: ObjectMeta }> {
  private store = new Map<string, T>();
  private rv = "";
  private listeners = new Set<() => void>();
  private ac: AbortController | undefined;
  private loop: Promise<void> | undefined;
  private resyncTimer: NodeJS.Timeout | undefined;
  private notifyPending = false;
  private synced_ = false;
  readonly metrics: InformerMetrics = { watchRestarts: 0, apiErrors: 0, relists: 0 };

  constructor(
    private readonly client: KubeClient,
    readonly kind: ResourceKind,
    private readonly opts: InformerOptions<T> = {},
  ) {
    // A kind the agent may not list and watch is a bug: fail at construction, not in a retry loop.
    accessFor(kind, "list");
    accessFor(kind, "watch");
  }

  /** True once the first complete list is in the cache. */
  get synced(): boolean {
    return this.synced_;
  }

  /** The last resourceVersion seen (list, event or bookmark). */
  get resourceVersion(): string {
    return this.rv;
  }

  items(): T[] {
    return [...this.store.values()];
  }

  get(key: string): T | undefined {
    return this.store.get(key);
  }

  /** Resolves once the first complete list is in the cache (or at once if it is). */
  whenSynced(): Promise<void> {
    if (this.synced_) return Promise.resolve();
    return new Promise((resolve) => {
      const off = this.onChange(() => {
        if (!this.synced_) return;
        off();
        resolve();
      });
    });
  }

  onChange(cb: () => void): () => void {
    this.listeners.add(cb);
    return () => this.listeners.delete(cb);
  }

  start(): void {
    if (this.loop) return;
    const ac = new AbortController();
    this.ac = ac;
    if (this.opts.resyncMs && this.opts.resyncMs > 0) {
      this.resyncTimer = setInterval(() => this.notify(), this.opts.resyncMs);
      this.resyncTimer.unref?.();
    }
    this.loop = this.run(ac.signal);
  }

  async stop(): Promise<void> {
    this.ac?.abort();
    clearInterval(this.resyncTimer);
    this.resyncTimer = undefined;
    await this.loop;
    this.loop = undefined;
    this.ac = undefined;
  }

  /** Calls the listeners once for any burst of changes (coalesced to the next macrotask). */
  private notify(): void {
    if (this.notifyPending) return;
    this.notifyPending = true;
    setImmediate(() => {
      this.notifyPending = false;
      if (!this.loop) return; // stopped meanwhile
      for (const cb of this.listeners) {
        try {
          cb();
        } catch (e) {
          this.opts.log?.warn("informer listener failed", { kind: this.kind, err: String(e) });
        }
      }
    });
  }

  private async run(signal: AbortSignal): Promise<void> {
    let needList = true;
    let failures = 0;
    let watched = false;
    let goneInRow = 0;
    while (!signal.aborted) {
      try {
        if (needList) {
          await this.relist(signal);
          if (signal.aborted) return;
          needList = false;
          watched = false;
        }
        if (watched) this.metrics.watchRestarts++;
        watched = true;
        const q: Parameters<KubeClient["watch"]>[1] = {
          resourceVersion: this.rv,
          allowWatchBookmarks: true,
          timeoutSeconds: this.opts.watchTimeoutSeconds ?? 300 + Math.floor(Math.random() * 300),
        };
        if (this.opts.fieldSelector) q.fieldSelector = this.opts.fieldSelector;
        if (this.opts.labelSelector) q.labelSelector = this.opts.labelSelector;
        const began = Date.now();
        let events = 0;
        await this.client.watch<T>(this.kind, q, (e) => {
          this.apply(e);
          if (e.type === "ERROR") return;
          events++;
          failures = 0; // the stream works
          goneInRow = 0;
        }, signal);
        if (events === 0 && Date.now() - began < 1000 && !signal.aborted) {
          // A server ending watches at once, again and again, must not make the agent spin.
          await sleep(backoffDelay(failures++, this.opts.backoffInitialMs ?? 250, this.opts.backoffMaxMs ?? 30_000, Math.random()), signal);
          continue;
        }
        failures = 0;
        goneInRow = 0;
      } catch (e) {
        if (signal.aborted) return;
        if (e instanceof K8sApiError && e.gone) {
          this.opts.log?.info("resourceVersion expired, relisting", { kind: this.kind, resourceVersion: this.rv });
          needList = true;
          // A relist that itself meets 410 twice in a row (continue token expiring) backs off below.
          if (goneInRow++ === 0) continue;
        }
        this.metrics.apiErrors++;
        const initial = this.opts.backoffInitialMs ?? 250;
        const max = this.opts.backoffMaxMs ?? 30_000;
        let delay = backoffDelay(failures++, initial, max, Math.random());
        if (e instanceof K8sApiError && e.retryAfterSeconds) delay = Math.max(delay, e.retryAfterSeconds * 1000);
        this.opts.log?.warn("API request failed, retrying", { kind: this.kind, err: (e as Error).message, retryInMs: Math.round(delay) });
        await sleep(delay, signal);
      }
    }
  }

  private async relist(signal: AbortSignal): Promise<void> {
    const next = new Map<string, T>();
    let cont: string | undefined;
    let rv = "";
    do {
      const q: Parameters<KubeClient["list"]>[1] = { limit: this.opts.pageSize ?? 500 };
      if (cont) q.continue = cont;
      if (this.opts.fieldSelector) q.fieldSelector = this.opts.fieldSelector;
      if (this.opts.labelSelector) q.labelSelector = this.opts.labelSelector;
      const page = await this.client.list<T>(this.kind, q, signal);
      if (signal.aborted) return;
      const tf = this.opts.transform;
      for (const o of page.items) next.set(objectKey(o), tf ? tf(o) : o);
      rv = page.resourceVersion;
      cont = page.continue;
    } while (cont);
    if (this.synced_) this.metrics.relists++;
    this.store = next;
    this.rv = rv;
    this.synced_ = true;
    this.opts.log?.debug("listed", { kind: this.kind, items: next.size, resourceVersion: rv });
    this.notify();
  }

  private apply(e: WatchEvent<T>): void {
    const o = e.object;
    switch (e.type) {
      case "ADDED":
      case "MODIFIED":
        this.store.set(objectKey(o), this.opts.transform ? this.opts.transform(o) : o);
        break;
      case "DELETED":
        this.store.delete(objectKey(o));
        break;
      case "BOOKMARK":
        if (o.metadata?.resourceVersion) this.rv = o.metadata.resourceVersion;
        return;
      case "ERROR":
        return; // the client rejects with the Status right after
    }
    if (o.metadata?.resourceVersion) this.rv = o.metadata.resourceVersion;
    this.notify();
  }
}

function sleep(ms: number, signal: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    if (signal.aborted) return resolve();
    const t = setTimeout(done, ms);
    function done(): void {
      clearTimeout(t);
      signal.removeEventListener("abort", done);
      resolve();
    }
    signal.addEventListener("abort", done);
  });
}
