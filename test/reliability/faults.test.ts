/**
 * Faults during ADD, on the real kernel (in namespaces the test creates):
 *
 * - Injected faults: a tether with fault injection built in (dist/tether-faults, else the compiled
 *   sources; src/util/faults.ts) fails ADD at its N-th step, for every N in turn (bridge and ptp,
 *   dual-stack, ipMasq and both spoof checks on). After each: the ADD reports an error, and nothing
 *   of the attachment is left (no veth, address, route, reservation, firewall rule); DEL succeeds,
 *   and a new ADD of the same attachment works.
 * - The production dist/tether has the switch compiled out: TETHER_FAULT_AT changes nothing.
 * - kill -9 at a random moment during ADD, each followed by DEL as a runtime would do it: after
 *   200 trials, the node is as before the first and the store is empty.
 */
import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { describe, test, type TestContext } from "node:test";
import { ruleComment } from "../../src/firewall/key";
import {
  RUNTIME_PATH,
  cniWorld,
  errorJson,
  successEmpty,
  successJson,
  tetherCommand,
  type CniOutcome,
  type CniWorld,
  type TetherCommand,
} from "../helpers/binary";
import { netnsUnavailable, type TestNetns } from "../helpers/netns";
import {
  containerLeftovers,
  faultsCommand,
  footprint,
  footprintDiff,
  productionCommand,
  report,
  reservationsIn,
  stableFootprint,
  type Footprint,
} from "../helpers/reliability";

const skip = netnsUnavailable();
const TIMEOUT = 1_800_000;
const KILL_TRIALS = Number(process.env["TETHER_KILL_TRIALS"] ?? 200);
const KILL_WORKERS = 4;
const BRIDGE = "tbrfault";

type Mode = "bridge" | "ptp";

function conf(w: CniWorld, mode: Mode, backend?: "nftables" | "iptables"): Record<string, unknown> {
  const common = { mode, ipMasq: true, macspoofchk: true, ipspoofchk: true, ...(backend ? { ipMasqBackend: backend } : {}) };
  if (mode === "bridge") return w.conf("1.1.0", { ...common, bridge: BRIDGE, isGateway: true, isDefaultGateway: true });
  return w.conf("1.1.0", common, { routes: [{ dst: "0.0.0.0/0" }, { dst: "::/0" }] });
}

const stable = stableFootprint;

/** What an attachment of `w` left in the node beyond `ref` (the state a complete ADD + DEL leaves). */
function nodeLeftovers(w: CniWorld, ref: Footprint, exact: boolean): string[] {
  const now = stable(footprint(w.node));
  if (exact) return footprintDiff(ref, now);
  // A fresh node may have less of the shared state (bridge, gateway address) than ref, never more.
  const out: string[] = [];
  for (const key of ["links", "addrs", "routes"] as const) {
    const allowed = new Set(ref[key]);
    for (const x of now[key]) if (!allowed.has(x)) out.push(`${key}: + ${x}`);
  }
  // iptables-nft leaves its (empty) nat table and base chains once used: shared too. Rule lines are compared.
  for (const key of ["nft", "iptables"] as const) {
    const allowed = new Set(ref[key].split("\n").map((l) => l.trim()));
    for (const l of now[key].split("\n")) if (!allowed.has(l.trim())) out.push(`${key}: + ${l.trim()}`);
  }
  return out;
}

function leftovers(w: CniWorld, c: TestNetns, ref: Footprint, exact: boolean): string[] {
  const key = ruleComment({ network: w.network, containerId: w.containerId(c), ifname: "eth0" });
  const out = [...nodeLeftovers(w, ref, exact), ...containerLeftovers(c).map((l) => `container: ${l}`)];
  for (const [ip, owner] of w.reservations()) out.push(`reservation ${ip} (${JSON.stringify(owner)})`);
  const rules = w.node.exec(["nft", "list", "ruleset"]) + w.node.tryExec(["iptables-save", "-t", "nat"]).stdout;
  if (rules.includes(key)) out.push(`firewall rule ${key}`);
  return out;
}

