/**
 * deploy/tether.yaml: RBAC exactly equal to src/k8s/access.ts AGENT_ACCESS (both directions), every
 * object valid against the Kubernetes schema (kubernetes-models validators plus unknown-field
 * check: see test/helpers/deployManifest.ts), and the DaemonSet's promises to the node.
 */
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { test } from "node:test";
import { AGENT_ACCESS, agentClusterRoleRules } from "../../src/k8s/access";
import { REPO_ROOT } from "../helpers/binary";
import {
  agentContainer,
  compareGrants,
  findObject,
  grant,
  grantsOf,
  grantsOfAccess,
  loadManifest,
  memoryBytes,
  podmanCpus,
  podmanMemory,
  podmanRunArgs,
  schemaProblems,
  type K8sObject,
} from "../helpers/deployManifest";

const objs = loadManifest();
const clone = (o: K8sObject): K8sObject => structuredClone(o);

test("the manifest holds the ServiceAccount, ClusterRole, ClusterRoleBinding and DaemonSet, namespaced in kube-system", () => {
  assert.deepEqual(objs.map((o) => `${o.kind}/${o.metadata.name}`), [
    "ServiceAccount/tether",
    "ClusterRole/tether",
    "ClusterRoleBinding/tether",
    "DaemonSet/tether",
  ]);
  assert.equal(findObject(objs, "ServiceAccount").metadata.namespace, "kube-system");
  assert.equal(findObject(objs, "DaemonSet").metadata.namespace, "kube-system");
  const binding = findObject(objs, "ClusterRoleBinding") as K8sObject & { roleRef: { kind: string; name: string }; subjects: unknown[] };
  assert.deepEqual(binding.roleRef, { apiGroup: "rbac.authorization.k8s.io", kind: "ClusterRole", name: "tether" });
  assert.deepEqual(binding.subjects, [{ kind: "ServiceAccount", name: "tether", namespace: "kube-system" }]);
  const ds = findObject(objs, "DaemonSet") as K8sObject & { spec: { template: { spec: { serviceAccountName: string } } } };
  assert.equal(ds.spec.template.spec.serviceAccountName, "tether");
});

test("the ClusterRole grants exactly what AGENT_ACCESS lists: no more, no less, no wildcard", () => {
  const { grants, problems } = grantsOf(findObject(objs, "ClusterRole"));
  assert.deepEqual(problems, []);
  assert.deepEqual(compareGrants(grants, grantsOfAccess(AGENT_ACCESS)), []);
  // The agent only lists and watches: no get, no write verb anywhere.
  for (const g of grants) assert.match(g, /:(list|watch)$/);
  // And rule for rule, as src/k8s derives them from AGENT_ACCESS.
  assert.deepEqual((findObject(objs, "ClusterRole") as K8sObject & { rules: unknown[] }).rules, agentClusterRoleRules());
});

test("the RBAC comparison notices a missing verb, an extra verb and a wildcard", () => {
  const role = clone(findObject(objs, "ClusterRole")) as K8sObject & { rules: { apiGroups: string[]; resources: string[]; verbs: string[] }[] };
  const first = role.rules[0];
  assert.ok(first !== undefined);
  first.verbs = first.verbs.filter((v) => v !== "watch");
  role.rules.push({ apiGroups: [""], resources: ["secrets"], verbs: ["get"] });
  const { grants } = grantsOf(role);
  const diff = compareGrants(grants, grantsOfAccess(AGENT_ACCESS));
  assert.deepEqual(diff, [
    `granted but not in AGENT_ACCESS: ${grant("", "secrets", "get")}`,
    `in AGENT_ACCESS but not granted: ${grant(first.apiGroups[0] ?? "", first.resources[0] ?? "", "watch")}`,
  ]);
  role.rules.push({ apiGroups: ["*"], resources: ["nodes"], verbs: ["list"] });
  assert.match(grantsOf(role).problems.join(), /wildcard/);
});

