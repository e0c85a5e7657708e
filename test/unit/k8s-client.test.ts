/**
 * src/k8s/client.ts against the fake API server (test/helpers/fakeApiServer.ts): results against a
 * fake, not conformance.
 */
import assert from "node:assert/strict";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { after, before, describe, test } from "node:test";
import { accessFor, AGENT_ACCESS, agentClusterRoleRules, type ResourceKind } from "../../src/k8s/access";
import { KubeClient, type WatchEvent } from "../../src/k8s/client";
import { loadClusterConfig } from "../../src/k8s/config";
import { K8sAccessError, K8sApiError } from "../../src/k8s/errors";
import type { Node, Pod } from "../../src/k8s/types";
import { makeFakeTls, startFakeApiServer, type FakeApi, type FakeTls } from "../helpers/fakeApiServer";

let tls: FakeTls;
let dir: string;
before(() => {
  tls = makeFakeTls(); // one CA for the file: openssl runs once
  dir = fs.mkdtempSync(path.join(os.tmpdir(), "tether-k8s-client-"));
});
after(() => fs.rmSync(dir, { recursive: true, force: true }));

async function withFake(fn: (api: FakeApi, client: KubeClient) => Promise<void>, opts: Parameters<typeof startFakeApiServer>[0] = {}): Promise<void> {
  const api = await startFakeApiServer({ tls, bookmarkIntervalMs: 0, ...opts });
  const client = new KubeClient({ server: api.url, ca: Buffer.from(api.caPem), token: api.token });
  try {
    await fn(api, client);
  } finally {
    client.close();
    await api.stop();
  }
}

const node = (name: string, cidr?: string, labels?: Record<string, string>): Node => ({
  metadata: { name, ...(labels ? { labels } : {}) },
  ...(cidr ? { spec: { podCIDR: cidr, podCIDRs: [cidr] } } : {}),
});

function rejectsApi(p: Promise<unknown>, status: number, reason?: string): Promise<void> {
  return assert.rejects(p, (e: unknown) => {
    assert.ok(e instanceof K8sApiError, `not a K8sApiError: ${String(e)}`);
    assert.equal(e.status, status, e.message);
    if (reason !== undefined) assert.equal(e.reason, reason);
    return true;
  });
}