/** The fault points an ADD passes, in order (TETHER_FAULT_TRACE=1); the ADD succeeds. */
function tracePoints(w: CniWorld, c: TestNetns, cf: Record<string, unknown>, tether: TetherCommand): string[] {
  const o = w.cni("ADD", c, cf, { tether, env: { TETHER_FAULT_TRACE: "1" } });
  successJson(o);
  const points = [...o.stderr.matchAll(/^tether-fault: #(\d+) (.*)$/gm)].map((m) => m[2]!);
  assert.ok(points.length > 0, `no fault points traced (stderr: ${o.stderr})`);
  return points;
}

/** Node footprint after a complete ADD + DEL in a fresh node (the shared state ADD leaves, nothing more). */
function referenceFootprint(t: TestContext, mode: Mode, backend: "nftables" | "iptables" | undefined, tether: TetherCommand): { ref: Footprint; points: string[] } {
  const w = cniWorld(t, { label: `fref-${mode}` });
  const c = w.container();
  const cf = conf(w, mode, backend);
  const points = tracePoints(w, c, cf, tether);
  successEmpty(w.cni("DEL", c, cf, { tether }));
  return { ref: stable(footprint(w.node)), points };
}

describe("reliability: injected faults during ADD", { skip, timeout: TIMEOUT }, () => {
  const tether = faultsCommand();
  const cases: { mode: Mode; backend?: "iptables" }[] = [{ mode: "bridge" }, { mode: "ptp" }, { mode: "ptp", backend: "iptables" }];
  for (const { mode, backend } of cases) {
    test(`${mode}${backend ? ` (ipMasqBackend ${backend})` : ""}, dual-stack, ipMasq and spoof checks: a fault at each step leaves nothing (${tether.label})`, async (t) => {
      const { ref, points } = referenceFootprint(t, mode, backend, tether);
      let faults = 0;
      let leaks = 0;
      let calls = 0;
      // Each step in a fresh node (the first ADD of a node passes every step, bridge and gateway included).
      for (let n = 1; n <= points.length; n++) {
        await t.test(`fault at #${n}: ${points[n - 1]}`, (st) => {
          const w = cniWorld(st, { label: `fault-${mode}` });
          const c = w.container();
          const cf = conf(w, mode, backend);
          const o = w.cni("ADD", c, cf, { tether, env: { TETHER_FAULT_AT: String(n) } });
          calls++;
          const err = errorJson(o);
          assert.match(err.msg, new RegExp(`fault injected at point #${n} `), JSON.stringify(err));
          faults++;
          const left = leftovers(w, c, ref, false);
          leaks += left.length;
          assert.deepEqual(left, [], `left behind after a fault at #${n} (${points[n - 1]})`);
        });
      }
      // And in a warm node (bridge and gateway there already): the footprint must be exactly as before.
      const w = cniWorld(t, { label: `fwarm-${mode}` });
      const c = w.container();
      const cf = conf(w, mode, backend);
      tracePoints(w, c, cf, tether);
      successEmpty(w.cni("DEL", c, cf, { tether }));
      const warmRef = stable(footprint(w.node));
      const warm = tracePoints(w, c, cf, tether);
      successEmpty(w.cni("DEL", c, cf, { tether }));
      calls += 4;
      for (let n = 1; n <= warm.length; n++) {
        const err = errorJson(w.cni("ADD", c, cf, { tether, env: { TETHER_FAULT_AT: String(n) } }));
        calls++;
        assert.match(err.msg, /fault injected/);
        faults++;
        const left = leftovers(w, c, warmRef, true);
        leaks += left.length;
        assert.deepEqual(left, [], `warm node: left behind after a fault at #${n} (${warm[n - 1]})`);
        // As a runtime would: DEL after the failed ADD; the next round retries the same attachment.
        successEmpty(w.cni("DEL", c, cf, { tether }));
        calls++;
      }
      successJson(w.cni("ADD", c, cf, { tether }));
      successEmpty(w.cni("DEL", c, cf, { tether }));
      calls += 2;
      assert.deepEqual(leftovers(w, c, warmRef, true), [], "warm node: left behind after the final ADD and DEL");
      report(t, { mode, backend: backend ?? "nftables", points: points.length, warmPoints: warm.length, faults, calls, leaks });
    });
  }

  test("the production dist/tether ignores TETHER_FAULT_AT (fault injection is compiled out)", (t) => {
    const prod = productionCommand();
    if (prod === undefined) {
      t.skip("no dist/tether (or TETHER_TEST_BIN) built");
      return;
    }
    const w = cniWorld(t, { label: "fprod" });
    const c = w.container();
    const cf = conf(w, "bridge");
    for (const n of ["1", "2", "3", "5", "10"]) {
      const o = w.cni("ADD", c, cf, { tether: prod, env: { TETHER_FAULT_AT: n, TETHER_FAULT_TRACE: "1" } });
      successJson(o);
      assert.doesNotMatch(o.stderr, /tether-fault/);
      successEmpty(w.cni("DEL", c, cf, { tether: prod }));
    }
    // The bundle carries no trace of the switch (when the build's intermediates are beside it).
    try {
      const bundle = readFileSync(join(prod.cmd, "..", ".build", "tether.cjs"), "utf8");
      assert.ok(!bundle.includes("TETHER_FAULT_AT") && !bundle.includes("fault injected"), "fault injection code in the production bundle");
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== "ENOENT") throw e;
    }
    report(t, { binary: prod.label, calls: 10 });
  });
});

/** One CNI call in the node namespace that can be killed: returns the outcome and a kill switch. */
function startCni(
  w: CniWorld,
  tether: TetherCommand,
  command: string,
  containerId: string,
  netns: string,
  cf: Record<string, unknown>,
): { done: Promise<CniOutcome>; kill(): void } {
  const env = {
    PATH: RUNTIME_PATH,
    CNI_COMMAND: command,
    CNI_CONTAINERID: containerId,
    CNI_NETNS: netns,
    CNI_IFNAME: "eth0",
    CNI_PATH: "/nonexistent",
  };
  // `ip netns exec` execs tether in its own process: the pid is tether's from then on.
  const child = spawn("ip", ["netns", "exec", w.node.name, tether.cmd, ...tether.args], { env, cwd: "/", stdio: ["pipe", "pipe", "pipe"] });
  const out: Buffer[] = [];
  const err: Buffer[] = [];
  child.stdout.on("data", (b: Buffer) => out.push(b));
  child.stderr.on("data", (b: Buffer) => err.push(b));
  child.stdin.on("error", () => {});
  child.stdin.end(JSON.stringify(cf));
  const done = new Promise<CniOutcome>((resolve, reject) => {
    child.on("error", reject);
    child.on("close", (status, signal) =>
      resolve({ status, signal, stdout: Buffer.concat(out).toString("utf8"), stderr: Buffer.concat(err).toString("utf8") }),
    );
  });
  return { done, kill: () => child.kill("SIGKILL") };
}

describe("reliability: kill -9 during ADD, then DEL", { skip, timeout: TIMEOUT }, () => {
  test(`${KILL_TRIALS} trials, bridge and ptp, dual-stack, ipMasq and spoof checks: no leak at the end`, async (t) => {
    const tether = tetherCommand();
    const w = cniWorld(t, { label: "kill" });
    const pool = Array.from({ length: KILL_WORKERS }, (_, i) => w.container(`k${i}`));
    const confs: Record<Mode, Record<string, unknown>> = {
      bridge: { ...conf(w, "bridge"), name: `${w.network}-b` },
      ptp: { ...conf(w, "ptp"), name: `${w.network}-p`, ipam: { ...(conf(w, "ptp")["ipam"] as object), ranges: [[{ subnet: "10.89.0.0/24" }], [{ subnet: "fd00:89::/64" }]] } },
    };
    // Warm up both networks (shared state: bridge, gateway, forwarding) and time a complete ADD.
    const durations: number[] = [];
    for (const mode of ["bridge", "ptp"] as const) {
      successJson(await startCni(w, tether, "ADD", `warm-${mode}`, pool[0]!.path, confs[mode]).done);
      successEmpty(await startCni(w, tether, "DEL", `warm-${mode}`, pool[0]!.path, confs[mode]).done);
    }
    // ADD's duration with as many running at once as in the trials.
    for (const mode of ["bridge", "ptp"] as const) {
      await Promise.all(
        pool.map(async (c, i) => {
          const t0 = performance.now();
          successJson(await startCni(w, tether, "ADD", `time-${mode}-${i}`, c.path, confs[mode]).done);
          durations.push(performance.now() - t0);
          successEmpty(await startCni(w, tether, "DEL", `time-${mode}-${i}`, c.path, confs[mode]).done);
        }),
      );
    }
    const baseline = stable(footprint(w.node));
    const span = Math.max(...durations) * 1.1; // a random moment of an ADD, or just after it
    let killed = 0;
    let completed = 0;
    let failed = 0;
    let delCalls = 0;
    let perTrialLeaks = 0;
    // Trials run KILL_WORKERS at a time, each worker in its own container namespace.
    let nextTrial = 0;
    const worker = async (c: TestNetns): Promise<void> => {
      for (;;) {
        const i = nextTrial++;
        if (i >= KILL_TRIALS) return;
        const mode: Mode = i % 2 === 0 ? "bridge" : "ptp";
        const id = `kill-${i}`;
        const call = startCni(w, tether, "ADD", id, c.path, confs[mode]);
        const delay = Math.random() * span;
        const timer = setTimeout(() => call.kill(), delay);
        const o = await call.done;
        clearTimeout(timer);
        if (o.signal === "SIGKILL") killed++;
        else if (o.status === 0) completed++;
        else failed++; // an error before the kill: DEL must clean up all the same
        const d = await startCni(w, tether, "DEL", id, c.path, confs[mode]).done;
        delCalls++;
        successEmpty(d);
        const left = containerLeftovers(c);
        perTrialLeaks += left.length;
        assert.deepEqual(left, [], `trial ${i} (${mode}, killed after ${delay.toFixed(0)} ms): container not clean after DEL`);
      }
    };
    await Promise.all(pool.map((c) => worker(c)));
    // The end: the node as before the first trial, nothing in either store, no rule of the network.
    const now = stable(footprint(w.node));
    const diff = footprintDiff(baseline, now);
    const stores = [`${w.network}-b`, `${w.network}-p`].flatMap((net) => {
      const out: string[] = [];
      for (const [ip, owner] of reservationsIn(join(w.dataDir, net))) out.push(`${net}: ${ip} ${JSON.stringify(owner)}`);
      return out;
    });
    report(t, {
      binary: tether.label,
      trials: KILL_TRIALS,
      concurrent: KILL_WORKERS,
      killedDuringAdd: killed,
      addCompletedFirst: completed,
      addFailedOtherwise: failed,
      delCalls,
      killWindowMs: Math.round(span),
      leaks: diff.length + stores.length + perTrialLeaks,
    });
    assert.deepEqual(diff, [], "node namespace after the trials");
    assert.deepEqual(stores, [], "reservations after the trials");
    // And as an operator would check it: tether doctor, in the node namespace, over the same store.
    const doctor = w.node.tryExec([tether.cmd, ...tether.args, "doctor", "--data-dir", w.dataDir, "--json"]);
    assert.equal(doctor.status, 0, `tether doctor: exit ${doctor.status}: ${doctor.stdout} ${doctor.stderr}`);
    assert.deepEqual(JSON.parse(doctor.stdout), [], "tether doctor finds nothing leaked");
    assert.ok(killed > KILL_TRIALS / 4, `only ${killed} of ${KILL_TRIALS} ADDs were killed before they finished`);
  });
});
