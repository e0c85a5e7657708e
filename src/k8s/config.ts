/**
 * Where the API server is and how to authenticate: in-cluster service account by default, or a
 * kubeconfig file (its current-context). The token file is only named here: the client re-reads it
 * on every request, since bound service account tokens rotate.
 */
import fs = require("node:fs");
import path = require("node:path");
import { isIPv6 } from "../ip/text";
import { K8sConfigError } from "./errors";
import { lazy } from "../util/lazy";

const jsYamlModule = lazy(() => require("js-yaml") as typeof import("js-yaml"));

export { K8sConfigError } from "./errors";

export interface ClusterConfig {
  /** https://host:port */
  server: string;
  ca?: Buffer | undefined;
  tokenFile?: string | undefined;
  token?: string | undefined;
  cert?: Buffer | undefined;
  key?: Buffer | undefined;
  insecureSkipTLSVerify?: boolean | undefined;
  /** The name the server certificate is checked against (and sent as SNI) instead of the server's host. */
  tlsServerName?: string | undefined;
}

export const SERVICE_ACCOUNT_DIR = "/var/run/secrets/kubernetes.io/serviceaccount";

export interface LoadOptions {
  kubeconfig?: string | undefined;
  env?: NodeJS.ProcessEnv | undefined;
  /** Where the in-cluster token and ca.crt are (tests); SERVICE_ACCOUNT_DIR by default. */
  serviceAccountDir?: string | undefined;
}

export function loadClusterConfig(opts: LoadOptions = {}): ClusterConfig {
  if (opts.kubeconfig !== undefined) return loadKubeconfig(opts.kubeconfig);
  return inCluster(opts.env ?? process.env, opts.serviceAccountDir ?? SERVICE_ACCOUNT_DIR);
}

function readFile(file: string, field: string): Buffer {
  try {
    return fs.readFileSync(file);
  } catch (e) {
    throw new K8sConfigError(field, `cannot read ${file}: ${(e as NodeJS.ErrnoException).code ?? String(e)}`);
  }
}

function inCluster(env: NodeJS.ProcessEnv, dir: string): ClusterConfig {
  const host = env["KUBERNETES_SERVICE_HOST"];
  const port = env["KUBERNETES_SERVICE_PORT"];
  if (!host) throw new K8sConfigError("KUBERNETES_SERVICE_HOST", "not set (not in a cluster? use --kubeconfig)");
  if (!port) throw new K8sConfigError("KUBERNETES_SERVICE_PORT", "not set (not in a cluster? use --kubeconfig)");
  if (!/^\d{1,5}$/.test(port) || Number(port) < 1 || Number(port) > 65535) {
    throw new K8sConfigError("KUBERNETES_SERVICE_PORT", `not a port number: ${JSON.stringify(port)}`);
  }
  const tokenFile = path.join(dir, "token");
  readFile(tokenFile, "service account token"); // present now; re-read per request
  const ca = readFile(path.join(dir, "ca.crt"), "service account ca.crt");
  const h = isIPv6(host) ? `[${host}]` : host;
  return { server: `https://${h}:${port}`, ca, tokenFile };
}

type Yaml = Record<string, unknown>;

function isRecord(v: unknown): v is Yaml {
  return typeof v === "object" && v !== null && !Array.isArray(v);
}

function named(doc: Yaml, list: "clusters" | "users" | "contexts", name: string, file: string): Yaml {
  const arr = doc[list];
  if (arr !== undefined && !Array.isArray(arr)) throw new K8sConfigError(`${file}: ${list}`, "not a list");
  const entry = (arr ?? []).find((e: unknown) => isRecord(e) && e["name"] === name) as Yaml | undefined;
  if (!entry) throw new K8sConfigError(`${file}: ${list}`, `no entry named ${JSON.stringify(name)}`);
  const inner = entry[list.slice(0, -1)];
  if (!isRecord(inner)) throw new K8sConfigError(`${file}: ${list}[${name}].${list.slice(0, -1)}`, "missing or not a map");
  return inner;
}

function optString(m: Yaml, key: string, field: string): string | undefined {
  const v = m[key];
  if (v === undefined || v === null) return undefined;
  if (typeof v !== "string" || v === "") throw new K8sConfigError(field, "must be a non-empty string");
  return v;
}

function base64Field(m: Yaml, key: string, field: string): Buffer | undefined {
  const v = optString(m, key, field);
  if (v === undefined) return undefined;
  const compact = v.replace(/\s+/g, "");
  if (!/^[A-Za-z0-9+/]*={0,2}$/.test(compact) || compact.length % 4 !== 0) throw new K8sConfigError(field, "not base64");
  return Buffer.from(compact, "base64");
}

