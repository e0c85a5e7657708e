/**
 * A small Kubernetes API client over node:https: paged list and streaming watch of the resources in
 * AGENT_ACCESS, nothing else. (@kubernetes/client-node 2.x does not run on Node 20 and would add
 * ~1.55 MiB to the executable and ~30 MiB RSS; see README, "Kubernetes API client".)
 */
import fs = require("node:fs");
import https = require("node:https");
import type { IncomingMessage } from "node:http";
import { accessFor, type ResourceKind, type Verb } from "./access";
import type { ClusterConfig } from "./config";
import { K8sApiError } from "./errors";
import { LineSplitter } from "./lines";

export { K8sApiError } from "./errors";
export type { ResourceKind } from "./access";

export interface ListQuery {
  resourceVersion?: string | undefined;
  limit?: number | undefined;
  continue?: string | undefined;
  labelSelector?: string | undefined;
  fieldSelector?: string | undefined;
}

export interface ListResult<T> {
  items: T[];
  resourceVersion: string;
  continue?: string;
}

export interface WatchQuery {
  resourceVersion: string;
  allowWatchBookmarks: true;
  timeoutSeconds?: number | undefined;
  fieldSelector?: string | undefined;
  labelSelector?: string | undefined;
}

export type WatchEventType = "ADDED" | "MODIFIED" | "DELETED" | "BOOKMARK" | "ERROR";

export interface WatchEvent<T> {
  type: WatchEventType;
  object: T;
}

/** A Status object as the API server sends it with failures. */
interface Status {
  kind?: string;
  code?: number;
  reason?: string;
  message?: string;
}

const EVENT_TYPES = new Set<string>(["ADDED", "MODIFIED", "DELETED", "BOOKMARK", "ERROR"]);

export interface KubeClientOptions {
  /** A list request (each page) fails after this long without completing (default 60 s). */
  requestTimeoutMs?: number;
  /** A watch with no byte received for this long beyond its timeoutSeconds is considered dead (default 30 s). */
  watchGraceMs?: number;
}

export class KubeClient {
  private readonly agent: https.Agent;
  private readonly base: URL;
  private readonly requestTimeoutMs: number;
  private readonly watchGraceMs: number;

  constructor(
    private readonly cfg: ClusterConfig,
    opts: KubeClientOptions = {},
  ) {
    this.base = new URL(cfg.server);
    this.requestTimeoutMs = opts.requestTimeoutMs ?? 60_000;
    this.watchGraceMs = opts.watchGraceMs ?? 30_000;
    const agentOpts: https.AgentOptions = { keepAlive: true, rejectUnauthorized: !cfg.insecureSkipTLSVerify };
    if (cfg.ca) agentOpts.ca = cfg.ca;
    if (cfg.cert) agentOpts.cert = cfg.cert;
    if (cfg.key) agentOpts.key = cfg.key;
    this.agent = new https.Agent(agentOpts);
  }

  /** Closes idle kept-alive connections. */
  close(): void {
    this.agent.destroy();
  }

  private token(): string | undefined {
    if (this.cfg.token !== undefined) return this.cfg.token;
    if (this.cfg.tokenFile === undefined) return undefined;
    try {
      return fs.readFileSync(this.cfg.tokenFile, "utf8").trim();
    } catch (e) {
      throw new K8sApiError(0, `token file ${this.cfg.tokenFile}: ${(e as NodeJS.ErrnoException).code ?? String(e)}`);
    }
  }

  /** The one place a request is made: refused unless AGENT_ACCESS allows `verb` on `kind`. */
  private request(kind: ResourceKind, verb: Verb, query: Record<string, string | number | boolean | undefined>, signal?: AbortSignal): Promise<IncomingMessage> {
    const rule = accessFor(kind, verb);
    const params = new URLSearchParams();
    for (const [k, v] of Object.entries(query)) if (v !== undefined && v !== "") params.set(k, String(v));
    const qs = params.toString();
    const basePath = this.base.pathname.replace(/\/+$/, "");
    const headers: Record<string, string> = { Accept: "application/json", "User-Agent": "tether-agent" };
    const token = this.token();
    if (token) headers["Authorization"] = `Bearer ${token}`;
    const opts: https.RequestOptions = {
      method: "GET",
      host: this.base.hostname.replace(/^\[|\]$/g, ""),
      port: this.base.port || 443,
      path: `${basePath}${rule.path}${qs ? `?${qs}` : ""}`,
      headers,
      agent: this.agent,
    };
    if (this.cfg.tlsServerName !== undefined) opts.servername = this.cfg.tlsServerName;
    if (signal) opts.signal = signal;
    return new Promise((resolve, reject) => {
      const req = https.request(opts, resolve);
      req.on("error", (e: NodeJS.ErrnoException) => {
        if (e.name === "AbortError") reject(e);
        else reject(new K8sApiError(0, `${verb} ${kind} at ${this.base.origin}: ${e.code && !e.message.includes(e.code) ? `${e.code}: ` : ""}${e.message}`));
      });
      req.end();
    });
  }

  private async failure(res: IncomingMessage, what: string): Promise<K8sApiError> {
    const body = await readBody(res).catch(() => "");
    let st: Status = {};
    try {
      st = JSON.parse(body) as Status;
    } catch {
      /* not a Status */
    }
    const status = res.statusCode ?? 0;
    const reason = st.reason ?? (status === 410 ? "Gone" : undefined);
    const ra = Number(res.headers["retry-after"]);
    return new K8sApiError(status, `${what}: HTTP ${status}${st.message ? `: ${st.message}` : ""}`, reason, Number.isFinite(ra) && ra > 0 ? Math.min(ra, 600) : undefined);
  }

