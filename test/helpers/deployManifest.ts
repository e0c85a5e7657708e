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
  command?: string[];
  args: string[];
  env: { name: string; value?: string; fieldPath?: string }[];
  mounts: { name: string; mountPath: string; readOnly: boolean; hostPath?: string; hostPathType?: string; emptyDir: boolean }[];
  capAdd: string[];
  capDrop: string[];
  privileged: boolean;
  readOnlyRootFilesystem: boolean;
  runAsUser?: number;
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
