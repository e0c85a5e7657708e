/**
 * deploy/tether.yaml for the tests: the parsed objects, the agent's container spec, the RBAC
 * rules flattened to (apiGroup, resource, verb) grants, and a schema check of every object.
 *
 * Schema check (no API server, and Debian's kubectl cannot validate offline: it downloads the
 * OpenAPI document from a server): each object is validated by the `kubernetes-models` model of its
 * apiVersion/kind (the Kubernetes OpenAPI schema compiled to validators: types, required fields,
 * enums), and, since those validators accept unknown fields, every field name is also checked
 * against the model's type declarations, as `kubectl --validate=strict` would refuse a typo.
 */
import { readFileSync } from "node:fs";
import { dirname, join, resolve } from "node:path";
import yaml from "js-yaml";
import { REPO_ROOT } from "./binary";

export const MANIFEST_PATH = join(REPO_ROOT, "deploy", "tether.yaml");

export interface K8sObject {
  apiVersion: string;
  kind: string;
  metadata: { name: string; namespace?: string; [k: string]: unknown };
  [k: string]: unknown;
}

export function loadManifest(text: string = readFileSync(MANIFEST_PATH, "utf8")): K8sObject[] {
  const docs = yaml.loadAll(text).filter((d) => d !== null && d !== undefined);
  for (const d of docs) {
    if (typeof d !== "object" || Array.isArray(d)) throw new Error(`manifest: a document is not an object: ${JSON.stringify(d)}`);
    const o = d as Record<string, unknown>;
    if (typeof o["apiVersion"] !== "string" || typeof o["kind"] !== "string") throw new Error("manifest: a document lacks apiVersion/kind");
  }
  return docs as K8sObject[];
}

export function findObject(objs: readonly K8sObject[], kind: string, name?: string): K8sObject {
  const o = objs.find((x) => x.kind === kind && (name === undefined || x.metadata.name === name));
  if (o === undefined) throw new Error(`manifest: no ${kind}${name === undefined ? "" : ` ${name}`}`);
  return o;
}

/** A grant: one verb on one resource of one API group ("" = core). */
export type Grant = `${string}/${string}:${string}`;

export const grant = (apiGroup: string, resource: string, verb: string): Grant => `${apiGroup}/${resource}:${verb}`;

interface PolicyRule {
  apiGroups?: string[];
  resources?: string[];
  verbs?: string[];
  resourceNames?: string[];
  nonResourceURLs?: string[];
}

/**
 * The grants of a ClusterRole's rules, every combination spelled out. Wildcards, resourceNames and
 * nonResourceURLs are returned as problems: least privilege has no use for them here.
 */
export function grantsOf(role: K8sObject): { grants: Set<Grant>; problems: string[] } {
  const grants = new Set<Grant>();
  const problems: string[] = [];
  const rules = (role["rules"] ?? []) as PolicyRule[];
  rules.forEach((r, i) => {
    if (r.nonResourceURLs !== undefined) problems.push(`rule ${i}: nonResourceURLs`);
    if (r.resourceNames !== undefined) problems.push(`rule ${i}: resourceNames`);
    for (const g of r.apiGroups ?? []) {
      for (const res of r.resources ?? []) {
        for (const v of r.verbs ?? []) {
          if (g === "*" || res === "*" || v === "*") problems.push(`rule ${i}: wildcard ${grant(g, res, v)}`);
          grants.add(grant(g, res, v));
        }
      }
    }
  });
  return { grants, problems };
}

export function grantsOfAccess(access: readonly { apiGroup: string; resource: string; verbs: readonly string[] }[]): Set<Grant> {
  const out = new Set<Grant>();
  for (const a of access) for (const v of a.verbs) out.add(grant(a.apiGroup, a.resource, v));
  return out;
}

/** The differences between what the role grants and what the code uses; empty when equal. */
export function compareGrants(granted: ReadonlySet<Grant>, used: ReadonlySet<Grant>): string[] {
  const out: string[] = [];
  for (const g of granted) if (!used.has(g)) out.push(`granted but not in AGENT_ACCESS: ${g}`);
  for (const u of used) if (!granted.has(u)) out.push(`in AGENT_ACCESS but not granted: ${u}`);
  return out.sort();
}

// ---- the agent's container, as the DaemonSet says -------------------------------------------