/** Reads a kubeconfig; relative file paths in it are relative to the file's directory (as kubectl does). */
export function loadKubeconfig(file: string): ClusterConfig {
  const yaml = jsYamlModule();
  const text = readFile(file, "kubeconfig").toString("utf8");
  let doc: unknown;
  try {
    doc = yaml.load(text, { filename: file });
  } catch (e) {
    throw new K8sConfigError(`kubeconfig ${file}`, `not YAML: ${(e as Error).message.split("\n")[0]}`);
  }
  if (!isRecord(doc)) throw new K8sConfigError(`kubeconfig ${file}`, "not a YAML map");
  const base = path.dirname(path.resolve(file));
  const rel = (p: string): string => (path.isAbsolute(p) ? p : path.join(base, p));

  const current = optString(doc, "current-context", `${file}: current-context`);
  if (current === undefined) throw new K8sConfigError(`${file}: current-context`, "missing");
  const ctx = named(doc, "contexts", current, file);
  const clusterName = optString(ctx, "cluster", `${file}: contexts[${current}].context.cluster`);
  if (clusterName === undefined) throw new K8sConfigError(`${file}: contexts[${current}].context.cluster`, "missing");
  const userName = optString(ctx, "user", `${file}: contexts[${current}].context.user`);

  const cluster = named(doc, "clusters", clusterName, file);
  const cf = (k: string): string => `${file}: clusters[${clusterName}].cluster.${k}`;
  const server = optString(cluster, "server", cf("server"));
  if (server === undefined) throw new K8sConfigError(cf("server"), "missing");
  let url: URL;
  try {
    url = new URL(server);
  } catch {
    throw new K8sConfigError(cf("server"), `not a URL: ${JSON.stringify(server)}`);
  }
  if (url.protocol !== "https:") throw new K8sConfigError(cf("server"), `must be https://, got ${JSON.stringify(server)}`);
  const cfg: ClusterConfig = { server: server.replace(/\/+$/, "") };

  const caData = base64Field(cluster, "certificate-authority-data", cf("certificate-authority-data"));
  const caFile = optString(cluster, "certificate-authority", cf("certificate-authority"));
  if (caData) cfg.ca = caData;
  else if (caFile) cfg.ca = readFile(rel(caFile), cf("certificate-authority"));
  const insecure = cluster["insecure-skip-tls-verify"];
  if (insecure !== undefined && typeof insecure !== "boolean") throw new K8sConfigError(cf("insecure-skip-tls-verify"), "must be true or false");
  if (insecure === true) cfg.insecureSkipTLSVerify = true;
  const serverName = optString(cluster, "tls-server-name", cf("tls-server-name"));
  if (serverName !== undefined) cfg.tlsServerName = serverName;

  if (userName !== undefined) {
    const user = named(doc, "users", userName, file);
    const uf = (k: string): string => `${file}: users[${userName}].user.${k}`;
    const token = optString(user, "token", uf("token"));
    const tokenFile = optString(user, "tokenFile", uf("tokenFile"));
    if (token !== undefined) cfg.token = token;
    else if (tokenFile !== undefined) {
      cfg.tokenFile = rel(tokenFile);
      readFile(cfg.tokenFile, uf("tokenFile"));
    }
    const cert =
      base64Field(user, "client-certificate-data", uf("client-certificate-data")) ??
      mapOpt(optString(user, "client-certificate", uf("client-certificate")), (p) => readFile(rel(p), uf("client-certificate")));
    const key =
      base64Field(user, "client-key-data", uf("client-key-data")) ??
      mapOpt(optString(user, "client-key", uf("client-key")), (p) => readFile(rel(p), uf("client-key")));
    if (cert && !key) throw new K8sConfigError(uf("client-key"), "missing (a client certificate needs its key)");
    if (key && !cert) throw new K8sConfigError(uf("client-certificate"), "missing (a client key needs its certificate)");
    if (cert && key) {
      cfg.cert = cert;
      cfg.key = key;
    }
    for (const k of ["exec", "auth-provider", "username"]) {
      if (user[k] !== undefined && token === undefined && tokenFile === undefined && !cert) {
        throw new K8sConfigError(uf(k), "not supported by tether (use a token, tokenFile or client certificate)");
      }
    }
  }
  return cfg;
}

function mapOpt<A, B>(a: A | undefined, f: (a: A) => B): B | undefined {
  return a === undefined ? undefined : f(a);
}
