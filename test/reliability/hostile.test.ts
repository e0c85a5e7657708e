/**
 * Hostile input, end to end through the executable (dist/tether, else the compiled sources), in
 * namespaces the test creates: container ids, network names and interface names built to escape
 * or break things, CNI_NETNS paths that reach the plugin's own namespace by another name, symlinks
 * planted in the store, relative or missing data directories, truncated or garbage store files, and
 * a store lock held by a stuck process. Each is refused with the right code or handled; the IPAM
 * store lives in a sandbox directory, and nothing in the sandbox outside the store changes (nor,
 * for a refused call, anything at all, kernel included).
 *
 * Already covered elsewhere, not repeated: CNI_NETNS a regular file / a directory /
 * /proc/self/ns/net and a 16-byte ifname (test/e2e/protocol.test.ts), the validators themselves
 * (test/unit/cni-env.test.ts), symlinks and the lock against the store API
 * (test/unit/ipam-store.test.ts). A NUL cannot reach tether through the environment at all (exec
 * strings end at the first NUL); one inside JSON is tested here.
 */
import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { mkdirSync, mkdtempSync, readFileSync, rmSync, symlinkSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, test, type TestContext } from "node:test";
import { cniWorld, errorJson, successEmpty, successJson, tetherCommand, type CniOutcome, type CniWorld } from "../helpers/binary";
import { netnsUnavailable, type TestNetns } from "../helpers/netns";
import { containerLeftovers, footprint, footprintDiff, report, reservationsIn, stableFootprint, treeDiff, treeSnapshot } from "../helpers/reliability";

const skip = netnsUnavailable();
const TIMEOUT = 900_000;

interface Env {
  w: CniWorld;
  sandbox: string;
  dataDir: string;
  c: TestNetns;
  conf(extra?: Record<string, unknown>, ipam?: Record<string, unknown>): Record<string, unknown>;
}

/** A world whose store is `<sandbox>/store`, with a file beside it that must never change. */
function setup(t: TestContext, label: string): Env {
  const w = cniWorld(t, { label });
  const sandbox = mkdtempSync(join(tmpdir(), "tether-hostile-"));
  t.after(() => rmSync(sandbox, { recursive: true, force: true }));
  const dataDir = join(sandbox, "store");
  mkdirSync(dataDir, { mode: 0o755 });
  writeFileSync(join(sandbox, "victim"), "keep me\n");
  mkdirSync(join(sandbox, "outside"));
  const conf = (extra = {}, ipam = {}): Record<string, unknown> => w.conf("1.1.0", { ipMasq: true, isGateway: true, ...extra }, { dataDir, ...ipam });
  // The network's shared state (bridge, gateway) exists from then on, as on a node in use.
  const warm = w.container("warm");
  successJson(w.cni("ADD", warm, conf()));
  successEmpty(w.cni("DEL", warm, conf()));
  return { w, sandbox, dataDir, c: w.container(), conf };
}

/** Everything that must stay as it is: the sandbox outside the store, and the node namespace. */
function outsideState(e: Env): { tree: Map<string, string>; node: ReturnType<typeof footprint> } {
  const tree = treeSnapshot(e.sandbox);
  for (const k of [...tree.keys()]) if (k.startsWith("store/")) tree.delete(k);
  return { tree, node: stableFootprint(footprint(e.w.node)) };
}

function assertOutsideUnchanged(e: Env, before: ReturnType<typeof outsideState>, what: string, kernelToo = true): void {
  const after = outsideState(e);
  assert.deepEqual(treeDiff(before.tree, after.tree), [], `${what}: the sandbox outside the store changed`);
  if (kernelToo) assert.deepEqual(footprintDiff(before.node, after.node), [], `${what}: the node namespace changed`);
}

const BAD_IDS = ["../../victim", "../outside/x", "a/b", "/abs", ".", "..", "-lead", "é", "id with space", "a\rb", "a\nb", "x".repeat(4096) + "/"];
const BAD_NETWORKS = ["../outside", "..", ".", "a/b", "/abs", "../../../../tmp/x", "né", "a\u0000b", "", " ", "-x", ".hidden", "x/../../victim"];
const BAD_IFNAMES = [".", "..", "a/b", "a b", "a:b", "a\tb", "x".repeat(16), "é".repeat(8), "😀😀😀😀"];
const BAD_IPAM = [{ dataDir: "relative" }, { ranges: [[{ subnet: "10.0.0.0/33" }]] }, { ranges: "x" }];
/** Refused calls the suite makes: ids and names per command, the fixed cases, the bad IPAM sections. */
const REFUSED_CASES = BAD_IDS.length * 2 + BAD_NETWORKS.length * 3 + 2 + BAD_IFNAMES.length + 3 * 2 + 2 + BAD_IPAM.length;
/** Hostile inputs handled (the call works and leaves things right): one per `handled` step below. */
const HANDLED_CASES = 8;

