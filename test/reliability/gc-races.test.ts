/**
 * GC alongside other calls (against the executable, in namespaces the test creates): GC racing many
 * ADDs of attachments its list does not name tears none of them down (a runtime that races its own
 * GC must not break the node), GC racing DELs (and CHECKs of what it keeps) leaves nothing and fails
 * nothing, and GC skips an ADD
 * held mid-way (its lock held, every resource made), then collects it once it is stale.
 */
import assert from "node:assert/strict";
import { existsSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { setTimeout as sleep } from "node:timers/promises";
import { describe, test } from "node:test";
import { cniWorld, runCniAsync, successEmpty, successJson, type CniOutcome, type CniWorld, worldLockFiles as lockFiles, worldRecordFiles as recordFiles } from "../helpers/binary";
import { netnsUnavailable, type TestNetns } from "../helpers/netns";
import { attachmentTag } from "../../src/firewall/key";
import { containerLeftovers, faultsCommand, footprint, footprintDiff, report, stableFootprint } from "../helpers/reliability";

const skip = netnsUnavailable();
const TIMEOUT = 600_000;
const GATEWAY = "10.64.0.1";



const keyOf = (w: CniWorld, c: TestNetns) => ({ network: w.network, containerId: w.containerId(c), ifname: "eth0" });

function ruleLines(w: CniWorld, c: TestNetns): string[] {
  const tag = attachmentTag(keyOf(w, c));
  return w.node.exec(["nft", "list", "ruleset"]).split("\n").filter((l) => l.includes(tag));
}

function held(w: CniWorld, c: TestNetns): string[] {
  return [...w.reservations()].filter(([, v]) => v.split("\r\n")[0] === w.containerId(c)).map(([k]) => k);
}

function gcAsync(w: CniWorld, cf: Record<string, unknown>, valid: TestNetns[]): Promise<CniOutcome> {
  const list = valid.map((c) => ({ containerID: w.containerId(c), ifname: "eth0" }));
  return runCniAsync({ command: "GC", containerId: "", netns: "", ifname: "", config: { ...cf, "cni.dev/valid-attachments": list, "cni.dev/attachments": list }, inNetns: w.node.name });
}

/** Everything one working attachment has, and it works: CHECK passes, the gateway answers. */
function assertWhole(w: CniWorld, c: TestNetns, cf: Record<string, unknown>, result: Record<string, unknown>, what: string): void {
  assert.ok(c.hasLink("eth0"), `${what}: eth0`);
  assert.equal(held(w, c).length, 1, `${what}: its reservation`);
  assert.ok(ruleLines(w, c).length > 0, `${what}: its masquerade rule`);
  assert.ok(recordFiles(w).includes(`${attachmentTag(keyOf(w, c))}.json`), `${what}: its record`);
  successEmpty(w.cni("CHECK", c, cf, { config: { ...cf, prevResult: result } }));
  assert.ok(c.ping(GATEWAY, 5), `${what}: reaches its gateway`);
}

function assertGone(w: CniWorld, c: TestNetns, what: string): void {
  assert.deepEqual(held(w, c), [], `${what}: reservations`);
  assert.deepEqual(ruleLines(w, c), [], `${what}: rules`);
  assert.deepEqual(containerLeftovers(c), [], `${what}: container`);
  assert.ok(!recordFiles(w).some((n) => n.startsWith(attachmentTag(keyOf(w, c)))), `${what}: record`);
}

/** Lines of GC's warning about the attachments it left alone (figures only: which ones is timing). */
function skippedIn(o: CniOutcome): number {
  return o.stderr.split("\n").filter((l) => l.includes("not in the valid list alone")).length;
}

/** A previous tether executable (TETHER_TEST_PREV_BIN), for attachments made by it. */
const PREV = process.env["TETHER_TEST_PREV_BIN"];

describe("GC of attachments a previous tether made (TETHER_TEST_PREV_BIN)", { skip: skip || (PREV === undefined || PREV === "" ? "TETHER_TEST_PREV_BIN not set" : false), timeout: TIMEOUT }, () => {
  test("the stale ones go whole, the valid ones keep working; an id-only reservation goes unless its container is valid", (t) => {
    const w = cniWorld(t, { label: "grprev", ranges: [[{ subnet: "10.64.0.0/24" }]] });
    const cf = w.conf("1.1.0", { mode: "ptp", ipMasq: true, ipspoofchk: true });
    const base = stableFootprint(footprint(w.node));
    const prev = { cmd: PREV!, args: [], label: "previous tether" };
    const all = Array.from({ length: 4 }, () => w.container("grv"));
    const results = all.map((c) => successJson(w.cni("ADD", c, cf, { tether: prev })));
    const [valid, stale] = [all.slice(0, 2), all.slice(2)];
    // host-local before it wrote the ifname: the container id alone.
    writeFileSync(join(w.dataDir, w.network, "10.64.0.200"), w.containerId(stale[0]!));
    writeFileSync(join(w.dataDir, w.network, "10.64.0.201"), w.containerId(valid[0]!));
    successEmpty(runCniSync(w, cf, valid));
    for (const c of stale) assertGone(w, c, `stale ${c.name}`);
    assert.equal(w.reservations().has("10.64.0.200"), false, "the stale id-only reservation");
    assert.equal(w.reservations().get("10.64.0.201"), w.containerId(valid[0]!), "the valid container's id-only reservation");
    rmSync(join(w.dataDir, w.network, "10.64.0.201"));
    valid.forEach((c, i) => assertWhole(w, c, cf, results[i]!, `valid ${c.name}`));
    assert.deepEqual(lockFiles(w), []);
    for (const c of valid) successEmpty(w.cni("DEL", c, cf));
    assert.equal(w.reservations().size, 0);
    assert.deepEqual(recordFiles(w), []);
    assert.deepEqual(footprintDiff(base, stableFootprint(footprint(w.node))), [], "node after all");
  });
});

function runCniSync(w: CniWorld, cf: Record<string, unknown>, valid: TestNetns[]): CniOutcome {
  const list = valid.map((c) => ({ containerID: w.containerId(c), ifname: "eth0" }));
  return w.cni("GC", "", { ...cf, "cni.dev/valid-attachments": list, "cni.dev/attachments": list });
}

describe("reliability: GC alongside ADD, DEL and CHECK", { skip, timeout: TIMEOUT }, () => {
  test("GC racing many ADDs of attachments not in its list: none is torn down, each passes CHECK and reaches its gateway; the stale ones go", async (t) => {
    const w = cniWorld(t, { label: "grad", ranges: [[{ subnet: "10.64.0.0/24" }]] });
    const cf = w.conf("1.1.0", { mode: "ptp", ipMasq: true });
    const base = stableFootprint(footprint(w.node));
    const stale = Array.from({ length: 6 }, () => w.container("grs"));
    for (const c of stale) successJson(w.cni("ADD", c, cf));
    const fresh = Array.from({ length: Number(process.env["TETHER_GC_RACE_ADDS"] ?? "16") }, () => w.container("gra"));
    // The GCs start first (their list, empty, predates every ADD below), the ADDs right after them.
    const gcs = [gcAsync(w, cf, []), gcAsync(w, cf, [])];
    const adds = fresh.map((c) => w.cniAsync("ADD", c, cf));
    const gcOut = await Promise.all(gcs);
    const addOut = await Promise.all(adds);
    for (const o of gcOut) successEmpty(o);
    const results = addOut.map((o) => successJson(o));
    for (const c of stale) assertGone(w, c, `stale ${c.name}`);
    fresh.forEach((c, i) => assertWhole(w, c, cf, results[i]!, `ADD ${i}`));
    assert.deepEqual(lockFiles(w), [], "lock files");
    report(t, { adds: fresh.length, gcs: gcOut.length, gcsThatSkipped: gcOut.filter((o) => skippedIn(o) > 0).length });

    for (const c of fresh) successEmpty(w.cni("DEL", c, cf));
    assert.deepEqual(w.reservations().size, 0);
    assert.deepEqual(recordFiles(w), []);
    assert.deepEqual(lockFiles(w), []);
    assert.deepEqual(footprintDiff(base, stableFootprint(footprint(w.node))), [], "node after all");
  });

  test("GC racing DELs (and CHECKs of the attachments it keeps): every call succeeds, nothing of the deleted is left (locks, records, reservations, links, rules)", async (t) => {
    const w = cniWorld(t, { label: "grdel", ranges: [[{ subnet: "10.64.0.0/24" }]] });
    const cf = w.conf("1.1.0", { mode: "ptp", ipMasq: true, ipspoofchk: true });
    const base = stableFootprint(footprint(w.node));
    const all = Array.from({ length: Number(process.env["TETHER_GC_RACE_DELS"] ?? "12") }, () => w.container("grd"));
    for (const c of all) successJson(w.cni("ADD", c, cf));
    const kept = [w.container("grk"), w.container("grk")];
    const keptResults = kept.map((c) => successJson(w.cni("ADD", c, cf)));
    const calls: Promise<CniOutcome>[] = [];
    all.forEach((c, i) => {
      calls.push(w.cniAsync("DEL", c, cf));
      if (i % 4 === 0) calls.push(gcAsync(w, cf, kept));
      const k = i % kept.length;
      calls.push(w.cniAsync("CHECK", kept[k]!, cf, { config: { ...cf, prevResult: keptResults[k] } }));
    });
    for (const o of await Promise.all(calls)) successEmpty(o);
    for (const c of all) assertGone(w, c, c.name);
    kept.forEach((c, i) => assertWhole(w, c, cf, keptResults[i]!, `kept ${c.name}`));
    for (const c of kept) successEmpty(w.cni("DEL", c, cf));
    assert.equal(w.reservations().size, 0, "reservations");
    assert.deepEqual(recordFiles(w), [], "records and intents");
    assert.deepEqual(lockFiles(w), [], "lock files");
    assert.deepEqual(footprintDiff(base, stableFootprint(footprint(w.node))), [], "node");
    // DEL stays idempotent after GC took the attachments.
    for (const c of all) successEmpty(w.cni("DEL", c, cf));
  });

  test("GC skips an ADD held mid-way (its lock held, everything made), which then completes and works; a later GC collects it", async (t) => {
    const w = cniWorld(t, { label: "grhold", ranges: [[{ subnet: "10.64.0.0/24" }]] });
    const cf = w.conf("1.1.0", { mode: "ptp", ipMasq: true });
    const base = stableFootprint(footprint(w.node));
    // How many fault points a whole ADD passes: the pause goes at the last one.
    const probe = w.container("grp");
    const traced = w.cni("ADD", probe, cf, { tether: faultsCommand(), env: { TETHER_FAULT_TRACE: "1" } });
    successJson(traced);
    successEmpty(w.cni("DEL", probe, cf));
    const points = traced.stderr.split("\n").filter((l) => l.startsWith("tether-fault: #")).length;
    assert.ok(points > 5, `only ${points} fault points`);

    const stale = w.container("grs");
    successJson(w.cni("ADD", stale, cf));
    const dir = mkdtempSync(join(tmpdir(), "tether-gc-pause-"));
    const go = join(dir, "go");
    t.after(() => {
      writeFileSync(go, ""); // never leave it waiting
      rmSync(dir, { recursive: true, force: true });
    });
    const c = w.container("grh");
    const add = w.cniAsync("ADD", c, cf, { tether: faultsCommand(), env: { TETHER_FAULT_AT: String(points), TETHER_FAULT_PAUSE: go } });
    while (!existsSync(`${go}.reached`)) {
      assert.equal(await Promise.race([add.then(() => "exited"), sleep(20).then(() => "waiting")]), "waiting", "the ADD ended before its pause");
    }
    assert.ok(c.hasLink("eth0") && held(w, c).length === 1 && ruleLines(w, c).length > 0, "the held ADD made everything");

    const gc = await gcAsync(w, cf, []);
    successEmpty(gc);
    assert.ok(gc.stderr.includes(w.containerId(c)), `GC names the attachment it left alone: ${gc.stderr}`);
    assertGone(w, stale, "the stale attachment");
    assert.ok(c.hasLink("eth0"), "the held ADD's interface");
    assert.equal(held(w, c).length, 1, "the held ADD's reservation");
    assert.ok(ruleLines(w, c).length > 0, "the held ADD's rule");
    assert.deepEqual(recordFiles(w), [`${attachmentTag(keyOf(w, c))}.adding.json`], "the held ADD's intent");

    writeFileSync(go, "");
    const result = successJson(await add);
    assertWhole(w, c, cf, result, "the ADD let go");
    assert.deepEqual(lockFiles(w), []);

    // Its ADD began before this GC: stale now, and collected.
    successEmpty(await gcAsync(w, cf, []));
    assertGone(w, c, "after the next GC");
    assert.deepEqual(lockFiles(w), []);
    assert.deepEqual(footprintDiff(base, stableFootprint(footprint(w.node))), [], "node after all");
  });
});