  /** One page; `signal` (the caller stopping) aborts it with an AbortError. */
  async list<T>(res: ResourceKind, q: ListQuery = {}, signal?: AbortSignal): Promise<ListResult<T>> {
    const ac = new AbortController();
    const timer = setTimeout(() => ac.abort(), this.requestTimeoutMs);
    const onAbort = (): void => ac.abort();
    signal?.addEventListener("abort", onAbort);
    if (signal?.aborted) ac.abort();
    try {
      const r = await this.request(res, "list", { ...q }, ac.signal);
      if (r.statusCode !== 200) throw await this.failure(r, `list ${res}`);
      const body = await readBody(r);
      let doc: { metadata?: { resourceVersion?: string; continue?: string }; items?: T[] | null };
      try {
        doc = JSON.parse(body) as typeof doc;
      } catch {
        throw new K8sApiError(200, `list ${res}: response is not JSON`);
      }
      const rv = doc.metadata?.resourceVersion;
      if (!rv) throw new K8sApiError(200, `list ${res}: response has no metadata.resourceVersion`);
      const out: ListResult<T> = { items: doc.items ?? [], resourceVersion: rv };
      if (doc.metadata?.continue) out.continue = doc.metadata.continue;
      return out;
    } catch (e) {
      if (signal?.aborted) throw e;
      if (ac.signal.aborted && !(e instanceof K8sApiError)) throw new K8sApiError(0, `list ${res}: no answer within ${this.requestTimeoutMs} ms`);
      throw e;
    } finally {
      clearTimeout(timer);
      signal?.removeEventListener("abort", onAbort);
    }
  }

  /**
   * Streams events until the server ends the watch (timeoutSeconds) or `signal` aborts (both resolve).
   * An HTTP failure, or an ERROR event (after it is passed to onEvent), rejects with K8sApiError:
   * status 410 means the resourceVersion is gone and the caller must relist.
   */
  async watch<T>(res: ResourceKind, q: WatchQuery, onEvent: (e: WatchEvent<T>) => void, signal: AbortSignal): Promise<void> {
    if (signal.aborted) return;
    const ac = new AbortController();
    const onAbort = (): void => ac.abort();
    signal.addEventListener("abort", onAbort);
    // A watch with timeoutSeconds must see the server end it by then: silence well beyond that
    // means a dead connection (a peer gone without FIN/RST). Without timeoutSeconds there is no bound.
    const idleMs = q.timeoutSeconds ? q.timeoutSeconds * 1000 + this.watchGraceMs : 0;
    let dead = false;
    let idle: NodeJS.Timeout | undefined;
    const arm = (): void => {
      clearTimeout(idle);
      if (idleMs > 0) idle = setTimeout(() => {
        dead = true;
        ac.abort();
      }, idleMs);
    };
    try {
      arm();
      let r: IncomingMessage;
      try {
        r = await this.request(res, "watch", { watch: true, ...q }, ac.signal);
      } catch (e) {
        if (signal.aborted) return;
        if (dead) throw new K8sApiError(0, `watch ${res}: no answer within ${idleMs} ms`);
        throw e;
      }
      if (r.statusCode !== 200) throw await this.failure(r, `watch ${res}`);
      r.setEncoding("utf8");
      const lines = new LineSplitter();
      try {
        for await (const chunk of r as AsyncIterable<string>) {
          arm();
          for (const line of lines.push(chunk)) this.deliver(res, line, onEvent);
        }
      } catch (e) {
        if (signal.aborted) return;
        if (e instanceof K8sApiError) throw e;
        if (dead) throw new K8sApiError(0, `watch ${res}: nothing received for ${idleMs} ms`);
        throw new K8sApiError(0, `watch ${res}: stream broken: ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}`);
      }
      if (signal.aborted) return;
      if (!r.complete) throw new K8sApiError(0, `watch ${res}: stream ended mid-response`);
      const last = lines.end();
      if (last) this.deliver(res, last, onEvent);
    } finally {
      clearTimeout(idle);
      signal.removeEventListener("abort", onAbort);
    }
  }

  private deliver<T>(res: ResourceKind, line: string, onEvent: (e: WatchEvent<T>) => void): void {
    let ev: { type?: unknown; object?: unknown };
    try {
      ev = JSON.parse(line) as typeof ev;
    } catch {
      throw new K8sApiError(200, `watch ${res}: event is not JSON: ${line.slice(0, 80)}`);
    }
    if (typeof ev.type !== "string" || !EVENT_TYPES.has(ev.type) || typeof ev.object !== "object" || ev.object === null) {
      throw new K8sApiError(200, `watch ${res}: malformed event: ${line.slice(0, 80)}`);
    }
    onEvent({ type: ev.type as WatchEventType, object: ev.object as T });
    if (ev.type === "ERROR") {
      const st = ev.object as Status;
      const code = st.code ?? 500;
      throw new K8sApiError(code, `watch ${res}: ERROR event ${code}${st.message ? `: ${st.message}` : ""}`, st.reason ?? (code === 410 ? "Gone" : undefined));
    }
  }
}

function readBody(res: IncomingMessage): Promise<string> {
  return new Promise((resolve, reject) => {
    const parts: Buffer[] = [];
    res.on("data", (c: Buffer) => parts.push(c));
    res.on("end", () => resolve(Buffer.concat(parts).toString("utf8")));
    res.on("error", reject);
    res.on("close", () => {
      if (!res.complete) reject(new K8sApiError(0, "connection closed before the response was complete"));
    });
  });
}