let refused = 0;
let handled = 0;
const refusedWhat = new Set<string>();

/** A call that must be refused with `code` and change nothing at all (store included). */
function refusedWith(e: Env, code: number, what: string, run: () => CniOutcome): void {
  const before = outsideState(e);
  const store = treeSnapshot(e.dataDir);
  const err = errorJson(run());
  assert.equal(err.code, code, `${what}: ${JSON.stringify(err)}`);
  assertOutsideUnchanged(e, before, what);
  assert.deepEqual(treeDiff(store, treeSnapshot(e.dataDir)), [], `${what}: the store changed`);
  assert.deepEqual(containerLeftovers(e.c), [], `${what}: the container changed`);
  refusedWhat.add(what);
  refused++;
}

describe("reliability: hostile input end to end", { skip, timeout: TIMEOUT }, () => {
  const tether = tetherCommand();

  test("container ids that escape, break the store format or are not ASCII: code 4, nothing touched; a very long valid id works", (t) => {
    const e = setup(t, "hid");
    const cf = e.conf();
    for (const id of BAD_IDS) {
      for (const command of ["ADD", "DEL"]) {
        refusedWith(e, 4, `${command} id ${JSON.stringify(id.slice(0, 40))}`, () => e.w.cni(command, e.c, cf, { tether, containerId: id }));
      }
    }
    const long = "L".repeat(2000);
    const before = outsideState(e);
    successJson(e.w.cni("ADD", e.c, cf, { tether, containerId: long }));
    const held = [...reservationsIn(join(e.dataDir, e.w.network)).values()];
    assert.equal(held.length, 2);
    for (const content of held) assert.equal(content, `${long}\r\neth0`);
    successEmpty(e.w.cni("DEL", e.c, cf, { tether, containerId: long }));
    assert.equal(reservationsIn(join(e.dataDir, e.w.network)).size, 0);
    assertOutsideUnchanged(e, before, "long id");
    handled++;
  });

  test("network names that escape or are not names: code 7, nothing touched", (t) => {
    const e = setup(t, "hnet");
    for (const name of BAD_NETWORKS) {
      for (const command of ["ADD", "DEL", "CHECK"]) {
        const cf = { ...e.conf(), name, prevResult: { cniVersion: "1.1.0" } };
        refusedWith(e, 7, `${command} name ${JSON.stringify(name)}`, () => e.w.cni(command, e.c, cf, { tether }));
      }
    }
    // Longer than a file name can be: the store could not hold it.
    const cf = { ...e.conf(), name: "n".repeat(300) };
    for (const command of ["ADD", "DEL"]) refusedWith(e, 7, `${command} a 300-character name`, () => e.w.cni(command, e.c, cf, { tether }));
  });

  test("interface names: the kernel's rules (code 4), and one that exists in the container (code 100); nothing touched", (t) => {
    const e = setup(t, "hif");
    const cf = e.conf();
    for (const ifname of BAD_IFNAMES) {
      refusedWith(e, 4, `ifname ${JSON.stringify(ifname)}`, () => e.w.cni("ADD", e.c, cf, { tether, ifname }));
    }
    // An interface that exists: code 100, after the IPAM reservation made before it was undone.
    assert.equal(errorJson(e.w.cni("ADD", e.c, cf, { tether, ifname: "lo" })).code, 100);
    assert.equal(reservationsIn(join(e.dataDir, e.w.network)).size, 0);
    assert.deepEqual(containerLeftovers(e.c), []);
    // 15 bytes of multi-byte characters is a valid name
    const before = outsideState(e);
    const ifname = "é".repeat(7) + "x";
    successJson(e.w.cni("ADD", e.c, cf, { tether, ifname }));
    assert.ok(e.c.hasLink(ifname));
    successEmpty(e.w.cni("DEL", e.c, cf, { tether, ifname }));
    assert.deepEqual(containerLeftovers(e.c), []);
    assertOutsideUnchanged(e, before, "15-byte ifname");
    handled++;
  });

  test("CNI_NETNS naming the plugin's own namespace by another path (its bind mount, a symlink): code 8 for ADD and DEL", (t) => {
    const e = setup(t, "hns");
    const cf = e.conf();
    const link = join(e.sandbox, "outside", "ns-link");
    symlinkSync(e.w.node.path, link);
    for (const path of [e.w.node.path, link, `/proc/thread-self/ns/net`]) {
      for (const command of ["ADD", "DEL"]) {
        refusedWith(e, 8, `${command} CNI_NETNS ${path}`, () => e.w.cni(command, path, cf, { tether, containerId: "own-ns", ifname: "lo" }));
      }
    }
  });

  test("symlinks planted in the store: never followed; the files they point to stay as they are", (t) => {
    const e = setup(t, "hsym");
    const cf = e.conf();
    const dir = join(e.dataDir, e.w.network);
    const victim = join(e.sandbox, "victim");
    rmSync(dir, { recursive: true });
    rmSync(join(e.dataDir, ".tether-index"), { recursive: true, force: true });
    const before = outsideState(e);

    // The network directory itself a symlink to a directory outside: refused (code 5), nothing written there.
    symlinkSync(join(e.sandbox, "outside"), dir);
    for (const command of ["ADD", "DEL"]) {
      const err = errorJson(e.w.cni(command, e.c, cf, { tether }));
      assert.equal(err.code, 5, `${command} through a symlinked network directory: ${JSON.stringify(err)}`);
      assert.match(err.msg, /symlink|not a directory/);
    }
    assert.deepEqual(containerLeftovers(e.c), []);
    assertOutsideUnchanged(e, before, "symlinked network directory", false);
    rmSync(dir);

    // The lock file a symlink: refused (code 5).
    mkdirSync(dir, { mode: 0o755 });
    symlinkSync(victim, join(dir, "lock"));
    assert.equal(errorJson(e.w.cni("ADD", e.c, cf, { tether })).code, 5);
    assert.deepEqual(containerLeftovers(e.c), []);
    rmSync(join(dir, "lock"));

    // The first free address, last_reserved_ip.0 and the index each a symlink to the victim: ADD skips
    // the planted address, DEL releases only the container's own, the victim is never written.
    symlinkSync(victim, join(dir, "10.88.0.2"));
    symlinkSync(victim, join(dir, "last_reserved_ip.1"));
    mkdirSync(join(e.dataDir, ".tether-index"), { recursive: true, mode: 0o700 });
    symlinkSync(victim, join(e.dataDir, ".tether-index", e.w.network));
    const r = successJson<{ ips: { address: string }[] }>(e.w.cni("ADD", e.c, cf, { tether }));
    assert.ok(!r.ips.some((ip) => ip.address.startsWith("10.88.0.2/")), JSON.stringify(r.ips));
    successEmpty(e.w.cni("DEL", e.c, cf, { tether }));
    successEmpty(e.w.cni("DEL", e.c, cf, { tether }));
    assert.equal(readFileSync(victim, "utf8"), "keep me\n");
    assert.deepEqual([...reservationsIn(dir).keys()].sort(), ["10.88.0.2"], "only the planted link is left");
    assert.deepEqual(containerLeftovers(e.c), []);
    assertOutsideUnchanged(e, before, "planted symlinks");
    handled += 3;
  });

  test("a relative dataDir is code 7; a missing one is created; both leave the working directory alone", (t) => {
    const e = setup(t, "hdir");
    refusedWith(e, 7, "relative dataDir", () => e.w.cni("ADD", e.c, e.conf({}, { dataDir: "store" }), { tether }));
    refusedWith(e, 7, "relative dataDir ./x", () => e.w.cni("ADD", e.c, e.conf({}, { dataDir: "./x/../y" }), { tether }));
    const missing = join(e.dataDir, "not", "yet");
    const cf = e.conf({}, { dataDir: missing });
    successJson(e.w.cni("ADD", e.c, cf, { tether }));
    assert.equal(reservationsIn(join(missing, e.w.network)).size, 2);
    successEmpty(e.w.cni("DEL", e.c, cf, { tether }));
    assert.equal(reservationsIn(join(missing, e.w.network)).size, 0);
    handled++;
  });

  test("a bad tether-ipam section on a node never used: code 7 before any work (no bridge left behind)", (t) => {
    const w = cniWorld(t, { label: "hfresh" });
    const c = w.container();
    const before = footprint(w.node);
    for (const ipam of BAD_IPAM) {
      const err = errorJson(w.cni("ADD", c, w.conf("1.1.0", { isGateway: true }, ipam), { tether }));
      assert.equal(err.code, 7, JSON.stringify(err));
      assert.deepEqual(footprintDiff(before, footprint(w.node)), [], `ipam ${JSON.stringify(ipam)}: the node changed`);
      refused++;
    }
  });

  test("garbage and truncated store files: ADD and DEL still work, foreign files are left alone", (t) => {
    const e = setup(t, "hgarb");
    const cf = e.conf();
    const dir = join(e.dataDir, e.w.network);
    // A first attachment makes the store and its index.
    const other = e.w.container("other");
    successJson(e.w.cni("ADD", other, cf, { tether }));
    // Garbage where the next addresses would go, in last_reserved_ip, and an index cut in half.
    writeFileSync(join(dir, "10.88.0.3"), Buffer.from([0xff, 0x00, 0xfe, 0x0d, 0x0a]));
    writeFileSync(join(dir, "10.88.0.4"), "");
    writeFileSync(join(dir, "last_reserved_ip.0"), "not an address\u0000\u0001");
    const indexFile = join(e.dataDir, ".tether-index", e.w.network);
    let index: Buffer | undefined;
    try {
      index = readFileSync(indexFile);
    } catch {
      index = undefined;
    }
    if (index !== undefined) writeFileSync(indexFile, index.subarray(0, Math.floor(index.length / 2)));
    const r = successJson<{ ips: { address: string }[] }>(e.w.cni("ADD", e.c, cf, { tether }));
    const mine = r.ips.map((ip) => ip.address.split("/")[0]!);
    assert.ok(!mine.includes("10.88.0.3") && !mine.includes("10.88.0.4"), `got ${mine.join(", ")}`);
    // Truncate the index again, in the middle of a record this time, then DEL both.
    try {
      const idx = readFileSync(indexFile);
      writeFileSync(indexFile, idx.subarray(0, Math.max(1, idx.length - 7)));
    } catch {
      // no index: the directory alone is used
    }
    successEmpty(e.w.cni("DEL", e.c, cf, { tether }));
    successEmpty(e.w.cni("DEL", other, cf, { tether }));
    assert.deepEqual([...reservationsIn(dir).keys()].sort(), ["10.88.0.3", "10.88.0.4"], "only the foreign files are left");
    assert.deepEqual(containerLeftovers(e.c), []);
    assert.deepEqual(containerLeftovers(other), []);
    // A store file that is a directory or a FIFO where an address would go: skipped, never blocks.
    mkdirSync(join(dir, "10.88.0.2"));
    const r2 = successJson<{ ips: { address: string }[] }>(e.w.cni("ADD", e.c, cf, { tether }));
    assert.ok(!r2.ips.some((ip) => ip.address.startsWith("10.88.0.2/")));
    successEmpty(e.w.cni("DEL", e.c, cf, { tether }));
    handled += 2;
  });
});

