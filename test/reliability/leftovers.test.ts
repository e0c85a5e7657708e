/**
 * What killed or unfinished calls leave, and who removes it (against the executable, in namespaces
 * the test creates): attachment lock files (/run/tether/locks, this test's network only), ADD intents,
 * and the veth, reservations and rules of an ADD killed while its container lives. No lock file
 * outlives its call; GC (cni.dev/valid-attachments) and `tether doctor --fix` remove what a killed
 * call left, never what a running call holds; 64 parallel ADDs, DELs and GCs leave no lock file and
 * no half attachment.
 */
import assert from "node:assert/strict";
import { spawn, spawnSync } from "node:child_process";
import { existsSync } from "node:fs";
import { join } from "node:path";
import { describe, test, type TestContext } from "node:test";
import { cniWorld, errorJson, runCni, successEmpty, successJson, tetherCommand, RUNTIME_PATH, type CniOutcome, type CniWorld, worldLockFiles as lockFiles, worldRecordFiles as recordFiles } from "../helpers/binary";
import { netnsUnavailable, type TestNetns } from "../helpers/netns";
import { ATTACHMENT_LOCK_ROOT, attachmentLockPath, networkLockDir } from "../../src/plugins/attachmentLock";
import { attachmentTag } from "../../src/firewall/key";
import { Semaphore, containerLeftovers, faultsCommand, footprint, footprintDiff, report, stableFootprint } from "../helpers/reliability";

const skip = netnsUnavailable();
const TIMEOUT = 600_000;
const tether = tetherCommand();
const LOCK_WORKER = join(__dirname, "..", "helpers", "lockWorker.js");

function cli(w: CniWorld, ...args: string[]): { status: number | null; stdout: string; stderr: string } {
  const r = spawnSync("ip", ["netns", "exec", w.node.name, tether.cmd, ...tether.args, ...args], { encoding: "utf8", env: { PATH: RUNTIME_PATH } });
  return { status: r.status, stdout: r.stdout, stderr: r.stderr };
}



function storeFiles(w: CniWorld): string[] {
  return [...w.reservations().keys()];
}

const keyOf = (w: CniWorld, c: TestNetns) => ({ network: w.network, containerId: w.containerId(c), ifname: "eth0" });

function ruleLines(w: CniWorld, c: TestNetns): string[] {
  const tag = attachmentTag(keyOf(w, c));
  return w.node.exec(["nft", "list", "ruleset"]).split("\n").filter((l) => l.includes(tag));
}

/** How many fault points a whole ADD of `cf` passes (a probe attachment, added and deleted). */
function faultPoints(w: CniWorld, cf: Record<string, unknown>): number {
  const probe = w.container("lprobe");
  const traced = w.cni("ADD", probe, cf, { tether: faultsCommand(), env: { TETHER_FAULT_TRACE: "1" } });
  successJson(traced);
  successEmpty(w.cni("DEL", probe, cf));
  probe.remove();
  const n = traced.stderr.split("\n").filter((l) => l.startsWith("tether-fault: #")).length;
  assert.ok(n > 5, `only ${n} fault points`);
  return n;
}

/** An ADD killed (SIGKILL) at its last fault point: everything it makes exists, its intent is not yet a record. */
function killedAdd(w: CniWorld, c: TestNetns, cf: Record<string, unknown>, points: number): void {
  const o = w.cni("ADD", c, cf, { tether: faultsCommand(), env: { TETHER_FAULT_AT: String(points), TETHER_FAULT_KILL: "1" } });
  assert.equal(o.signal, "SIGKILL", `${o.stdout}${o.stderr}`);
  assert.ok(c.hasLink("eth0"), "the killed ADD made the container interface");
}

function gc(w: CniWorld, cf: Record<string, unknown>, valid: TestNetns[]): CniOutcome {
  const list = valid.map((c) => ({ containerID: w.containerId(c), ifname: "eth0" }));
  return runCni({ command: "GC", containerId: "", netns: "", ifname: "", config: { ...cf, "cni.dev/valid-attachments": list, "cni.dev/attachments": list }, inNetns: w.node.name });
}