test("every object is valid against the Kubernetes schema", () => {
  for (const o of objs) assert.deepEqual(schemaProblems(o), [], `${o.kind}/${o.metadata.name}`);
});

test("the schema check refuses a wrong type, a missing required field and an unknown field", () => {
  const ds = clone(findObject(objs, "DaemonSet")) as any;
  ds.spec.template.spec.containers[0].securityContext.capabilities.add = "NET_ADMIN";
  assert.match(schemaProblems(ds).join(), /capabilities\/add must be array/);
  const noSelector = clone(findObject(objs, "DaemonSet")) as any;
  delete noSelector.spec.selector;
  assert.match(schemaProblems(noSelector).join(), /selector/);
  const typo = clone(findObject(objs, "DaemonSet")) as any;
  typo.spec.template.spec.tolerration = [];
  typo.spec.template.spec.containers[0].livenessProbe.httpGet.prot = 1;
  assert.deepEqual(schemaProblems(typo).sort(), [
    'DaemonSet.spec.template.spec.containers[0].livenessProbe.httpGet: unknown field "prot"',
    'DaemonSet.spec.template.spec: unknown field "tolerration"',
  ]);
  const role = clone(findObject(objs, "ClusterRole")) as any;
  role.rules[0].verb = ["get"];
  assert.match(schemaProblems(role).join(), /rules\[0\]: unknown field "verb"/);
});

test("the DaemonSet runs on every node, on the host network, with NET_ADMIN only", () => {
  const ds = findObject(objs, "DaemonSet") as any;
  const pod = ds.spec.template.spec;
  assert.equal(pod.priorityClassName, "system-node-critical");
  // One toleration with operator Exists and no key/effect tolerates every taint.
  assert.deepEqual(pod.tolerations, [{ operator: "Exists" }]);
  assert.equal(ds.spec.updateStrategy.type, "RollingUpdate");
  const c = agentContainer(objs);
  assert.equal(c.hostNetwork, true);
  assert.equal(c.privileged, false);
  assert.deepEqual(c.capDrop, ["ALL"]);
  assert.deepEqual(c.capAdd, ["NET_ADMIN"]);
  assert.equal(c.readOnlyRootFilesystem, true);
  assert.equal(c.noNewPrivileges, true);
  assert.equal(c.seccomp, "RuntimeDefault");
  assert.deepEqual(c.env.find((e) => e.name === "NODE_NAME"), { name: "NODE_NAME", value: undefined, fieldPath: "spec.nodeName" });
});

test("the DaemonSet runs on Linux nodes only, and never two agents on one node during a rollout", () => {
  const ds = findObject(objs, "DaemonSet") as any;
  // Tolerating every taint also lets it onto Windows nodes, where the Linux image cannot run.
  assert.deepEqual(ds.spec.template.spec.nodeSelector, { "kubernetes.io/os": "linux" });
  // A surge pod would start beside the old one on the host network and find 127.0.0.1:9717 taken.
  assert.equal(ds.spec.updateStrategy.rollingUpdate.maxSurge ?? 0, 0);
  assert.equal(ds.spec.updateStrategy.rollingUpdate.maxUnavailable, 1);
});

test("the DaemonSet mounts the CNI dirs, the IPAM store, /run/tether and the xtables lock from the host", () => {
  const c = agentContainer(objs);
  const host = Object.fromEntries(c.mounts.filter((m) => m.hostPath !== undefined).map((m) => [m.hostPath, m.mountPath]));
  assert.deepEqual(host, {
    "/opt/cni/bin": "/opt/cni/bin",
    "/etc/cni/net.d": "/etc/cni/net.d",
    "/var/lib/cni": "/var/lib/cni",
    "/run/tether": "/run/tether",
    "/run/xtables.lock": "/run/xtables.lock",
  });
  assert.equal(c.mounts.find((m) => m.hostPath === "/run/xtables.lock")?.hostPathType, "FileOrCreate");
  // The root filesystem is read-only: the natives are unpacked into an emptyDir.
  assert.ok(c.mounts.some((m) => m.emptyDir && m.mountPath === "/var/cache"));
  // The agent writes everywhere but the IPAM store (the plugin's, on the host).
  for (const m of c.mounts) assert.equal(m.readOnly, m.hostPath === "/var/lib/cni", m.name);
});

