/**
 * An API-compatible fake of the Kubernetes API server, for tests (results against it are against a
 * fake, not conformance): list (limit/continue, labelSelector, fieldSelector) and watch (from a
 * resourceVersion, ADDED/MODIFIED/DELETED/BOOKMARK, 410 Gone after compact(), closed at
 * timeoutSeconds) of nodes, namespaces, pods and networkpolicies, over TLS with a CA made at start
 * (openssl CLI), bearer token (or client certificate) checked. One resourceVersion counter for all kinds.
 */
import { execFileSync } from "node:child_process";
import { randomBytes, randomUUID } from "node:crypto";
import * as fs from "node:fs";
import type { IncomingMessage, ServerResponse } from "node:http";
import * as https from "node:https";
import type { AddressInfo } from "node:net";
import * as os from "node:os";
import * as path from "node:path";
import type { TLSSocket } from "node:tls";
import type { ResourceKind } from "../../src/k8s/access";

export type { ResourceKind } from "../../src/k8s/access";

export const KINDS: readonly ResourceKind[] = ["nodes", "pods", "namespaces", "networkpolicies"];

const META: Record<ResourceKind, { kind: string; apiVersion: string; namespaced: boolean }> = {
  nodes: { kind: "Node", apiVersion: "v1", namespaced: false },
  namespaces: { kind: "Namespace", apiVersion: "v1", namespaced: false },
  pods: { kind: "Pod", apiVersion: "v1", namespaced: true },
  networkpolicies: { kind: "NetworkPolicy", apiVersion: "networking.k8s.io/v1", namespaced: true },
};

export interface FakeTls {
  caPem: string;
  caKeyPem: string;
  certPem: string;
  keyPem: string;
  /** A client certificate the server accepts instead of the token (CN tether-agent). */
  clientCertPem: string;
  clientKeyPem: string;
}

/** Everything needed to restart the fake with the same objects (and resourceVersion counter). */
export interface FakeApiState {
  resourceVersion: number;
  objects: Record<ResourceKind, FakeObject[]>;
}

export interface FakeApiOptions {
  token?: string;
  /** Listen address (default 127.0.0.1). */
  host?: string;
  /** Default 0: any free port. */
  port?: number;
  /** Reuse a CA and certificates (a restart that clients must still trust). */
  tls?: FakeTls;
  /** Start with these objects; watches from older resourceVersions get 410. */
  state?: FakeApiState;
  /** BOOKMARK events to watches that allow them, this often (default 1000 ms; 0: only sendBookmarks()). */
  bookmarkIntervalMs?: number;
  /** How a watch from a compacted resourceVersion fails: an ERROR event in a 200 stream (as the real server does; default) or HTTP 410. */
  goneAs?: "event" | "status";
  /** Keep watches open past their timeoutSeconds (a hung server or a dead connection, for the client's watchdog). */
  ignoreTimeoutSeconds?: boolean;
  /** Called after every change of the objects (the process form persists its state). */
  onMutate?: () => void;
}

export interface FakeRequest {
  method: string;
  path: string;
  query: Record<string, string>;
  authorized: boolean;
}

export interface FakeObject {
  metadata: { name: string; namespace?: string; resourceVersion?: string; uid?: string; labels?: Record<string, string>; [k: string]: unknown };
  [k: string]: unknown;
}

export interface FakeApi {
  url: string;
  caPem: string;
  token: string;
  tls: FakeTls;
  /** Creates or replaces (by "ns/name" or "name"); returns the new resourceVersion. */
  upsert(kind: ResourceKind, obj: unknown): string;
  /** Deletes; returns false when there was no such object. */
  remove(kind: ResourceKind, key: string): boolean;
  objects(kind: ResourceKind): unknown[];
  /** Forget the event history: a watch from an older resourceVersion (or a continue token) gets 410. */
  compact(): void;
  /** Ends every open watch (as at timeoutSeconds). */
  closeWatches(): void;
  /** Sends an ERROR event with this Status code to every open watch and ends it. */
  watchError(code: number, message?: string): void;
  /** Destroys the connection under every open watch (a crash or network failure, not a clean end). */
  breakWatches(): void;
  requests: FakeRequest[];
  /** Accept only this token from now on (rotation). */
  setToken(token: string): void;
  /** The next `count` API requests fail with `status` (default 500). */
  failNext(count: number, status?: number): void;
  /** Sends a BOOKMARK now to every watch that allows them. */
  sendBookmarks(): void;
  /** Open watches (of `kind`). */
  watchCount(kind?: ResourceKind): number;
  /** Current resourceVersion. */
  resourceVersion(): string;
  state(): FakeApiState;
  stop(): Promise<void>;
}

