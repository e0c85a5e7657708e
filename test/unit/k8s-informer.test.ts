/**
 * src/k8s/informer.ts against the fake API server: the cache converges on the fake's objects after
 * changes, watch timeouts, compaction (410 => relist), injected errors (backoff) and a restart of the
 * fake on the same port. Results against a fake, not conformance.
 */
import assert from "node:assert/strict";
import { after, before, describe, test } from "node:test";
import { KubeClient } from "../../src/k8s/client";
import { K8sAccessError } from "../../src/k8s/errors";
import { Informer, type InformerOptions } from "../../src/k8s/informer";
import { objectKey, slimNode, type Node, type Pod } from "../../src/k8s/types";
import { Log } from "../../src/util/log";
import { makeFakeTls, startFakeApiServer, type FakeApi, type FakeApiOptions, type FakeTls, type ResourceKind } from "../helpers/fakeApiServer";

let tls: FakeTls;
before(() => {
  tls = makeFakeTls();
});

const FAST: Pick<InformerOptions, "backoffInitialMs" | "backoffMaxMs"> = { backoffInitialMs: 10, backoffMaxMs: 80 };

/** Polls until `cond` holds; fails naming `what` after 10 s (a convergence wait, not a timing assertion). */
async function until(what: string, cond: () => boolean): Promise<void> {
  const deadline = Date.now() + 10_000;
  while (!cond()) {
    if (Date.now() > deadline) assert.fail(`not converged: ${what}`);
    await new Promise((r) => setTimeout(r, 10));
  }
}

function view(objs: { metadata: { name: string; namespace?: string; resourceVersion?: string } }[]): string[] {
  return objs.map((o) => `${objectKey(o)}@${o.metadata.resourceVersion}`).sort();
}

const same = (inf: Informer<Node> | Informer<Pod>, api: FakeApi, kind: ResourceKind) => (): boolean =>
  JSON.stringify(view(inf.items())) === JSON.stringify(view(api.objects(kind) as Node[]));

interface Ctx {
  api: FakeApi;
  client: KubeClient;
  informers: Informer<Node>[];
}

async function setup(apiOpts: FakeApiOptions = {}): Promise<Ctx> {
  const api = await startFakeApiServer({ tls, bookmarkIntervalMs: 0, ...apiOpts });
  const client = new KubeClient({ server: api.url, ca: Buffer.from(api.caPem), token: api.token });
  return { api, client, informers: [] };
}

async function teardown(c: Ctx): Promise<void> {
  for (const i of c.informers) await i.stop();
  c.client.close();
  await c.api.stop();
}

const node = (name: string, cidr: string): Node => ({ metadata: { name }, spec: { podCIDR: cidr, podCIDRs: [cidr] } });

describe("Informer", () => {
  let c: Ctx;
  before(async () => {
    c = await setup();
  });
  after(() => teardown(c));

  test("paged first list, then every change through the watch; onChange coalesced; stop closes the watch", async () => {
    const { api, client } = c;
    for (let i = 0; i < 25; i++) api.upsert("nodes", node(`n${String(i).padStart(2, "0")}`, `10.1.${i}.0/24`));
    const inf = new Informer<Node>(client, "nodes", { ...FAST, pageSize: 10 });
    let changes = 0;
    inf.onChange(() => changes++);
    assert.equal(inf.synced, false);
    inf.start();
    await inf.whenSynced();
    assert.equal(inf.synced, true);
    assert.equal(inf.items().length, 25);
    assert.equal(inf.get("n07")?.spec?.podCIDR, "10.1.7.0/24");
    const lists = api.requests.filter((r) => r.query["watch"] === undefined);
    assert.deepEqual(lists.map((r) => r.query["limit"]), ["10", "10", "10"]);
    await until("watch open", () => api.watchCount("nodes") === 1);
    await until("first onChange", () => changes === 1);

    api.upsert("nodes", node("n03", "10.9.3.0/24"));
    api.remove("nodes", "n04");
    api.upsert("nodes", node("new", "10.1.99.0/24"));
    await until("cache equals the fake after changes", same(inf, api, "nodes"));
    assert.equal(inf.get("n03")?.spec?.podCIDR, "10.9.3.0/24");
    assert.equal(inf.get("n04"), undefined);
    assert.equal(inf.resourceVersion, api.resourceVersion());
    await until("onChange after changes", () => changes >= 2);
    assert.ok(changes <= 4, `coalesced: ${changes} calls for 1 list + 3 events`);
    assert.deepEqual(inf.metrics, { watchRestarts: 0, apiErrors: 0, relists: 0 });

    await inf.stop();
    await until("watch closed at the fake", () => api.watchCount("nodes") === 0);
    const n = changes;
    api.upsert("nodes", node("after-stop", "10.1.100.0/24"));
    await new Promise((r) => setTimeout(r, 50));
    assert.equal(inf.get("after-stop"), undefined);
    assert.equal(changes, n);
  });
});