test("probes ask the agent's health endpoints on the node's loopback; resources have requests and limits", () => {
  const c = agentContainer(objs);
  assert.deepEqual(c.probes.liveness, { host: "127.0.0.1", port: 9717, path: "/healthz" });
  assert.deepEqual(c.probes.readiness, { host: "127.0.0.1", port: 9717, path: "/readyz" });
  assert.ok(c.args.includes(`--metrics-bind-address=127.0.0.1:${c.probes.liveness.port}`));
  for (const r of ["cpu", "memory"]) {
    assert.ok(c.resources.requests[r] !== undefined, `requests.${r}`);
    assert.ok(c.resources.limits[r] !== undefined, `limits.${r}`);
  }
});

test("the image is the one scripts/image.sh tags by default (localhost/tether:<package version>)", () => {
  const pkg = JSON.parse(readFileSync(join(REPO_ROOT, "package.json"), "utf8")) as { version: string };
  assert.equal(agentContainer(objs).image, `localhost/tether:${pkg.version}`);
  const script = readFileSync(join(REPO_ROOT, "scripts", "image.sh"), "utf8");
  assert.match(script, /tag="localhost\/tether:\$version"/);
  assert.match(script, /ENTRYPOINT \["\/usr\/local\/bin\/tether", "agent"\]/);
});

test("the container spec becomes a podman command line (what the deploy e2e test runs)", () => {
  assert.equal(podmanMemory("256Mi"), "256m");
  assert.equal(podmanMemory("1Gi"), "1024m");
  assert.equal(memoryBytes("80Mi"), 80 * 2 ** 20);
  assert.equal(podmanCpus("500m"), "0.5");
  assert.equal(podmanCpus("1"), "1");
  assert.throws(() => podmanMemory("1G"), /quantity/);
  const c = agentContainer(objs);
  const args = podmanRunArgs(c, {
    name: "x",
    netnsPath: "/run/netns/n",
    hostRoot: "/h",
    emptyDirRoot: "/e",
    serviceAccountDir: "/sa",
    nodeName: "node-1",
    extraEnv: { KUBERNETES_SERVICE_HOST: "10.0.0.1" },
    ulimits: ["nofile=10:10"],
  });
  const pairs = (flag: string): string[] => args.flatMap((a, i) => (a === flag ? [args[i + 1] ?? ""] : []));
  assert.deepEqual(pairs("--network"), ["ns:/run/netns/n"]);
  assert.deepEqual(pairs("--cap-drop"), ["ALL"]);
  assert.deepEqual(pairs("--cap-add"), ["NET_ADMIN"]);
  assert.ok(!args.includes("--privileged"));
  assert.ok(args.includes("--read-only"));
  assert.ok(pairs("--env").includes("NODE_NAME=node-1"));
  assert.ok(pairs("--volume").includes("/h/var/lib/cni:/var/lib/cni:ro"));
  assert.ok(pairs("--volume").includes("/h/opt/cni/bin:/opt/cni/bin"));
  assert.ok(pairs("--volume").includes("/sa:/var/run/secrets/kubernetes.io/serviceaccount:ro"));
  assert.deepEqual(args.slice(args.indexOf(c.image)), [c.image, ...c.args]);
  assert.throws(() => podmanRunArgs({ ...c, hostNetwork: false }, { name: "x", netnsPath: "", hostRoot: "", emptyDirRoot: "", serviceAccountDir: "", nodeName: "", extraEnv: {}, ulimits: [] }), /hostNetwork/);
});