// ---------------------------------------------------------------- TLS material

/** A CA, a server certificate for `hosts` (plus localhost, 127.0.0.1, ::1) and a client certificate, made with the openssl CLI. */
export function makeFakeTls(hosts: string[] = []): FakeTls {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), "tether-fakeapi-tls-"));
  try {
    const f = (n: string): string => path.join(dir, n);
    const ec = ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes"];
    const run = (args: string[]): void => void execFileSync("openssl", args, { stdio: ["ignore", "ignore", "pipe"] });
    run(["req", "-x509", ...ec, "-keyout", f("ca.key"), "-out", f("ca.crt"), "-days", "30", "-subj", "/CN=tether-fake-ca",
      "-addext", "basicConstraints=critical,CA:TRUE", "-addext", "keyUsage=critical,keyCertSign,cRLSign"]);
    const san = new Set(["DNS:localhost", "IP:127.0.0.1", "IP:::1"]);
    for (const h of hosts) san.add(/^[\d.]+$|:/.test(h) ? `IP:${h}` : `DNS:${h}`);
    const issue = (name: string, cn: string, ext: string): void => {
      fs.writeFileSync(f(`${name}.ext`), ext);
      run(["req", ...ec, "-keyout", f(`${name}.key`), "-out", f(`${name}.csr`), "-subj", `/CN=${cn}`]);
      run(["x509", "-req", "-in", f(`${name}.csr`), "-CA", f("ca.crt"), "-CAkey", f("ca.key"), "-CAcreateserial",
        "-out", f(`${name}.crt`), "-days", "30", "-extfile", f(`${name}.ext`)]);
    };
    issue("server", "tether-fake-apiserver", `basicConstraints=CA:FALSE\nextendedKeyUsage=serverAuth\nsubjectAltName=${[...san].join(",")}\n`);
    issue("client", "tether-agent", "basicConstraints=CA:FALSE\nextendedKeyUsage=clientAuth\n");
    const r = (n: string): string => fs.readFileSync(f(n), "utf8");
    return { caPem: r("ca.crt"), caKeyPem: r("ca.key"), certPem: r("server.crt"), keyPem: r("server.key"), clientCertPem: r("client.crt"), clientKeyPem: r("client.key") };
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
}

// ---------------------------------------------------------------- selectors

type Pred = (o: FakeObject) => boolean;

class BadRequest extends Error {}

function splitTop(s: string): string[] {
  const out: string[] = [];
  let depth = 0;
  let cur = "";
  for (const c of s) {
    if (c === "(") depth++;
    if (c === ")") depth--;
    if (c === "," && depth === 0) {
      out.push(cur);
      cur = "";
    } else cur += c;
  }
  out.push(cur);
  return out.map((t) => t.trim()).filter((t) => t !== "");
}

const KEY = "[A-Za-z0-9][A-Za-z0-9._/-]*";

export function parseLabelSelector(sel: string): Pred {
  const preds: Pred[] = splitTop(sel).map((term): Pred => {
    let m: RegExpMatchArray | null;
    const labels = (o: FakeObject): Record<string, string> => o.metadata.labels ?? {};
    if ((m = term.match(new RegExp(`^(${KEY})\\s*(==|=|!=)\\s*([A-Za-z0-9._-]*)$`)))) {
      const [, k, op, v] = m as unknown as [string, string, string, string];
      return op === "!=" ? (o) => labels(o)[k] !== v : (o) => labels(o)[k] === v;
    }
    if ((m = term.match(new RegExp(`^(${KEY})\\s+(in|notin)\\s*\\(([^)]*)\\)$`)))) {
      const [, k, op, list] = m as unknown as [string, string, string, string];
      const vals = new Set(list.split(",").map((v) => v.trim()));
      return op === "in" ? (o) => k in labels(o) && vals.has(labels(o)[k]!) : (o) => !(k in labels(o)) || !vals.has(labels(o)[k]!);
    }
    if ((m = term.match(new RegExp(`^(!?)\\s*(${KEY})$`)))) {
      const [, neg, k] = m as unknown as [string, string, string];
      return neg ? (o) => !(k in labels(o)) : (o) => k in labels(o);
    }
    throw new BadRequest(`unable to parse requirement: ${JSON.stringify(term)}`);
  });
  return (o) => preds.every((p) => p(o));
}