describe("Informer recovery", () => {
  test("a kind outside AGENT_ACCESS is refused at construction", () => {
    const client = new KubeClient({ server: "https://127.0.0.1:1" });
    assert.throws(() => new Informer(client, "secrets" as ResourceKind), K8sAccessError);
    client.close();
  });

  test("a watch ended at timeoutSeconds is re-opened from the last resourceVersion, without a relist", async () => {
    const c = await setup({ bookmarkIntervalMs: 100 });
    try {
      c.api.upsert("nodes", node("a", "10.2.0.0/24"));
      const inf = new Informer<Node>(c.client, "nodes", { ...FAST, watchTimeoutSeconds: 1 });
      c.informers.push(inf);
      inf.start();
      await until("synced", () => inf.synced);
      c.api.upsert("pods", { metadata: { name: "p" } }); // moves the resourceVersion: only a bookmark tells the node watch
      await until("bookmark moved the resourceVersion", () => inf.resourceVersion === c.api.resourceVersion());
      await until("re-watched", () => inf.metrics.watchRestarts >= 1 && c.api.watchCount("nodes") === 1);
      const watches = c.api.requests.filter((r) => r.query["watch"] === "true");
      assert.deepEqual(watches.map((r) => r.query["resourceVersion"]).slice(0, 2), ["1", "2"]);
      assert.equal(c.api.requests.filter((r) => r.query["watch"] === undefined).length, 1, "one list only");
      c.api.upsert("nodes", node("b", "10.2.1.0/24"));
      await until("event after re-watch", same(inf, c.api, "nodes"));
      assert.equal(inf.metrics.relists, 0);
      assert.equal(inf.metrics.apiErrors, 0);
    } finally {
      await teardown(c);
    }
  });

  for (const goneAs of ["event", "status"] as const) {
    test(`410 after compaction (${goneAs}) => relist; objects deleted meanwhile disappear`, async () => {
      const c = await setup({ goneAs });
      try {
        for (const n of ["a", "b", "c"]) c.api.upsert("nodes", node(n, "10.3.0.0/24"));
        const inf = new Informer<Node>(c.client, "nodes", FAST);
        c.informers.push(inf);
        inf.start();
        await until("synced", () => inf.synced && c.api.watchCount("nodes") === 1);
        // The watch breaks and cannot be re-opened while the cluster changes and compacts.
        c.api.failNext(1_000_000);
        c.api.breakWatches();
        await until("errors seen", () => inf.metrics.apiErrors >= 1);
        c.api.remove("nodes", "b");
        c.api.upsert("nodes", node("d", "10.3.4.0/24"));
        c.api.compact();
        c.api.failNext(0);
        await until("converged after relist", same(inf, c.api, "nodes"));
        assert.equal(inf.metrics.relists, 1);
        assert.deepEqual(inf.items().map((n) => n.metadata.name).sort(), ["a", "c", "d"]);
        await until("watching from the relist's resourceVersion", () => c.api.watchCount("nodes") === 1);
        const watches = c.api.requests.filter((r) => r.query["watch"] === "true").map((r) => r.query["resourceVersion"]);
        assert.equal(watches.at(-1), "5");
        assert.ok(watches.includes("3"), "a watch from the stale resourceVersion met the 410");
      } finally {
        await teardown(c);
      }
    });
  }

  test("an ERROR event other than 410 re-watches from the same resourceVersion (no relist); 410 as ERROR relists", async () => {
    const c = await setup();
    try {
      c.api.upsert("nodes", node("a", "10.7.0.0/24"));
      const inf = new Informer<Node>(c.client, "nodes", FAST);
      c.informers.push(inf);
      inf.start();
      await until("watching", () => inf.synced && c.api.watchCount("nodes") === 1);
      c.api.watchError(500);
      await until("watching again", () => inf.metrics.apiErrors === 1 && c.api.watchCount("nodes") === 1);
      assert.equal(inf.metrics.relists, 0);
      const watches = c.api.requests.filter((r) => r.query["watch"] === "true").map((r) => r.query["resourceVersion"]);
      assert.deepEqual(watches, ["1", "1"]);
      c.api.watchError(410);
      await until("relisted and watching", () => inf.metrics.relists === 1 && c.api.watchCount("nodes") === 1);
      assert.equal(inf.metrics.apiErrors, 1, "410 is not counted as an error");
      assert.equal(c.api.requests.filter((r) => r.query["watch"] === undefined).length, 2);
    } finally {
      await teardown(c);
    }
  });

  test("errors back off (exponentially, with jitter) and recover; a list failing first still syncs", async () => {
    const c = await setup();
    try {
      c.api.upsert("nodes", node("a", "10.4.0.0/24"));
      c.api.failNext(4, 503);
      const inf = new Informer<Node>(c.client, "nodes", { backoffInitialMs: 20, backoffMaxMs: 40, log: new Log({ level: "silent" }) });
      c.informers.push(inf);
      inf.start();
      await until("synced after failures", () => inf.synced);
      assert.equal(inf.metrics.apiErrors, 4);
      const t = c.api.requests.slice(0, 5);
      assert.ok(t.every((r) => r.query["watch"] === undefined), "the list is retried");
      assert.equal(inf.items().length, 1);
    } finally {
      await teardown(c);
    }
  });

  test("transform (slimNode) keeps only what tether reads, from the list and from the watch", async () => {
    const c = await setup();
    try {
      const fat = (name: string, cidr: string): unknown => ({
        metadata: { name, labels: { a: "b" }, annotations: { big: "x".repeat(1000) }, managedFields: [{ manager: "kubelet" }] },
        spec: { podCIDR: cidr, podCIDRs: [cidr], providerID: "kind://x" },
        status: { addresses: [{ type: "InternalIP", address: "192.168.0.1" }], images: [{ names: ["img"], sizeBytes: 1 }], conditions: [] },
      });
      c.api.upsert("nodes", fat("listed", "10.8.0.0/24"));
      const inf = new Informer<Node>(c.client, "nodes", { ...FAST, transform: slimNode });
      c.informers.push(inf);
      inf.start();
      await until("watching", () => inf.synced && c.api.watchCount("nodes") === 1);
      c.api.upsert("nodes", fat("watched", "10.8.1.0/24"));
      await until("watched node", () => inf.get("watched") !== undefined);
      for (const name of ["listed", "watched"]) {
        const n = inf.get(name)!;
        assert.deepEqual(Object.keys(n.metadata).sort(), ["labels", "name", "resourceVersion", "uid"]);
        assert.deepEqual(n.spec, { podCIDR: n.spec?.podCIDR, podCIDRs: [n.spec?.podCIDR] });
        assert.deepEqual(n.status, { addresses: [{ type: "InternalIP", address: "192.168.0.1" }] });
      }
      assert.equal(inf.get("watched")?.spec?.podCIDR, "10.8.1.0/24");
    } finally {
      await teardown(c);
    }
  });

  test("a hung watch (server silent past timeoutSeconds) is given up and re-opened", async () => {
    const c = await setup({ ignoreTimeoutSeconds: true });
    const client = new KubeClient({ server: c.api.url, ca: Buffer.from(c.api.caPem), token: c.api.token }, { watchGraceMs: 100 });
    try {
      const inf = new Informer<Node>(client, "nodes", { ...FAST, watchTimeoutSeconds: 1 });
      c.informers.push(inf);
      inf.start();
      await until("second watch after the watchdog", () => c.api.requests.filter((r) => r.query["watch"] === "true").length >= 2);
      assert.ok(inf.metrics.apiErrors >= 1);
      c.api.upsert("nodes", node("late", "10.9.0.0/24"));
      await until("event on the new watch", () => inf.get("late") !== undefined);
    } finally {
      await teardown(c);
      client.close();
    }
  });

  test("a resync timer calls onChange with no change", async () => {
    const c = await setup();
    try {
      const inf = new Informer<Node>(c.client, "nodes", { ...FAST, resyncMs: 20 });
      c.informers.push(inf);
      let n = 0;
      inf.onChange(() => n++);
      inf.start();
      await until("three resync ticks", () => n >= 4);
      assert.equal(c.api.requests.filter((r) => r.query["watch"] === undefined).length, 1, "resync is not a relist");
    } finally {
      await teardown(c);
    }
  });

  test("a fieldSelector informer (pods of one node) drops a pod that moves away", async () => {
    const c = await setup();
    try {
      const pod = (name: string, nodeName: string): Pod => ({ metadata: { name, namespace: "default" }, spec: { nodeName } });
      c.api.upsert("pods", pod("p1", "n1"));
      c.api.upsert("pods", pod("p2", "n2"));
      const inf = new Informer<Pod>(c.client, "pods", { ...FAST, fieldSelector: "spec.nodeName=n1" });
      inf.start();
      try {
        await until("synced", () => inf.synced && c.api.watchCount("pods") === 1);
        assert.deepEqual(inf.items().map(objectKey), ["default/p1"]);
        c.api.upsert("pods", pod("p2", "n1"));
        c.api.upsert("pods", pod("p1", "n2"));
        await until("p2 in, p1 out", () => inf.items().map(objectKey).join() === "default/p2");
      } finally {
        await inf.stop();
      }
    } finally {
      await teardown(c);
    }
  });

  test("the fake restarted on the same port (same CA, state kept, changed while down): the informer converges", async () => {
    const c = await setup({ bookmarkIntervalMs: 50 });
    try {
      for (const n of ["a", "b"]) c.api.upsert("nodes", node(n, "10.5.0.0/24"));
      const inf = new Informer<Node>(c.client, "nodes", FAST);
      c.informers.push(inf);
      inf.start();
      await until("synced", () => inf.synced && c.api.watchCount("nodes") === 1);
      const port = Number(new URL(c.api.url).port);
      const state = c.api.state();
      await c.api.stop();
      await until("error seen while down", () => inf.metrics.apiErrors >= 1);
      // changed while down (as etcd would, behind a restarting API server)
      state.objects.nodes = state.objects.nodes.filter((o) => o.metadata.name !== "a");
      state.objects.nodes.push({ metadata: { name: "z", resourceVersion: String(state.resourceVersion + 1) }, spec: { podCIDR: "10.5.9.0/24" } });
      state.resourceVersion += 1;
      c.api = await startFakeApiServer({ tls, port, state, token: c.api.token, bookmarkIntervalMs: 50 });
      await until("converged after restart", same(inf, c.api, "nodes"));
      assert.deepEqual(inf.items().map((n) => n.metadata.name).sort(), ["b", "z"]);
      assert.equal(inf.metrics.relists, 1);
      c.api.upsert("nodes", node("y", "10.5.8.0/24"));
      await until("watching again", same(inf, c.api, "nodes"));
    } finally {
      await teardown(c);
    }
  });
});