/** Hold one attachment's lock from another process (as an ADD in progress does) until release(). */
async function holdLock(t: TestContext, w: CniWorld, c: TestNetns): Promise<() => Promise<void>> {
  const child = spawn(process.execPath, [LOCK_WORKER, "hold", ATTACHMENT_LOCK_ROOT, w.network, w.containerId(c)], { stdio: ["pipe", "pipe", "inherit"] });
  let done = false;
  const closed = new Promise<void>((resolve) => child.on("close", () => resolve()));
  t.after(async () => {
    if (!done) child.kill("SIGKILL");
    await closed;
  });
  await new Promise<void>((resolve, reject) => {
    child.stdout.once("data", () => resolve());
    child.once("close", () => reject(new Error("the lock holder exited")));
  });
  return async () => {
    done = true;
    child.stdin.end();
    await closed;
  };
}

describe("reliability: what killed and unfinished calls leave", { skip, timeout: TIMEOUT }, () => {
  test("no lock file outlives its call: ADD, CHECK, a refused ADD, a container removed without DEL, DEL", (t) => {
    const w = cniWorld(t, { label: "lnone" });
    const cf = w.conf("1.1.0", { mode: "ptp", ipMasq: true });
    const c = w.container("lnone");
    const r = successJson(w.cni("ADD", c, cf));
    assert.deepEqual(lockFiles(w), [], "after ADD");
    successEmpty(w.cni("CHECK", c, cf, { config: { ...cf, prevResult: r } }));
    assert.deepEqual(lockFiles(w), [], "after CHECK");
    // A second ADD of a live attachment: its address is taken (102) or its interface exists (100).
    assert.ok([100, 102].includes(errorJson(w.cni("ADD", c, cf)).code));
    assert.deepEqual(lockFiles(w), [], "after a refused ADD");
    const gone = w.container("lgone");
    successJson(w.cni("ADD", gone, cf));
    gone.remove();
    assert.deepEqual(lockFiles(w), [], "after its container went without a DEL");
    successEmpty(w.cni("DEL", gone, cf));
    successEmpty(w.cni("DEL", c, cf));
    assert.deepEqual(lockFiles(w), [], "after DEL");
    assert.equal(existsSync(join(ATTACHMENT_LOCK_ROOT, networkLockDir(w.network))), false, "the network's lock directory");
    assert.deepEqual(storeFiles(w), []);
    assert.deepEqual(recordFiles(w), []);
  });

  test("GC removes what killed ADDs left (lock files, intents, veths, reservations, rules); the kept attachment keeps all", (t) => {
    const w = cniWorld(t, { label: "lgc" });
    const cf = w.conf("1.1.0", { mode: "ptp", ipMasq: true });
    const base = stableFootprint(footprint(w.node));
    const points = faultPoints(w, cf);
    const kept = w.container("lkeep");
    successJson(w.cni("ADD", kept, cf));
    const keptBefore = { store: storeFiles(w), rules: ruleLines(w, kept), veths: w.nodeVeths(), records: recordFiles(w) };
    const alive = w.container("lalive");
    killedAdd(w, alive, cf, points);
    const gone = w.container("lgone");
    killedAdd(w, gone, cf, points);
    gone.remove();
    assert.equal(lockFiles(w).length, 2, "each killed ADD left its lock file");
    assert.equal(recordFiles(w).filter((n) => n.endsWith(".adding.json")).length, 2, "each killed ADD left its intent");
    successEmpty(gc(w, cf, [kept]));
    assert.deepEqual(lockFiles(w), [], "lock files after GC");
    assert.deepEqual(recordFiles(w), keptBefore.records, "records and intents after GC");
    assert.deepEqual(storeFiles(w), keptBefore.store, "reservations after GC");
    assert.deepEqual(w.nodeVeths(), keptBefore.veths, "host veths after GC");
    assert.deepEqual(ruleLines(w, alive), []);
    assert.deepEqual(ruleLines(w, kept), keptBefore.rules, "the kept attachment's rules");
    assert.deepEqual(containerLeftovers(alive), [], "the live container of a killed ADD");
    assert.ok(kept.hasLink("eth0"));
    successEmpty(w.cni("DEL", kept, cf));
    assert.deepEqual(footprintDiff(base, stableFootprint(footprint(w.node))), []);
    assert.deepEqual(lockFiles(w), []);
  });

  test("doctor reports an ADD killed while its container lives and --fix rolls it back as DEL would; an ADD in progress and other attachments are left alone", async (t) => {
    const w = cniWorld(t, { label: "ldoc" });
    const cf = w.conf("1.1.0", { mode: "ptp", ipMasq: true, ipspoofchk: true });
    const base = stableFootprint(footprint(w.node));
    const points = faultPoints(w, cf);
    const live = w.container("llive");
    successJson(w.cni("ADD", live, cf));
    const liveBefore = { store: w.reservations(), rules: ruleLines(w, live), addrs: live.addrs("eth0").map((a) => `${a.local}/${a.prefixlen}`) };
    const killed = w.container("lkill");
    killedAdd(w, killed, cf, points);
    const running = w.container("lrun");
    killedAdd(w, running, cf, points);
    const release = await holdLock(t, w, running); // as an ADD still in progress would
    const killedIps = [...w.reservations()].filter(([, v]) => v.startsWith(w.containerId(killed))).map(([k]) => k);
    assert.equal(killedIps.length, 2);
    const killedTag = attachmentTag(keyOf(w, killed));
    const killedVeth = w.node.ipJson<{ ifname: string; ifalias?: string }[]>(["link", "show"]).filter((l) => l.ifalias?.endsWith(killedTag) === true).map((l) => l.ifname);
    assert.equal(killedVeth.length, 1);

    const doctor = cli(w, "doctor", "--data-dir", w.dataDir, "--json");
    const findings = JSON.parse(doctor.stdout || "[]") as { kind: string; subject: string; detail: string }[];
    assert.equal(doctor.status, 1, doctor.stdout + doctor.stderr);
    assert.deepEqual(findings.map((f) => f.kind), ["interrupted-add"], doctor.stdout);
    const f = findings[0]!;
    assert.ok(f.subject.includes(`${w.containerId(killed)}/eth0`), f.subject);
    assert.ok(f.detail.includes(killed.path), f.detail);
    for (const ip of killedIps) assert.ok(f.detail.includes(ip), `${ip}: ${f.detail}`);
    assert.ok(f.detail.includes(killedVeth[0]!), f.detail);
    assert.match(f.detail, /firewall rule/);

    const fix = cli(w, "doctor", "--data-dir", w.dataDir, "--fix");
    assert.equal(fix.status, 0, fix.stdout + fix.stderr);
    assert.deepEqual(containerLeftovers(killed), [], "the killed ADD's container");
    assert.deepEqual(ruleLines(w, killed), []);
    assert.ok(![...w.reservations().values()].some((v) => v.startsWith(w.containerId(killed))));
    assert.ok(!existsSync(attachmentLockPath(keyOf(w, killed))), "its lock file");
    // The running ADD's attachment: untouched.
    assert.ok(running.hasLink("eth0"));
    assert.equal([...w.reservations().values()].filter((v) => v.startsWith(w.containerId(running))).length, 2);
    assert.ok(ruleLines(w, running).length > 0);
    assert.equal(recordFiles(w).filter((n) => n.endsWith(".adding.json")).length, 1, "the running ADD's intent");
    // The finished attachment: untouched.
    assert.deepEqual(liveBefore.addrs, live.addrs("eth0").map((a) => `${a.local}/${a.prefixlen}`));
    assert.deepEqual(ruleLines(w, live), liveBefore.rules);
    for (const [k, v] of liveBefore.store) assert.equal(w.reservations().get(k), v);

    // Once the running call is gone (it was killed too), doctor rolls it back as well.
    await release();
    const again = cli(w, "doctor", "--data-dir", w.dataDir, "--fix", "--json");
    assert.equal(again.status, 0, again.stdout + again.stderr);
    assert.deepEqual((JSON.parse(again.stdout) as { kind: string }[]).map((x) => x.kind), ["interrupted-add"]);
    assert.deepEqual(containerLeftovers(running), []);
    successEmpty(w.cni("DEL", live, cf));
    assert.deepEqual(footprintDiff(base, stableFootprint(footprint(w.node))), [], "node after all");
    assert.deepEqual(storeFiles(w), []);
    assert.deepEqual(recordFiles(w), []);
    assert.deepEqual(lockFiles(w), []);
    const clean = cli(w, "doctor", "--data-dir", w.dataDir);
    assert.equal(clean.status, 0, clean.stdout);
  });

  test("64 parallel ADDs, DELs and GCs of the same and different attachments: no lock file, no half attachment, GC collects the killed", async (t) => {
    const w = cniWorld(t, { label: "lpar" });
    const cf = w.conf("1.1.0", { mode: "ptp", ipMasq: true });
    const base = stableFootprint(footprint(w.node));
    const points = faultPoints(w, cf);
    const calls = Number(process.env["TETHER_LEFTOVER_CALLS"] ?? "64");
    const rounds = Number(process.env["TETHER_LEFTOVER_ROUNDS"] ?? "2");
    const live = Array.from({ length: 4 }, (_, i) => w.container(`lp${i}`));
    const sem = new Semaphore(16);
    const codes = new Map<string, number>();
    let total = 0;
    for (let round = 0; round < rounds; round++) {
      // What killed ADDs leave, for the GCs to collect.
      const stale = [w.container("lst"), w.container("lst")];
      for (const s of stale) killedAdd(w, s, cf, points);
      stale[1]!.remove();
      const jobs: Promise<[string, CniOutcome]>[] = [];
      for (let i = 0; i < calls; i++) {
        const c = live[Math.floor(i / 4) % live.length]!; // each attachment gets ADDs, DELs and GCs
        const kind = i % 4 === 3 ? "GC" : i % 2 === 0 ? "ADD" : "DEL";
        jobs.push(sem.run(async () => [kind, kind === "GC" ? gc(w, cf, live) : await w.cniAsync(kind, c, cf)] as [string, CniOutcome]));
      }
      for (const [kind, o] of await Promise.all(jobs)) {
        total++;
        const code = o.status === 0 ? "0" : String((JSON.parse(o.stdout) as { code: number }).code);
        codes.set(`${kind}:${code}`, (codes.get(`${kind}:${code}`) ?? 0) + 1);
        // An ADD of an attachment that exists: 102 (its address is taken) or 100 (its interface exists).
        const allowed = kind === "ADD" ? ["0", "100", "102"] : ["0"];
        assert.ok(allowed.includes(code), `${kind}: ${o.stdout} ${o.stderr.slice(-500)}`);
      }
      assert.deepEqual(lockFiles(w), [], `round ${round}: lock files after the calls`);
      assert.deepEqual(containerLeftovers(stale[0]!), [], `round ${round}: the killed ADD's container after GC`);
      for (const c of live) {
        const attached = c.hasLink("eth0");
        const held = [...w.reservations().values()].filter((v) => v.startsWith(w.containerId(c))).length;
        const rules = ruleLines(w, c).length;
        const records = recordFiles(w).filter((n) => n.startsWith(attachmentTag(keyOf(w, c)))).join(",");
        const state = `round ${round} ${c.name}: eth0 ${attached}, reservations ${held}, rules ${rules}, records ${records}`;
        if (attached) assert.ok(held === 2 && rules > 0 && records === `${attachmentTag(keyOf(w, c))}.json`, state);
        else assert.ok(held === 0 && rules === 0 && records === "", state);
      }
      for (const c of live) successEmpty(w.cni("DEL", c, cf));
      stale[0]!.remove();
      assert.deepEqual(storeFiles(w), [], `round ${round}: reservations`);
      assert.deepEqual(recordFiles(w), [], `round ${round}: records and intents`);
      assert.deepEqual(footprintDiff(base, stableFootprint(footprint(w.node))), [], `round ${round}: node`);
      assert.deepEqual(lockFiles(w), [], `round ${round}: lock files`);
    }
    report(t, { rounds, calls: total, outcomes: [...codes].map(([k, v]) => `${k}=${v}`).join(",") });
  });
});
