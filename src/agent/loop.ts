/**
 * Level-triggered reconcile: any number of triggers while a reconcile runs collapse into one more run
 * afterwards; a failed run is retried with a growing delay; a resync timer triggers too. Every cause
 * (an event, a relist, the timer, a retry) runs the same reconcile.
 */
export interface LoopOptions {
  resyncMs: number;
  /** First retry delay after a failure (doubles up to maxRetryMs). */
  retryMs?: number;
  maxRetryMs?: number;
  onError(err: unknown): void;
}

export class ReconcileLoop {
  private running = false;
  private pending = false;
  /** A resync, retry or start is pending: the reconcile must read everything back. */
  private forcePending = false;
  private stopped = false;
  private retryDelay: number;
  private retryTimer: NodeJS.Timeout | undefined;
  private resyncTimer: NodeJS.Timeout | undefined;
  private idleWaiters: (() => void)[] = [];

  constructor(
    /** `full`: a start, resync or retry (read everything back); false: an event. */
    private readonly reconcile: (full: boolean) => Promise<void>,
    private readonly opts: LoopOptions,
  ) {
    this.retryDelay = opts.retryMs ?? 500;
  }

  start(): void {
    this.resyncTimer = setInterval(() => this.trigger(true), this.opts.resyncMs);
    this.trigger(true);
  }

  trigger(full = false): void {
    if (this.stopped) return;
    this.pending = true;
    if (full) this.forcePending = true;
    if (!this.running) void this.drain();
  }

  private async drain(): Promise<void> {
    this.running = true;
    while (this.pending && !this.stopped) {
      this.pending = false;
      const full = this.forcePending;
      this.forcePending = false;
      try {
        await this.reconcile(full);
        this.retryDelay = this.opts.retryMs ?? 500;
        if (this.retryTimer !== undefined) clearTimeout(this.retryTimer);
        this.retryTimer = undefined;
      } catch (err) {
        this.opts.onError(err);
        if (this.retryTimer === undefined && !this.stopped) {
          const delay = this.retryDelay * (0.8 + Math.random() * 0.4);
          this.retryDelay = Math.min(this.retryDelay * 2, this.opts.maxRetryMs ?? 30_000);
          this.retryTimer = setTimeout(() => {
            this.retryTimer = undefined;
            this.trigger(true);
          }, delay);
        }
      }
    }
    this.running = false;
    for (const w of this.idleWaiters.splice(0)) w();
  }

  /** Resolves when no reconcile is running or pending. */
  whenIdle(): Promise<void> {
    if (!this.running && !this.pending) return Promise.resolve();
    return new Promise((resolve) => this.idleWaiters.push(resolve));
  }

  async stop(): Promise<void> {
    this.stopped = true;
    if (this.resyncTimer !== undefined) clearInterval(this.resyncTimer);
    if (this.retryTimer !== undefined) clearTimeout(this.retryTimer);
    this.pending = false;
    await this.whenIdle();
  }
}
