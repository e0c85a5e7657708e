/** `tether agent` flags, health endpoints' text, and the coalescing reconcile loop. */
import assert from "node:assert/strict";
import { describe, test } from "node:test";
import { AGENT_DEFAULTS, AgentUsageError, type RawAgentFlags, agentOptions, parseDuration } from "../../src/agent/options";
import { metricsText, newMetrics, parseBindAddress } from "../../src/agent/health";
import { ReconcileLoop } from "../../src/agent/loop";

const base: RawAgentFlags = { ...AGENT_DEFAULTS };

describe("agent options", () => {
  test("defaults; node name from the flag or NODE_NAME", () => {
    const o = agentOptions({ ...base, nodeName: "node-1" }, {}, "/proc/self/exe");
    assert.deepEqual(o, {
      nodeName: "node-1",
      cniBinDir: "/opt/cni/bin",
      cniConfDir: "/etc/cni/net.d",
      metricsBindAddress: "127.0.0.1:9717",
      resyncMs: 30_000,
      stateDir: "/run/tether",
      installSource: "/proc/self/exe",
    });
    assert.equal(agentOptions(base, { NODE_NAME: "from-env" }, undefined).nodeName, "from-env");
    assert.equal(agentOptions({ ...base, nodeName: "n", install: false }, {}, "/x").installSource, undefined);
    assert.equal(agentOptions({ ...base, nodeName: "n", networkPolicy: false }, {}, "/x").networkPolicy, false, "--no-network-policy");
    assert.equal(agentOptions({ ...base, nodeName: "n", networkPolicy: true }, {}, "/x").networkPolicy, undefined, "enforcing is the default");
  });
  test("errors name the flag", () => {
    const bad: [Partial<RawAgentFlags>, RegExp][] = [
      [{}, /--node-name or set NODE_NAME/],
      [{ nodeName: "Bad_Name" }, /--node-name "Bad_Name"/],
      [{ nodeName: "n", cniBinDir: "rel/bin" }, /--cni-bin-dir "rel\/bin" is not an absolute path/],
      [{ nodeName: "n", resync: "10" }, /--resync "10" is not a duration/],
      [{ nodeName: "n", metricsBindAddress: "9717" }, /--metrics-bind-address "9717"/],
      [{ nodeName: "n", mtu: "9" }, /--mtu "9"/],
    ];
    for (const [flags, re] of bad) {
      assert.throws(() => agentOptions({ ...base, ...flags }, {}, undefined), (e: unknown) => (e instanceof AgentUsageError || e instanceof Error) && re.test((e as Error).message), String(re));
    }
  });
  test("durations and bind addresses", () => {
    assert.equal(parseDuration("--resync", "250ms"), 250);
    assert.equal(parseDuration("--resync", "5m"), 300_000);
    assert.throws(() => parseDuration("--resync", "50ms"));
    assert.deepEqual(parseBindAddress("[::1]:9717"), { host: "::1", port: 9717 });
    assert.deepEqual(parseBindAddress("0.0.0.0:0"), { host: "0.0.0.0", port: 0 });
    assert.throws(() => parseBindAddress("127.0.0.1:99999"));
  });
});

describe("agent metrics text", () => {
  test("Prometheus exposition: HELP, TYPE and a value for each metric", () => {
    const m = { ...newMetrics(), routes: 7, watchRestarts: 2, apiErrors: 1, reconciles: 3, reconcileSecondsSum: 0.25 };
    const text = metricsText(m, true);
    assert.match(text, /^# HELP tether_agent_ready /);
    assert.match(text, /\ntether_agent_routes 7\n/);
    assert.match(text, /# TYPE tether_agent_watch_restarts_total counter\ntether_agent_watch_restarts_total 2\n/);
    assert.match(text, /\ntether_agent_api_errors_total 1\n/);
    assert.match(text, /\ntether_agent_reconcile_seconds_sum 0.25\ntether_agent_reconcile_seconds_count 3\n$/);
    for (const line of text.trim().split("\n")) assert.match(line, /^(# (HELP|TYPE) tether_agent_\w+ .+|tether_agent_\w+ [0-9.e+-]+)$/, line);
  });
});

describe("reconcile loop", () => {
  test("triggers during a run collapse into one more run; a failure is retried", async () => {
    let runs = 0;
    let release: (() => void) | undefined;
    let fail = false;
    const errors: unknown[] = [];
    const fulls: boolean[] = [];
    const loop = new ReconcileLoop(
      async (full) => {
        runs++;
        fulls.push(full);
        if (runs === 1) await new Promise<void>((r) => (release = r));
        if (fail) {
          fail = false;
          throw new Error("boom");
        }
      },
      { resyncMs: 3_600_000, retryMs: 10, onError: (e) => errors.push(e) },
    );
    loop.start();
    for (let i = 0; i < 20; i++) loop.trigger();
    release?.();
    await loop.whenIdle();
    assert.equal(runs, 2, "one run, then one for all 20 triggers");
    fail = true;
    loop.trigger();
    await loop.whenIdle();
    assert.equal(errors.length, 1);
    await new Promise((r) => setTimeout(r, 100));
    await loop.whenIdle();
    assert.equal(runs, 4, "the failed run was retried");
    assert.deepEqual(fulls, [true, false, false, true], "start and retry read everything back; events do not");
    await loop.stop();
    loop.trigger();
    assert.equal(runs, 4);
  });
});
