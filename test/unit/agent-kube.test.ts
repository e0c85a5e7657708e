/**
 * src/agent/kube.ts against the fake API server (not conformance): the agent's Node cache keeps only
 * what the agent reads (slimNode), so 1,000 real Nodes (images, conditions, managedFields) do not
 * fill its memory.
 */
import assert from "node:assert/strict";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { test } from "node:test";
import { nodeInformer } from "../../src/agent/kube";
import type { AgentOptions } from "../../src/agent/options";
import { startFakeApiServer } from "../helpers/fakeApiServer";

test("the agent's Node informer caches slim Nodes (pod CIDRs and addresses, not images or managedFields)", async () => {
  const api = await startFakeApiServer({ bookmarkIntervalMs: 0 });
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), "tether-agent-kube-"));
  const kubeconfig = path.join(dir, "kubeconfig");
  fs.writeFileSync(
    kubeconfig,
    [
      "apiVersion: v1",
      "kind: Config",
      "current-context: c",
      "clusters:",
      "- name: k",
      "  cluster:",
      `    server: ${api.url}`,
      `    certificate-authority-data: ${Buffer.from(api.caPem).toString("base64")}`,
      "users:",
      "- name: u",
      "  user:",
      `    token: ${api.token}`,
      "contexts:",
      "- name: c",
      "  context: { cluster: k, user: u }",
      "",
    ].join("\n"),
  );
  api.upsert("nodes", {
    apiVersion: "v1",
    kind: "Node",
    metadata: { name: "fat", labels: { a: "b" }, managedFields: [{ manager: "kubelet", fieldsV1: { "f:status": {} } }] },
    spec: { podCIDR: "10.244.1.0/24", podCIDRs: ["10.244.1.0/24"], providerID: "x" },
    status: {
      addresses: [{ type: "InternalIP", address: "192.168.1.1" }],
      images: [{ names: ["registry.example/big:1"], sizeBytes: 123 }],
      conditions: [{ type: "Ready", status: "True" }],
    },
  });
  const opts: AgentOptions = { nodeName: "fat", cniBinDir: "/x", cniConfDir: "/x", metricsBindAddress: "127.0.0.1:0", resyncMs: 1000, stateDir: "/x", kubeconfig };
  const inf = nodeInformer(opts, {});
  try {
    inf.start();
    while (!inf.synced) await new Promise((r) => setTimeout(r, 10));
    const [n] = inf.items() as unknown as Record<string, Record<string, unknown>>[];
    assert.deepEqual(n?.["spec"], { podCIDR: "10.244.1.0/24", podCIDRs: ["10.244.1.0/24"] });
    assert.deepEqual(n?.["status"], { addresses: [{ type: "InternalIP", address: "192.168.1.1" }] });
    assert.equal(n?.["metadata"]?.["managedFields"], undefined);
  } finally {
    await inf.stop();
    await api.stop();
    fs.rmSync(dir, { recursive: true, force: true });
  }
});