describe("Informer stop", () => {
  test("stop() ends a list the server never answers (SIGTERM must not wait for the request timeout)", async () => {
    const net = await import("node:net");
    const sockets: import("node:net").Socket[] = [];
    let connected!: () => void;
    const arrived = new Promise<void>((r) => (connected = r));
    // Accepts the connection and never says a word (a black-holed or hung API server).
    const server = net.createServer((s) => {
      sockets.push(s);
      connected();
    });
    await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
    const port = (server.address() as import("node:net").AddressInfo).port;
    const client = new KubeClient({ server: `https://127.0.0.1:${port}`, ca: Buffer.from(tls.caPem), token: "t" }, { requestTimeoutMs: 3_600_000 });
    const inf = new Informer<Node>(client, "nodes", FAST);
    try {
      inf.start();
      await arrived;
      // A hang guard, not a timing assertion: without it a failing stop() would hang the file.
      let guardFired = false;
      const guard = setTimeout(() => {
        guardFired = true;
        for (const s of sockets) s.destroy();
      }, 10_000);
      await inf.stop();
      clearTimeout(guard);
      assert.equal(guardFired, false, "stop() returned only once the server dropped the connection");
      assert.equal(inf.synced, false);
    } finally {
      client.close();
      for (const s of sockets) s.destroy();
      server.close();
    }
  });
});