describe("authentication and TLS", () => {
  test("a wrong token gets 401 Unauthorized; the right one lists", () =>
    withFake(async (api) => {
      api.upsert("nodes", node("a"));
      const bad = new KubeClient({ server: api.url, ca: Buffer.from(api.caPem), token: "wrong" });
      await rejectsApi(bad.list("nodes"), 401, "Unauthorized");
      const none = new KubeClient({ server: api.url, ca: Buffer.from(api.caPem) });
      await rejectsApi(none.list("nodes"), 401);
      bad.close();
      none.close();
      assert.deepEqual(api.requests.map((r) => r.authorized), [false, false]);
    }));

  test("a server certificate from another CA is refused; insecureSkipTLSVerify accepts it", () =>
    withFake(async (api) => {
      const other = makeFakeTls();
      const c = new KubeClient({ server: api.url, ca: Buffer.from(other.caPem), token: api.token });
      await rejectsApi(c.list("nodes"), 0);
      await assert.rejects(c.list("nodes"), new RegExp(`^K8sApiError: list nodes at ${api.url.replace(/[.[\]]/g, "\\$&")}: .*certificate`));
      c.close();
      assert.equal(api.requests.length, 0, "no request got through");
      const i = new KubeClient({ server: api.url, insecureSkipTLSVerify: true, token: api.token });
      assert.deepEqual((await i.list("nodes")).items, []);
      i.close();
    }));

  test("tlsServerName (kubeconfig tls-server-name): the certificate is checked against it, not the server's host", () =>
    withFake(async (api) => {
      const wrong = new KubeClient({ server: api.url, ca: Buffer.from(api.caPem), token: api.token, tlsServerName: "not-in-the-cert.example" });
      await rejectsApi(wrong.list("nodes"), 0);
      wrong.close();
      const right = new KubeClient({ server: api.url, ca: Buffer.from(api.caPem), token: api.token, tlsServerName: "localhost" });
      assert.deepEqual((await right.list("nodes")).items, []);
      right.close();
    }));

  test("an IPv6 server address (bracketed URL, IP SAN) works", () =>
    withFake(
      async (api, client) => {
        assert.match(api.url, /^https:\/\/\[::1\]:\d+$/);
        api.upsert("nodes", node("v6"));
        assert.deepEqual((await client.list<Node>("nodes")).items.map((n) => n.metadata.name), ["v6"]);
      },
      { host: "::1" },
    ));

  test("a client certificate authenticates without a token", () =>
    withFake(async (api) => {
      const c = new KubeClient({ server: api.url, ca: Buffer.from(api.caPem), cert: Buffer.from(tls.clientCertPem), key: Buffer.from(tls.clientKeyPem) });
      assert.equal((await c.list("nodes")).resourceVersion, "0");
      c.close();
      assert.equal(api.requests[0]?.authorized, true);
    }));

  test("in-cluster configuration (service host/port, token, ca.crt) reaches the server", () =>
    withFake(async (api) => {
      const sa = path.join(dir, "sa");
      fs.mkdirSync(sa, { recursive: true });
      fs.writeFileSync(path.join(sa, "token"), api.token);
      fs.writeFileSync(path.join(sa, "ca.crt"), api.caPem);
      const u = new URL(api.url);
      const cfg = loadClusterConfig({ env: { KUBERNETES_SERVICE_HOST: u.hostname, KUBERNETES_SERVICE_PORT: u.port }, serviceAccountDir: sa });
      const c = new KubeClient(cfg);
      api.upsert("nodes", node("in-cluster"));
      assert.deepEqual((await c.list<Node>("nodes")).items.map((n) => n.metadata.name), ["in-cluster"]);
      fs.writeFileSync(path.join(sa, "token"), "rotated");
      await rejectsApi(c.list("nodes"), 401);
      c.close();
    }));

  test("the token file is re-read on every request (rotation)", () =>
    withFake(async (api) => {
      const tokenFile = path.join(dir, "token");
      fs.writeFileSync(tokenFile, `${api.token}\n`);
      const c = new KubeClient({ server: api.url, ca: Buffer.from(api.caPem), tokenFile });
      await c.list("nodes");
      api.setToken("rotated-token");
      await rejectsApi(c.list("nodes"), 401);
      fs.writeFileSync(tokenFile, "rotated-token\n");
      await c.list("nodes");
      fs.rmSync(tokenFile);
      await assert.rejects(c.list("nodes"), /token file .*ENOENT/);
      c.close();
      assert.deepEqual(api.requests.map((r) => r.authorized), [true, false, true]);
    }));
});

describe("AGENT_ACCESS", () => {
  test("each kind maps to its collection path; list and watch only", () => {
    assert.deepEqual(
      AGENT_ACCESS.map((r) => [r.kind, r.apiGroup, r.path, [...r.verbs]]),
      [
        ["nodes", "", "/api/v1/nodes", ["list", "watch"]],
        ["pods", "", "/api/v1/pods", ["list", "watch"]],
        ["namespaces", "", "/api/v1/namespaces", ["list", "watch"]],
        ["networkpolicies", "networking.k8s.io", "/apis/networking.k8s.io/v1/networkpolicies", ["list", "watch"]],
      ],
    );
    assert.deepEqual(agentClusterRoleRules()[3], { apiGroups: ["networking.k8s.io"], resources: ["networkpolicies"], verbs: ["list", "watch"] });
    assert.equal(agentClusterRoleRules().length, 4);
    assert.throws(() => accessFor("nodes", "get"), K8sAccessError);
    assert.throws(() => accessFor("nodes", "patch"), /patch nodes: not in AGENT_ACCESS/);
  });

  test("the client refuses a kind not in the list before any request", () =>
    withFake(async (api, client) => {
      await assert.rejects(client.list("secrets" as ResourceKind), K8sAccessError);
      await assert.rejects(
        client.watch("configmaps" as ResourceKind, { resourceVersion: "0", allowWatchBookmarks: true }, () => {}, new AbortController().signal),
        K8sAccessError,
      );
      assert.equal(api.requests.length, 0);
    }));

  test("every kind in the list is served at its path", () =>
    withFake(async (api, client) => {
      for (const r of AGENT_ACCESS) assert.deepEqual((await client.list(r.kind)).items, []);
      assert.deepEqual(api.requests.map((r) => r.path), AGENT_ACCESS.map((r) => r.path));
    }));
});

