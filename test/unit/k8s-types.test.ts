/** src/k8s/types.ts: object keys and the slim transforms (keep exactly the fields tether reads). */
import assert from "node:assert/strict";
import { test } from "node:test";
import { objectKey, slimNamespace, slimNetworkPolicy, slimNode, slimPod, type NetworkPolicy, type Node, type Pod } from "../../src/k8s/types";

const meta = { name: "x", namespace: "ns", uid: "u", resourceVersion: "7", labels: { a: "b" }, deletionTimestamp: "2026-01-01T00:00:00Z", annotations: { big: "..." }, managedFields: [{}] };

test("objectKey: ns/name, or name when cluster-scoped", () => {
  assert.equal(objectKey({ metadata: { name: "n1" } }), "n1");
  assert.equal(objectKey({ metadata: { name: "p", namespace: "kube-system" } }), "kube-system/p");
});

test("slimNode keeps metadata subset, pod CIDRs and addresses only", () => {
  const raw = {
    metadata: meta,
    spec: { podCIDR: "10.0.0.0/24", podCIDRs: ["10.0.0.0/24", "fd00::/64"], providerID: "p", taints: [] },
    status: { addresses: [{ type: "InternalIP", address: "1.2.3.4", extra: 1 }], images: [{ names: ["i"] }], conditions: [] },
  } as unknown as Node;
  assert.deepEqual(slimNode(raw), {
    metadata: { name: "x", namespace: "ns", uid: "u", resourceVersion: "7", labels: { a: "b" }, deletionTimestamp: "2026-01-01T00:00:00Z" },
    spec: { podCIDR: "10.0.0.0/24", podCIDRs: ["10.0.0.0/24", "fd00::/64"] },
    status: { addresses: [{ type: "InternalIP", address: "1.2.3.4" }] },
  });
  assert.deepEqual(slimNode({ metadata: { name: "bare" } }), { metadata: { name: "bare" } });
});

test("slimPod keeps node, hostNetwork, container names and ports, phase and addresses", () => {
  const raw = {
    metadata: meta,
    spec: { nodeName: "n1", hostNetwork: false, volumes: [{}], containers: [{ name: "c", image: "i", env: [{}], ports: [{ name: "http", containerPort: 80, protocol: "TCP" }] }, { name: "d", image: "j" }] },
    status: { phase: "Running", podIP: "10.0.0.5", podIPs: [{ ip: "10.0.0.5" }, { ip: "fd00::5" }], containerStatuses: [{}], conditions: [] },
  } as unknown as Pod;
  const slim = slimPod(raw);
  assert.deepEqual(slim.spec, { nodeName: "n1", hostNetwork: false, containers: [{ name: "c", ports: [{ name: "http", containerPort: 80, protocol: "TCP" }] }, { name: "d" }] });
  assert.deepEqual(slim.status, { phase: "Running", podIP: "10.0.0.5", podIPs: [{ ip: "10.0.0.5" }, { ip: "fd00::5" }] });
  assert.equal(Object.keys(slim.metadata).includes("annotations"), false);
});

test("slimNamespace and slimNetworkPolicy drop only metadata extras", () => {
  assert.deepEqual(Object.keys(slimNamespace({ metadata: meta } as never).metadata).sort(), ["deletionTimestamp", "labels", "name", "namespace", "resourceVersion", "uid"]);
  const np = { metadata: meta, spec: { podSelector: {}, ingress: [{ from: [{ ipBlock: { cidr: "10.0.0.0/8", except: ["10.1.0.0/16"] } }], ports: [{ port: "http" }] }], policyTypes: ["Ingress"] } } as unknown as NetworkPolicy;
  assert.deepEqual(slimNetworkPolicy(np).spec, np.spec);
  assert.equal("annotations" in slimNetworkPolicy(np).metadata, false);
});