export interface AgentContainer {
  image: string;
  command?: string[] | undefined;
  args: string[];
  env: { name: string; value?: string; fieldPath?: string }[];
  mounts: { name: string; mountPath: string; readOnly: boolean; hostPath?: string; hostPathType?: string; emptyDir: boolean }[];
  capAdd: string[];
  capDrop: string[];
  privileged: boolean;
  /** allowPrivilegeEscalation: false */
  noNewPrivileges: boolean;
  seccomp?: string | undefined;
  readOnlyRootFilesystem: boolean;
  runAsUser?: number | undefined;
  hostNetwork: boolean;
  probes: { liveness: HttpProbe; readiness: HttpProbe };
  resources: { requests: Record<string, string>; limits: Record<string, string> };
}

export interface HttpProbe {
  host?: string;
  port: number;
  path: string;
}

export function agentContainer(objs: readonly K8sObject[]): AgentContainer {
  const ds = findObject(objs, "DaemonSet", "tether") as any;
  const pod = ds.spec.template.spec;
  const containers = pod.containers as any[];
  if (containers.length !== 1) throw new Error(`DaemonSet: expected one container, found ${containers.length}`);
  const c = containers[0];
  const volumes = new Map<string, any>((pod.volumes ?? []).map((v: any) => [v.name, v]));
  const probe = (p: any, what: string): HttpProbe => {
    if (p?.httpGet === undefined) throw new Error(`DaemonSet: ${what} is not an httpGet probe`);
    const port = p.httpGet.port;
    if (typeof port !== "number") throw new Error(`DaemonSet: ${what} port must be a number`);
    return { host: p.httpGet.host, port, path: p.httpGet.path };
  };
  return {
    image: c.image,
    command: c.command,
    args: c.args ?? [],
    env: (c.env ?? []).map((e: any) => ({ name: e.name, value: e.value, fieldPath: e.valueFrom?.fieldRef?.fieldPath })),
    mounts: (c.volumeMounts ?? []).map((m: any) => {
      const v = volumes.get(m.name);
      if (v === undefined) throw new Error(`DaemonSet: volumeMount ${m.name} has no volume`);
      return {
        name: m.name,
        mountPath: m.mountPath,
        readOnly: m.readOnly === true,
        hostPath: v.hostPath?.path,
        hostPathType: v.hostPath?.type,
        emptyDir: v.emptyDir !== undefined,
      };
    }),
    capAdd: c.securityContext?.capabilities?.add ?? [],
    capDrop: c.securityContext?.capabilities?.drop ?? [],
    privileged: c.securityContext?.privileged === true,
    noNewPrivileges: c.securityContext?.allowPrivilegeEscalation === false,
    seccomp: c.securityContext?.seccompProfile?.type ?? pod.securityContext?.seccompProfile?.type,
    readOnlyRootFilesystem: c.securityContext?.readOnlyRootFilesystem === true,
    runAsUser: c.securityContext?.runAsUser,
    hostNetwork: pod.hostNetwork === true,
    probes: { liveness: probe(c.livenessProbe, "livenessProbe"), readiness: probe(c.readinessProbe, "readinessProbe") },
    resources: { requests: c.resources?.requests ?? {}, limits: c.resources?.limits ?? {} },
  };
}

// ---- schema ---------------------------------------------------------------------------------

/** kubernetes-models module of each kind the manifest may hold. */
const MODELS: Record<string, string> = {
  "v1/ServiceAccount": "kubernetes-models/v1/ServiceAccount",
  "v1/Namespace": "kubernetes-models/v1/Namespace",
  "rbac.authorization.k8s.io/v1/ClusterRole": "kubernetes-models/rbac.authorization.k8s.io/v1/ClusterRole",
  "rbac.authorization.k8s.io/v1/ClusterRoleBinding": "kubernetes-models/rbac.authorization.k8s.io/v1/ClusterRoleBinding",
  "apps/v1/DaemonSet": "kubernetes-models/apps/v1/DaemonSet",
};

