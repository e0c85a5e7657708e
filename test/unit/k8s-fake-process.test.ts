/**
 * The fake API server's process form (test/helpers/fakeApiServerMain.ts), driven over its admin
 * socket as the simulated-cluster tests drive it: state dir files, a kubeconfig the client loads,
 * token rotation, and a restart (also after kill -9) on the same port keeping CA, token, objects
 * and resourceVersions.
 */
import assert from "node:assert/strict";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { after, before, test } from "node:test";
import { KubeClient } from "../../src/k8s/client";
import { loadClusterConfig } from "../../src/k8s/config";
import { K8sApiError } from "../../src/k8s/errors";
import { Informer } from "../../src/k8s/informer";
import type { Node } from "../../src/k8s/types";
import { spawnFakeApiServer, type FakeApiProcess } from "../helpers/fakeApiServerAdmin";

let dir: string;
const procs: FakeApiProcess[] = [];
before(() => {
  dir = fs.mkdtempSync(path.join(os.tmpdir(), "tether-k8s-fakeproc-"));
});
after(async () => {
  for (const p of procs) await p.kill();
  fs.rmSync(dir, { recursive: true, force: true });
});

async function spawn(listen: string): Promise<FakeApiProcess> {
  const p = await spawnFakeApiServer({ listen, stateDir: dir, bookmarkMs: 50 });
  procs.push(p);
  return p;
}

async function until(what: string, cond: () => boolean | Promise<boolean>): Promise<void> {
  const deadline = Date.now() + 10_000;
  while (!(await cond())) {
    if (Date.now() > deadline) assert.fail(`not converged: ${what}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

test("process form: admin operations, kubeconfig, token rotation, restart keeps everything", async () => {
  let p = await spawn("127.0.0.1:0");
  for (const f of ["ca.crt", "token", "url", "kubeconfig", "tls.json", "state.json", "admin.sock"]) assert.ok(fs.existsSync(path.join(dir, f)), f);
  assert.equal(fs.readFileSync(path.join(dir, "url"), "utf8"), p.url);
  assert.equal((fs.statSync(path.join(dir, "token")).mode & 0o077), 0, "token not readable by others");

  await p.admin.upsertMany("nodes", [{ metadata: { name: "a" }, spec: { podCIDR: "10.6.0.0/24" } }, { metadata: { name: "b" } }]);
  await p.admin.upsert("pods", { metadata: { name: "p", namespace: "kube-system" }, spec: { nodeName: "a" } });
  const client = new KubeClient(loadClusterConfig({ kubeconfig: p.admin.kubeconfig }));
  const inf = new Informer<Node>(client, "nodes", { backoffInitialMs: 10, backoffMaxMs: 100 });
  inf.start();
  try {
    await until("synced", () => inf.synced);
    assert.deepEqual(inf.items().map((n) => `${n.metadata.name}@${n.metadata.resourceVersion}`).sort(), ["a@1", "b@2"]);
    assert.equal((await p.admin.info("nodes")).watches, 1);

    // rotation: the fake writes the new token into the file the kubeconfig names
    await p.admin.setToken("second-token");
    assert.equal(fs.readFileSync(path.join(dir, "token"), "utf8"), "second-token");
    await p.admin.remove("nodes", "b");
    await until("b deleted", () => inf.get("b") === undefined);
    const list = await client.list<Node>("nodes");
    assert.deepEqual(list.items.map((n) => n.metadata.name), ["a"]);
    const reqs = await p.admin.requests();
    assert.equal(reqs.at(-1)?.authorized, true);

    // SIGTERM, restart on the same port: same CA, token, objects, resourceVersion counter
    const port = new URL(p.url).port;
    await p.stop();
    await until("error seen while down", () => inf.metrics.apiErrors >= 1);
    p = await spawn(`127.0.0.1:${port}`);
    assert.equal((await p.admin.info()).resourceVersion, "4");
    await p.admin.upsert("nodes", { metadata: { name: "c" } });
    await until("c after restart", () => inf.get("c") !== undefined && inf.get("a") !== undefined && inf.items().length === 2);
    assert.equal(inf.get("c")?.metadata.resourceVersion, "5");

    // kill -9: the state written before each admin answer survives
    await p.admin.upsert("nodes", { metadata: { name: "d" } });
    await p.kill();
    p = await spawn(`127.0.0.1:${port}`);
    assert.deepEqual(((await p.admin.objects("nodes")) as Node[]).map((n) => n.metadata.name).sort(), ["a", "c", "d"]);
    await until("d after kill -9", () => inf.get("d") !== undefined);

    // 410 from the admin's compaction while the watch is broken
    await p.admin.failNext(1_000_000);
    await p.admin.breakWatches();
    await p.admin.remove("nodes", "a");
    await p.admin.compact();
    await p.admin.failNext(0);
    await until("relisted without a", () => inf.get("a") === undefined && inf.metrics.relists >= 1);
    await assert.rejects(p.admin.upsert("secrets" as "nodes", {}), /kind: one of/);
  } finally {
    await inf.stop();
    client.close();
  }
  await p.admin.stop();
  await until("exited", () => p.child.exitCode !== null);
  assert.equal(fs.existsSync(path.join(dir, "admin.sock")), false);
  const stale = new KubeClient(loadClusterConfig({ kubeconfig: path.join(dir, "kubeconfig") }));
  await assert.rejects(stale.list("nodes"), (e: unknown) => e instanceof K8sApiError && e.status === 0);
  stale.close();
});
