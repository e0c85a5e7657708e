/** The agent's NetworkPolicy loop with fake informers and a fake applier. */
import assert from "node:assert/strict";
import { describe, test } from "node:test";
import type { Namespace, NetworkPolicy, Pod } from "../../src/k8s/types";
import type { PolicyRuleset } from "../../src/policy/nft";
import { type ObjectSource, PolicyController } from "../../src/agent/policy";
import { ns, pod, policy } from "../helpers/policyWorld";

class FakeSource<T> implements ObjectSource<T> {
  synced = false;
  private cbs: (() => void)[] = [];
  constructor(public list: T[]) {}
  items(): T[] {
    return this.list;
  }
  onChange(cb: () => void): () => void {
    this.cbs.push(cb);
    return () => (this.cbs = this.cbs.filter((c) => c !== cb));
  }
  start(): void {}
  async stop(): Promise<void> {}
  set(list: T[], synced = true): void {
    this.list = list;
    this.synced = synced;
    for (const c of this.cbs) c();
  }
}

function world() {
  const pods = new FakeSource<Pod>([pod("x", "a", ["10.0.1.2"]), pod("x", "b", ["10.0.1.3"])]);
  const namespaces = new FakeSource<Namespace>([ns("x")]);
  const policies = new FakeSource<NetworkPolicy>([]);
  const applied: PolicyRuleset[] = [];
  let resets = 0;
  let fail = false;
  const applier = {
    async apply(r: PolicyRuleset | string) {
      if (fail) throw new Error("nft failed");
      applied.push(r as PolicyRuleset);
      return { mode: "delta" as const, bytes: 1 };
    },
    reset: () => {
      resets++;
    },
    close: () => undefined,
  };
  const c = new PolicyController("n1", { pods, namespaces, policies }, { resyncMs: 3_600_000, applier });
  return { pods, namespaces, policies, applied, c, resets: () => resets, setFail: (v: boolean) => (fail = v) };
}

describe("agent NetworkPolicy loop", () => {
  test("nothing is applied until pods, namespaces and policies are all listed; then every change applies", async (t) => {
    const w = world();
    t.after(() => w.c.stop());
    w.c.start();
    w.pods.set(w.pods.list);
    w.namespaces.set(w.namespaces.list);
    await w.c.whenIdle();
    assert.equal(w.applied.length, 0, "policies not listed yet: an empty cache is not 'no policies'");
    assert.equal(w.c.ready, false);
    w.policies.set([policy("x", "deny", { podSelector: { matchLabels: { pod: "a" } } })]);
    await w.c.whenIdle();
    assert.equal(w.applied.length, 1);
    assert.equal(w.c.ready, true);
    assert.deepEqual([...(w.applied[0]?.maps.ingress4.keys() ?? [])], ["10.0.1.2"]);
    w.pods.set([...w.pods.list, pod("x", "c", ["10.0.1.4"], { labels: { pod: "a" } })]);
    await w.c.whenIdle();
    assert.deepEqual([...(w.applied.at(-1)?.maps.ingress4.keys() ?? [])].sort(), ["10.0.1.2", "10.0.1.4"]);
    assert.equal(w.c.metrics.policyApplies, 2);
  });

  test("a failed apply is counted, resets the applier (next one is whole) and is retried", async (t) => {
    const w = world();
    t.after(() => w.c.stop());
    w.c.start();
    w.setFail(true);
    w.pods.set(w.pods.list);
    w.namespaces.set(w.namespaces.list);
    w.policies.set([]);
    await w.c.whenIdle();
    assert.equal(w.c.metrics.policyApplyErrors, 1);
    assert.equal(w.resets(), 1);
    w.setFail(false);
    for (let i = 0; i < 50 && w.applied.length === 0; i++) await new Promise((r) => setTimeout(r, 20));
    assert.equal(w.applied.length, 1, "retried after the failure");
    assert.equal(w.c.ready, true);
    // A later failure makes the loop not ready (the agent's /readyz with it) until an apply succeeds.
    w.setFail(true);
    w.policies.set([policy("x", "deny", { podSelector: {} })]);
    await w.c.whenIdle();
    assert.equal(w.c.ready, false, "not ready while its last apply failed");
    w.setFail(false);
    for (let i = 0; i < 50 && w.applied.length === 1; i++) await new Promise((r) => setTimeout(r, 20));
    assert.equal(w.c.ready, true);
  });
});