const FIELDS: Record<string, (kind: ResourceKind, o: FakeObject) => string | undefined> = {
  "metadata.name": (_k, o) => o.metadata.name,
  "metadata.namespace": (_k, o) => o.metadata.namespace ?? "",
  "spec.nodeName": (k, o) => (k === "pods" ? ((o["spec"] as { nodeName?: string } | undefined)?.nodeName ?? "") : undefined),
};

export function parseFieldSelector(kind: ResourceKind, sel: string): Pred {
  const preds: Pred[] = splitTop(sel).map((term): Pred => {
    const m = term.match(/^([A-Za-z.]+)\s*(==|=|!=)\s*(.*)$/);
    if (!m) throw new BadRequest(`invalid field selector: ${JSON.stringify(term)}`);
    const [, field, op, value] = m as unknown as [string, string, string, string];
    const get = FIELDS[field];
    if (!get || (field === "spec.nodeName" && kind !== "pods")) throw new BadRequest(`field label not supported: ${field}`);
    return op === "!=" ? (o) => get(kind, o) !== value : (o) => get(kind, o) === value;
  });
  return (o) => preds.every((p) => p(o));
}

// ---------------------------------------------------------------- server

interface Route {
  kind: ResourceKind;
  namespace?: string;
}

function route(p: string): Route | undefined {
  let m: RegExpMatchArray | null;
  if ((m = p.match(/^\/api\/v1\/(nodes|namespaces|pods)\/?$/))) return { kind: m[1] as ResourceKind };
  if ((m = p.match(/^\/api\/v1\/namespaces\/([a-z0-9-]+)\/pods\/?$/))) return { kind: "pods", namespace: m[1]! };
  if (/^\/apis\/networking\.k8s\.io\/v1\/networkpolicies\/?$/.test(p)) return { kind: "networkpolicies" };
  if ((m = p.match(/^\/apis\/networking\.k8s\.io\/v1\/namespaces\/([a-z0-9-]+)\/networkpolicies\/?$/))) return { kind: "networkpolicies", namespace: m[1]! };
  return undefined;
}

function keyOf(o: FakeObject): string {
  return o.metadata.namespace ? `${o.metadata.namespace}/${o.metadata.name}` : o.metadata.name;
}

interface Event {
  rv: number;
  kind: ResourceKind;
  type: "ADDED" | "MODIFIED" | "DELETED";
  object: FakeObject;
  prev?: FakeObject;
}

interface Watcher {
  kind: ResourceKind;
  match: Pred;
  bookmarks: boolean;
  res: ServerResponse;
  timer?: NodeJS.Timeout;
}

interface Snapshot {
  rv: number;
  items: FakeObject[];
}

function status(res: ServerResponse, code: number, reason: string, message: string): void {
  const body = JSON.stringify({ kind: "Status", apiVersion: "v1", metadata: {}, status: "Failure", message, reason, code });
  const headers: Record<string, string | number> = { "Content-Type": "application/json", "Content-Length": Buffer.byteLength(body) };
  if (code === 429) headers["Retry-After"] = 1;
  res.writeHead(code, headers);
  res.end(body);
}