/** Problems of one object against the Kubernetes schema; empty when it is valid. */
export function schemaProblems(obj: K8sObject): string[] {
  const key = `${obj.apiVersion}/${obj.kind}`;
  const mod = MODELS[key];
  if (mod === undefined) return [`${key}: no schema known to the test`];
  const problems: string[] = [];
  const exports = require(mod) as Record<string, new (d: unknown) => { validate(): void }>;
  const Model = exports[obj.kind];
  if (Model === undefined) return [`${mod} has no ${obj.kind}`];
  try {
    new Model(obj).validate();
  } catch (err) {
    problems.push(`${key} ${obj.metadata.name}: ${err instanceof Error ? err.message : String(err)}`);
  }
  const dts = require.resolve(mod).replace(/\.js$/, ".d.ts");
  unknownFields(obj, dts, `${obj.kind}`, problems);
  return problems;
}

interface Decl {
  /** field name -> the .d.ts file of its element type, or undefined for a leaf (scalar, map, alias). */
  fields: Map<string, string | undefined>;
}

const declCache = new Map<string, Decl | undefined>();

/** The first exported interface of a kubernetes-models .d.ts: its fields and where their types live. */
function readDecl(dtsFile: string): Decl | undefined {
  if (declCache.has(dtsFile)) return declCache.get(dtsFile);
  const text = readFileSync(dtsFile, "utf8").replace(/\/\*[\s\S]*?\*\//g, "");
  const imports = new Map<string, string>();
  for (const m of text.matchAll(/^import \{ ([^}]+) \} from "([^"]+)";$/gm)) {
    for (const name of (m[1] ?? "").split(",").map((s) => s.trim())) imports.set(name, m[2] ?? "");
  }
  const head = /^export interface \w+( extends TypeMeta)? \{$/m.exec(text);
  let decl: Decl | undefined;
  if (head !== null) {
    const body = text.slice(head.index + head[0].length, text.indexOf("\n}", head.index));
    const fields = new Map<string, string | undefined>();
    if (head[1] !== undefined) {
      fields.set("apiVersion", undefined);
      fields.set("kind", undefined);
    }
    for (const m of body.matchAll(/^ {4}"([^"]+)"\??: (.+?);?$/gm)) {
      const type = (m[2] ?? "").replace(/^Array<(.+)>$/, "$1");
      const spec = imports.get(type);
      let file: string | undefined;
      if (spec !== undefined) {
        file = spec.startsWith(".") ? resolve(dirname(dtsFile), `${spec}.d.ts`) : require.resolve(spec).replace(/\.js$/, ".d.ts");
      }
      fields.set(m[1] ?? "", file);
    }
    decl = { fields };
  }
  declCache.set(dtsFile, decl);
  return decl;
}

function unknownFields(value: unknown, dtsFile: string, where: string, problems: string[]): void {
  if (Array.isArray(value)) {
    value.forEach((v, i) => unknownFields(v, dtsFile, `${where}[${i}]`, problems));
    return;
  }
  if (value === null || typeof value !== "object") return;
  const decl = readDecl(dtsFile);
  if (decl === undefined) return; // an alias (IntOrString, Quantity): a scalar
  for (const [k, v] of Object.entries(value)) {
    if (!decl.fields.has(k)) {
      problems.push(`${where}: unknown field "${k}"`);
      continue;
    }
    const sub = decl.fields.get(k);
    if (sub !== undefined) unknownFields(v, sub, `${where}.${k}`, problems);
  }
}

// ---- the container spec as a podman command line ---------------------------------------------

/** "256Mi" -> "256m" (podman's m is MiB), "1Gi" -> "1024m", plain bytes kept. */
export function podmanMemory(q: string): string {
  const m = /^(\d+)(Ki|Mi|Gi)?$/.exec(q);
  if (m === null) throw new Error(`memory quantity ${q}: only plain, Ki, Mi and Gi are supported here`);
  const n = Number(m[1]);
  switch (m[2]) {
    case "Ki":
      return `${n}k`;
    case "Mi":
      return `${n}m`;
    case "Gi":
      return `${n * 1024}m`;
    default:
      return `${n}`;
  }
}

/** Bytes of a memory quantity (for comparing a measured RSS with the limit). */
export function memoryBytes(q: string): number {
  const m = /^(\d+)(Ki|Mi|Gi)?$/.exec(q);
  if (m === null) throw new Error(`memory quantity ${q}`);
  return Number(m[1]) * { "": 1, Ki: 1024, Mi: 1 << 20, Gi: 1 << 30 }[(m[2] ?? "") as "" | "Ki" | "Mi" | "Gi"];
}