describe("list", () => {
  test("paged with limit/continue at one resourceVersion, even when objects change between pages", () =>
    withFake(async (api, client) => {
      for (let i = 0; i < 7; i++) api.upsert("nodes", node(`n${i}`, `10.0.${i}.0/24`));
      const p1 = await client.list<Node>("nodes", { limit: 3 });
      assert.deepEqual(p1.items.map((n) => n.metadata.name), ["n0", "n1", "n2"]);
      assert.equal(p1.resourceVersion, "7");
      assert.ok(p1.continue);
      api.upsert("nodes", node("n99"));
      api.remove("nodes", "n5");
      const p2 = await client.list<Node>("nodes", { limit: 3, continue: p1.continue });
      const p3 = await client.list<Node>("nodes", { limit: 3, continue: p2.continue! });
      assert.deepEqual([...p2.items, ...p3.items].map((n) => n.metadata.name), ["n3", "n4", "n5", "n6"]);
      assert.equal(p3.continue, undefined);
      assert.equal(p3.resourceVersion, "7");
      assert.equal(p1.items[1]?.spec?.podCIDR, "10.0.1.0/24");
      assert.equal(api.requests[1]?.query["continue"], p1.continue);
      const all = await client.list<Node>("nodes");
      assert.equal(all.resourceVersion, "9");
      assert.deepEqual(all.items.map((n) => n.metadata.name).sort(), ["n0", "n1", "n2", "n3", "n4", "n6", "n99"]);
    }));

  test("a continue token from before compaction gets 410 Expired", () =>
    withFake(async (api, client) => {
      for (let i = 0; i < 3; i++) api.upsert("nodes", node(`n${i}`));
      const p1 = await client.list("nodes", { limit: 1 });
      api.compact();
      await rejectsApi(client.list("nodes", { limit: 1, continue: p1.continue! }), 410, "Expired");
    }));

  test("labelSelector and fieldSelector (spec.nodeName, metadata.name); unsupported field is 400", () =>
    withFake(async (api, client) => {
      api.upsert("nodes", node("a", undefined, { zone: "x", role: "worker" }));
      api.upsert("nodes", node("b", undefined, { zone: "y" }));
      api.upsert("nodes", node("c"));
      const names = async (q: Parameters<KubeClient["list"]>[1]): Promise<string[]> => (await client.list<Node>("nodes", q)).items.map((n) => n.metadata.name);
      assert.deepEqual(await names({ labelSelector: "zone=x" }), ["a"]);
      assert.deepEqual(await names({ labelSelector: "zone!=x" }), ["b", "c"]);
      assert.deepEqual(await names({ labelSelector: "zone in (x,y),!role" }), ["b"]);
      assert.deepEqual(await names({ labelSelector: "zone" }), ["a", "b"]);
      assert.deepEqual(await names({ fieldSelector: "metadata.name=c" }), ["c"]);
      const pod = (ns: string, name: string, nodeName: string): Pod => ({ metadata: { name, namespace: ns }, spec: { nodeName } });
      api.upsert("pods", pod("default", "p1", "a"));
      api.upsert("pods", pod("kube-system", "p2", "b"));
      api.upsert("pods", pod("default", "p3", "b"));
      const pods = await client.list<Pod>("pods", { fieldSelector: "spec.nodeName=b" });
      assert.deepEqual(pods.items.map((p) => `${p.metadata.namespace}/${p.metadata.name}`), ["default/p3", "kube-system/p2"]);
      await rejectsApi(client.list("nodes", { fieldSelector: "spec.nodeName=a" }), 400, "BadRequest");
      await rejectsApi(client.list("nodes", { labelSelector: "a b c" }), 400);
    }));

  test("an injected 500 is a K8sApiError with the Status message", () =>
    withFake(async (api, client) => {
      api.failNext(1, 500);
      await assert.rejects(client.list("nodes"), (e: unknown) => e instanceof K8sApiError && e.status === 500 && /injected failure/.test(e.message));
      assert.deepEqual((await client.list("nodes")).items, []);
      api.failNext(1, 429);
      await assert.rejects(client.list("nodes"), (e: unknown) => e instanceof K8sApiError && e.status === 429 && e.reason === "TooManyRequests" && e.retryAfterSeconds === 1);
    }));
});