export async function startFakeApiServer(opts: FakeApiOptions = {}): Promise<FakeApi> {
  const host = opts.host ?? "127.0.0.1";
  const tls = opts.tls ?? makeFakeTls([host]);
  let token = opts.token ?? randomBytes(16).toString("hex");
  let rv = opts.state?.resourceVersion ?? 0;
  let compactedRv = rv;
  const store = new Map<ResourceKind, Map<string, FakeObject>>(KINDS.map((k) => [k, new Map()]));
  for (const k of KINDS) for (const o of opts.state?.objects[k] ?? []) store.get(k)!.set(keyOf(o), structuredClone(o));
  let log: Event[] = [];
  const watchers = new Set<Watcher>();
  const snapshots = new Map<string, Snapshot>();
  let failCount = 0;
  let failStatus = 500;
  const requests: FakeRequest[] = [];
  const goneAs = opts.goneAs ?? "event";

  const send = (w: Watcher, type: string, object: unknown): void => {
    w.res.write(`${JSON.stringify({ type, object })}\n`);
  };
  const typed = (kind: ResourceKind, o: FakeObject): FakeObject => ({ kind: META[kind].kind, apiVersion: META[kind].apiVersion, ...o });
  /** The event as a (possibly filtered) watch sees it: objects entering or leaving its selection are ADDED or DELETED. */
  const deliver = (w: Watcher, ev: Event): void => {
    if (ev.kind !== w.kind) return;
    if (ev.type === "DELETED") {
      if (w.match(ev.object)) send(w, "DELETED", typed(ev.kind, ev.object));
      return;
    }
    const before = ev.prev !== undefined && w.match(ev.prev);
    const now = w.match(ev.object);
    if (now) send(w, before ? "MODIFIED" : "ADDED", typed(ev.kind, ev.object));
    else if (before) send(w, "DELETED", typed(ev.kind, ev.object));
  };
  const endWatch = (w: Watcher): void => {
    clearTimeout(w.timer);
    watchers.delete(w);
    w.res.end();
  };
  const sendBookmarks = (): void => {
    for (const w of watchers) if (w.bookmarks) send(w, "BOOKMARK", { kind: META[w.kind].kind, apiVersion: META[w.kind].apiVersion, metadata: { resourceVersion: String(rv) } });
  };
  const bookmarkMs = opts.bookmarkIntervalMs ?? 1000;
  const bookmarkTimer = bookmarkMs > 0 ? setInterval(sendBookmarks, bookmarkMs) : undefined;
  bookmarkTimer?.unref();

  const handle = (req: IncomingMessage, res: ServerResponse): void => {
    const url = new URL(req.url ?? "/", "https://fake");
    const query = Object.fromEntries(url.searchParams);
    const auth = req.headers.authorization;
    const authorized = auth === `Bearer ${token}` || (auth === undefined && (req.socket as TLSSocket).authorized === true);
    requests.push({ method: req.method ?? "", path: url.pathname, query, authorized });
    if (!authorized) return status(res, 401, "Unauthorized", "Unauthorized");
    if (failCount > 0) {
      failCount--;
      const reason = failStatus === 503 ? "ServiceUnavailable" : failStatus === 429 ? "TooManyRequests" : "InternalError";
      return status(res, failStatus, reason, "injected failure");
    }
    const r = route(url.pathname);
    if (!r) return status(res, 404, "NotFound", `the server could not find the requested resource (${url.pathname})`);
    if (req.method !== "GET") return status(res, 405, "MethodNotAllowed", `${req.method} is not supported by the fake`);
    let match: Pred;
    try {
      const preds: Pred[] = [];
      if (r.namespace !== undefined) {
        const ns = r.namespace;
        preds.push((o) => o.metadata.namespace === ns);
      }
      if (query["labelSelector"]) preds.push(parseLabelSelector(query["labelSelector"]));
      if (query["fieldSelector"]) preds.push(parseFieldSelector(r.kind, query["fieldSelector"]));
      match = (o) => preds.every((p) => p(o));
    } catch (e) {
      if (e instanceof BadRequest) return status(res, 400, "BadRequest", e.message);
      throw e;
    }
    const watch = query["watch"] === "1" || query["watch"] === "true";
    if (watch) return doWatch(r.kind, match, query, res);
    return doList(r.kind, match, query, res);
  };

  const doList = (kind: ResourceKind, match: Pred, query: Record<string, string>, res: ServerResponse): void => {
    let snap: Snapshot;
    let offset = 0;
    const cont = query["continue"];
    if (cont) {
      let tok: { s?: string; o?: number } = {};
      try {
        tok = JSON.parse(Buffer.from(cont, "base64url").toString("utf8")) as typeof tok;
      } catch {
        return status(res, 400, "BadRequest", "invalid continue token");
      }
      const s = tok.s !== undefined ? snapshots.get(tok.s) : undefined;
      if (!s || typeof tok.o !== "number") return status(res, 410, "Expired", "The provided continue parameter is too old to display a consistent list result.");
      snap = s;
      offset = tok.o;
    } else {
      const items = [...store.get(kind)!.values()].filter(match).sort((a, b) => (keyOf(a) < keyOf(b) ? -1 : 1));
      snap = { rv, items };
    }
    const limit = Number(query["limit"] ?? 0);
    const end = limit > 0 ? Math.min(snap.items.length, offset + limit) : snap.items.length;
    const metadata: Record<string, unknown> = { resourceVersion: String(snap.rv) };
    if (end < snap.items.length) {
      let id = [...snapshots].find(([, s]) => s === snap)?.[0];
      if (id === undefined) {
        id = randomBytes(6).toString("hex");
        snapshots.set(id, snap);
        if (snapshots.size > 64) snapshots.delete(snapshots.keys().next().value!);
      }
      metadata["continue"] = Buffer.from(JSON.stringify({ s: id, o: end })).toString("base64url");
      metadata["remainingItemCount"] = snap.items.length - end;
    }
    const body = JSON.stringify({ kind: `${META[kind].kind}List`, apiVersion: META[kind].apiVersion, metadata, items: snap.items.slice(offset, end) });
    res.writeHead(200, { "Content-Type": "application/json", "Content-Length": Buffer.byteLength(body) });
    res.end(body);
  };

  const doWatch = (kind: ResourceKind, match: Pred, query: Record<string, string>, res: ServerResponse): void => {
    const from = query["resourceVersion"] ?? "";
    const fromRv = from === "" || from === "0" ? undefined : Number(from);
    if (fromRv !== undefined && !Number.isSafeInteger(fromRv)) return status(res, 400, "BadRequest", `invalid resourceVersion ${JSON.stringify(from)}`);
    const gone = fromRv !== undefined && fromRv < compactedRv;
    if (gone && goneAs === "status") return status(res, 410, "Expired", `too old resource version: ${fromRv} (${compactedRv})`);
    res.writeHead(200, { "Content-Type": "application/json", "Transfer-Encoding": "chunked", "Cache-Control": "no-cache" });
    const w: Watcher = { kind, match, bookmarks: query["allowWatchBookmarks"] === "true" || query["allowWatchBookmarks"] === "1", res };
    if (gone) {
      send(w, "ERROR", { kind: "Status", apiVersion: "v1", metadata: {}, status: "Failure", message: `too old resource version: ${fromRv} (${compactedRv})`, reason: "Expired", code: 410 });
      res.end();
      return;
    }
    if (fromRv === undefined) {
      for (const o of store.get(kind)!.values()) if (match(o)) send(w, "ADDED", typed(kind, o));
    } else {
      for (const ev of log) if (ev.rv > fromRv) deliver(w, ev);
    }
    res.flushHeaders();
    watchers.add(w);
    const t = Number(query["timeoutSeconds"] ?? 0);
    if (t > 0 && !opts.ignoreTimeoutSeconds) w.timer = setTimeout(() => endWatch(w), t * 1000);
    res.on("close", () => {
      clearTimeout(w.timer);
      watchers.delete(w);
    });
  };

  const server = https.createServer({ key: tls.keyPem, cert: tls.certPem, ca: tls.caPem, requestCert: true, rejectUnauthorized: false }, (req, res) => {
    try {
      handle(req, res);
    } catch (e) {
      if (!res.headersSent) status(res, 500, "InternalError", String(e));
      else res.destroy();
    }
  });
  await new Promise<void>((resolve, reject) => {
    server.once("error", reject);
    server.listen(opts.port ?? 0, host, () => {
      server.off("error", reject);
      resolve();
    });
  });
  const port = (server.address() as AddressInfo).port;
  const url = `https://${host.includes(":") ? `[${host}]` : host}:${port}`;

  const record = (kind: ResourceKind, type: Event["type"], object: FakeObject, prev?: FakeObject): string => {
    const ev: Event = { rv, kind, type, object };
    if (prev) ev.prev = prev;
    log.push(ev);
    for (const w of watchers) deliver(w, ev);
    opts.onMutate?.();
    return String(rv);
  };

  let stopped: Promise<void> | undefined;
  const api: FakeApi = {
    url,
    caPem: tls.caPem,
    get token() {
      return token;
    },
    tls,
    requests,
    upsert(kind, obj) {
      const o = structuredClone(obj) as FakeObject;
      if (typeof o !== "object" || o === null || typeof o.metadata?.name !== "string" || !o.metadata.name) throw new Error(`upsert ${kind}: metadata.name missing`);
      if (META[kind].namespaced) o.metadata.namespace ??= "default";
      else if (o.metadata.namespace) throw new Error(`upsert ${kind}: cluster-scoped, but metadata.namespace given`);
      delete o["kind"];
      delete o["apiVersion"];
      const key = keyOf(o);
      const prev = store.get(kind)!.get(key);
      o.metadata.uid = prev?.metadata.uid ?? o.metadata.uid ?? randomUUID();
      o.metadata["creationTimestamp"] ??= prev?.metadata["creationTimestamp"] ?? new Date().toISOString().replace(/\.\d+Z$/, "Z");
      rv++;
      o.metadata.resourceVersion = String(rv);
      store.get(kind)!.set(key, o);
      return record(kind, prev ? "MODIFIED" : "ADDED", o, prev);
    },
    remove(kind, key) {
      const prev = store.get(kind)!.get(key);
      if (!prev) return false;
      store.get(kind)!.delete(key);
      rv++;
      const o = structuredClone(prev);
      o.metadata.resourceVersion = String(rv);
      record(kind, "DELETED", o);
      return true;
    },
    objects(kind) {
      return [...store.get(kind)!.values()].map((o) => structuredClone(o));
    },
    compact() {
      compactedRv = rv;
      log = [];
      snapshots.clear();
    },
    closeWatches() {
      for (const w of [...watchers]) endWatch(w);
    },
    watchError(code, message = "injected watch error") {
      for (const w of [...watchers]) {
        send(w, "ERROR", { kind: "Status", apiVersion: "v1", metadata: {}, status: "Failure", message, reason: code === 410 ? "Expired" : "InternalError", code });
        endWatch(w);
      }
    },
    breakWatches() {
      for (const w of [...watchers]) {
        clearTimeout(w.timer);
        watchers.delete(w);
        w.res.socket?.destroy();
      }
    },
    setToken(t) {
      token = t;
    },
    failNext(count, st = 500) {
      failCount = count;
      failStatus = st;
    },
    sendBookmarks,
    watchCount(kind) {
      return [...watchers].filter((w) => kind === undefined || w.kind === kind).length;
    },
    resourceVersion() {
      return String(rv);
    },
    state() {
      const objects = Object.fromEntries(KINDS.map((k) => [k, api.objects(k)])) as Record<ResourceKind, FakeObject[]>;
      return { resourceVersion: rv, objects };
    },
    async stop() {
      if (stopped) return stopped;
      clearInterval(bookmarkTimer);
      for (const w of [...watchers]) endWatch(w);
      stopped = new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      });
      return stopped;
    },
  };
  return api;
}

/** A kubeconfig text for `api` (token inline, or `tokenFile` when given). */
export function fakeKubeconfig(api: { url: string; caPem: string; token: string }, opts: { tokenFile?: string } = {}): string {
  const ca = Buffer.from(api.caPem).toString("base64");
  const user = opts.tokenFile ? `tokenFile: ${opts.tokenFile}` : `token: ${api.token}`;
  return [
    "apiVersion: v1",
    "kind: Config",
    "current-context: fake",
    "clusters:",
    "- name: fake",
    "  cluster:",
    `    server: ${api.url}`,
    `    certificate-authority-data: ${ca}`,
    "users:",
    "- name: agent",
    "  user:",
    `    ${user}`,
    "contexts:",
    "- name: fake",
    "  context:",
    "    cluster: fake",
    "    user: agent",
    "",
  ].join("\n");
}