describe("reliability: a stuck lock holder", { skip, timeout: TIMEOUT }, () => {
  test("ADD fails with code 11 after a bounded wait, and works once the holder is gone", async (t) => {
    const tether = tetherCommand();
    const e = setup(t, "hlock");
    const cf = e.conf();
    const dir = join(e.dataDir, e.w.network);
    mkdirSync(dir, { mode: 0o755, recursive: true });
    // A stuck process: holds flock on the store's lock and never lets go.
    // (its own process group: flock's child `sleep` holds the lock too)
    const holder = spawn("flock", ["--exclusive", join(dir, "lock"), "sleep", "3600"], { stdio: "ignore", detached: true });
    const killHolder = (): void => {
      try {
        process.kill(-holder.pid!, "SIGKILL");
      } catch {
        // gone already
      }
    };
    t.after(killHolder);
    // Wait until it holds the lock.
    for (let i = 0; i < 200; i++) {
      const probe = spawn("flock", ["--nonblock", join(dir, "lock"), "true"]);
      const status = await new Promise<number | null>((r) => probe.on("close", r));
      if (status !== 0) break;
      await new Promise((r) => setTimeout(r, 50));
    }
    const started = performance.now();
    const o = await e.w.cniAsync("ADD", e.c, cf, { tether, timeoutMs: 300_000 });
    const seconds = (performance.now() - started) / 1000;
    const err = errorJson(o);
    assert.equal(err.code, 11, JSON.stringify(err));
    assert.match(err.msg, /lock/);
    assert.deepEqual(containerLeftovers(e.c), [], "nothing made while waiting");
    assert.equal(reservationsIn(dir).size, 0);
    // DEL waits the same way and also says "try again later".
    assert.equal(errorJson(await e.w.cniAsync("DEL", e.c, cf, { tether, timeoutMs: 300_000 })).code, 11);
    const closed = new Promise((r) => holder.on("close", r));
    killHolder();
    await closed;
    successJson(e.w.cni("ADD", e.c, cf, { tether }));
    successEmpty(e.w.cni("DEL", e.c, cf, { tether }));
    report(t, { binary: tether.label, addWaitSeconds: seconds.toFixed(1), code: err.code });
  });

  test("figures: every hostile case ran and was refused or handled", (t) => {
    report(t, { refusedCalls: refused, handledCases: handled });
    assert.equal(refused, REFUSED_CASES, "refused calls");
    assert.equal(handled, HANDLED_CASES, "handled cases");
    assert.equal(refusedWhat.size, refused - BAD_IPAM.length, "each refused call a distinct case");
  });
});