describe("watch", () => {
  type Ev = WatchEvent<Node>;
  const summary = (evs: Ev[]): string[] => evs.map((e) => `${e.type} ${e.object.metadata.name ?? ""}@${e.object.metadata.resourceVersion}`);

  test("from a resourceVersion: ADDED/MODIFIED/DELETED after it, BOOKMARK, ends at timeoutSeconds", () =>
    withFake(async (api, client) => {
      api.upsert("nodes", node("old"));
      const rv = api.resourceVersion();
      const evs: Ev[] = [];
      const done = client.watch<Node>("nodes", { resourceVersion: rv, allowWatchBookmarks: true, timeoutSeconds: 1 }, (e) => {
        evs.push(e);
        if (evs.length === 1) {
          api.upsert("nodes", node("a", "10.0.1.0/24"));
          api.remove("nodes", "old");
          api.upsert("pods", { metadata: { name: "p", namespace: "default" } }); // other kind: not delivered
          api.sendBookmarks();
        }
      }, new AbortController().signal);
      api.upsert("nodes", node("a"));
      await done; // resolves when the fake ends the stream at timeoutSeconds
      assert.deepEqual(summary(evs), ["ADDED a@2", "MODIFIED a@3", "DELETED old@4", "BOOKMARK @5"]);
      assert.equal(evs[1]?.object.spec?.podCIDR, "10.0.1.0/24");
      const q = api.requests.at(-1)?.query;
      assert.deepEqual(q, { watch: "true", resourceVersion: "1", allowWatchBookmarks: "true", timeoutSeconds: "1" });
    }));

  test("a fieldSelector watch sees an object leaving the selection as DELETED and entering as ADDED", () =>
    withFake(async (api, client) => {
      api.upsert("pods", { metadata: { name: "p", namespace: "ns1" }, spec: { nodeName: "a" } });
      const evs: WatchEvent<Pod>[] = [];
      const ac = new AbortController();
      const done = client.watch<Pod>("pods", { resourceVersion: api.resourceVersion(), allowWatchBookmarks: true, fieldSelector: "spec.nodeName=a" }, (e) => {
        evs.push(e);
        if (evs.length === 3) ac.abort();
      }, ac.signal);
      api.upsert("pods", { metadata: { name: "p", namespace: "ns1" }, spec: { nodeName: "b" } });
      api.upsert("pods", { metadata: { name: "q", namespace: "ns1" }, spec: { nodeName: "b" } });
      api.upsert("pods", { metadata: { name: "q", namespace: "ns1" }, spec: { nodeName: "a" } });
      api.upsert("pods", { metadata: { name: "q", namespace: "ns1" }, spec: { nodeName: "a", hostNetwork: true } });
      await done;
      assert.deepEqual(evs.map((e) => `${e.type} ${e.object.metadata.name}`), ["DELETED p", "ADDED q", "MODIFIED q"]);
    }));

  test("a watch from resourceVersion 0 starts with ADDED for every existing object", () =>
    withFake(async (api, client) => {
      api.upsert("nodes", node("a"));
      api.upsert("nodes", node("b"));
      const ac = new AbortController();
      const evs: Ev[] = [];
      await client.watch<Node>("nodes", { resourceVersion: "0", allowWatchBookmarks: true }, (e) => {
        evs.push(e);
        if (evs.length === 3) ac.abort();
        if (evs.length === 2) api.remove("nodes", "a");
      }, ac.signal);
      assert.deepEqual(summary(evs), ["ADDED a@1", "ADDED b@2", "DELETED a@3"]);
    }));

  test("abort ends the watch quietly and the fake sees it close", () =>
    withFake(async (api, client) => {
      const ac = new AbortController();
      const done = client.watch("nodes", { resourceVersion: "0", allowWatchBookmarks: true }, () => {}, ac.signal);
      while (api.watchCount("nodes") === 0) await new Promise((r) => setTimeout(r, 5));
      ac.abort();
      await done;
      while (api.watchCount() !== 0) await new Promise((r) => setTimeout(r, 5));
    }));

  for (const goneAs of ["event", "status"] as const) {
    test(`a resourceVersion older than the compaction: 410 (as ${goneAs === "event" ? "an ERROR event" : "HTTP status"})`, () =>
      withFake(
        async (api, client) => {
          api.upsert("nodes", node("a"));
          api.upsert("nodes", node("b"));
          api.compact();
          const evs: Ev[] = [];
          await rejectsApi(client.watch<Node>("nodes", { resourceVersion: "1", allowWatchBookmarks: true }, (e) => evs.push(e), new AbortController().signal), 410, "Expired");
          assert.deepEqual(evs.map((e) => e.type), goneAs === "event" ? ["ERROR"] : []);
          // from the current resourceVersion it works
          const ac = new AbortController();
          const ok = client.watch<Node>("nodes", { resourceVersion: "2", allowWatchBookmarks: true }, (e) => {
            evs.push(e);
            ac.abort();
          }, ac.signal);
          api.upsert("nodes", node("c"));
          await ok;
          assert.equal(evs.at(-1)?.object.metadata.name, "c");
        },
        { goneAs },
      ));
  }

  test("a watch whose connection breaks rejects (status 0), a 401 on watch rejects 401", () =>
    withFake(async (api, client) => {
      const done = client.watch("nodes", { resourceVersion: "0", allowWatchBookmarks: true }, () => {}, new AbortController().signal);
      while (api.watchCount("nodes") === 0) await new Promise((r) => setTimeout(r, 5));
      api.breakWatches(); // destroys the connection under the open watch
      await rejectsApi(done, 0);
      const api2 = await startFakeApiServer({ tls, bookmarkIntervalMs: 0 });
      const c2 = new KubeClient({ server: api2.url, ca: Buffer.from(api2.caPem), token: "nope" });
      await rejectsApi(c2.watch("nodes", { resourceVersion: "0", allowWatchBookmarks: true }, () => {}, new AbortController().signal), 401);
      c2.close();
      await api2.stop();
    }));

  test("a watch silent well past its timeoutSeconds is given up (status 0)", () =>
    withFake(
      async (api) => {
        const c = new KubeClient({ server: api.url, ca: Buffer.from(api.caPem), token: api.token }, { watchGraceMs: 200 });
        const evs: string[] = [];
        const done = c.watch<Node>("nodes", { resourceVersion: "0", allowWatchBookmarks: true, timeoutSeconds: 1 }, (e) => evs.push(e.type), new AbortController().signal);
        await assert.rejects(done, (e: unknown) => e instanceof K8sApiError && e.status === 0 && /nothing received for 1200 ms/.test(e.message));
        c.close();
        assert.deepEqual(evs, []);
      },
      { ignoreTimeoutSeconds: true },
    ));
});