/** "1" -> "1", "500m" -> "0.5". */
export function podmanCpus(q: string): string {
  const m = /^(\d+)(m)?$/.exec(q);
  if (m === null) throw new Error(`cpu quantity ${q}`);
  return m[2] === "m" ? String(Number(m[1]) / 1000) : String(Number(m[1]));
}

export interface PodmanRunPlan {
  /** Container name. */
  name: string;
  /** Network namespace file standing in for the node's (host) network. */
  netnsPath: string;
  /** Host directory standing in for `/` of the node: hostPath P is mounted from hostRoot + P. */
  hostRoot: string;
  /** Directory holding one subdirectory per emptyDir volume. */
  emptyDirRoot: string;
  /** Directory with token, ca.crt, namespace: mounted where Kubernetes mounts the service account. */
  serviceAccountDir: string;
  nodeName: string;
  /** Environment the kubelet adds (KUBERNETES_SERVICE_HOST/PORT). */
  extraEnv: Record<string, string>;
  /** --ulimit values (the sandbox cannot raise rlimits: podman's defaults would fail). */
  ulimits: string[];
}

export const SERVICE_ACCOUNT_DIR = "/var/run/secrets/kubernetes.io/serviceaccount";

/**
 * `podman run` arguments that run the agent container as deploy/tether.yaml specifies it: image,
 * command/args, env (the downward API's spec.nodeName), every volume mount (hostPath from
 * `hostRoot`, emptyDir from `emptyDirRoot`), capabilities, privilege, read-only root, user, resource
 * limits; host network replaced by `netnsPath`. Anything in the spec this cannot express throws.
 */
export function podmanRunArgs(c: AgentContainer, plan: PodmanRunPlan): string[] {
  if (!c.hostNetwork) throw new Error("the plan stands a netns in for the host network: the spec must use hostNetwork");
  const args = ["run", "-d", "--name", plan.name, "--network", `ns:${plan.netnsPath}`];
  for (const u of plan.ulimits) args.push("--ulimit", u);
  if (c.privileged) args.push("--privileged");
  for (const cap of c.capDrop) args.push("--cap-drop", cap);
  for (const cap of c.capAdd) args.push("--cap-add", cap);
  if (c.readOnlyRootFilesystem) args.push("--read-only");
  if (c.noNewPrivileges) args.push("--security-opt", "no-new-privileges");
  // RuntimeDefault: podman's default profile applies; anything else is not simulated.
  if (c.seccomp === "Unconfined") args.push("--security-opt", "seccomp=unconfined");
  else if (c.seccomp !== undefined && c.seccomp !== "RuntimeDefault") throw new Error(`seccompProfile ${c.seccomp} is not simulated`);
  if (c.runAsUser !== undefined) args.push("--user", String(c.runAsUser));
  const { limits, requests } = c.resources;
  if (limits["memory"] !== undefined) args.push("--memory", podmanMemory(limits["memory"]));
  if (requests["memory"] !== undefined) args.push("--memory-reservation", podmanMemory(requests["memory"]));
  if (limits["cpu"] !== undefined) args.push("--cpus", podmanCpus(limits["cpu"]));
  for (const e of c.env) {
    if (e.fieldPath !== undefined) {
      if (e.fieldPath !== "spec.nodeName") throw new Error(`env ${e.name}: fieldPath ${e.fieldPath} is not simulated`);
      args.push("--env", `${e.name}=${plan.nodeName}`);
    } else {
      args.push("--env", `${e.name}=${e.value ?? ""}`);
    }
  }
  for (const [k, v] of Object.entries(plan.extraEnv)) args.push("--env", `${k}=${v}`);
  for (const m of c.mounts) {
    let src: string;
    if (m.hostPath !== undefined) src = join(plan.hostRoot, m.hostPath);
    else if (m.emptyDir) src = join(plan.emptyDirRoot, m.name);
    else throw new Error(`volume ${m.name}: only hostPath and emptyDir are simulated`);
    args.push("--volume", `${src}:${m.mountPath}${m.readOnly ? ":ro" : ""}`);
  }
  args.push("--volume", `${plan.serviceAccountDir}:${SERVICE_ACCOUNT_DIR}:ro`);
  if (c.command !== undefined) {
    const [entry, ...rest] = c.command;
    if (entry === undefined) throw new Error("command is empty");
    args.push("--entrypoint", entry, c.image, ...rest, ...c.args);
  } else {
    args.push(c.image, ...c.args);
  }
  return args;
}
