/**
 * tether's owner index beside the host-local store: trusted only while the store is unchanged,
 * rebuilt after host-local (or anyone) changed it, never a reason for a wrong release.
 */
import assert from "node:assert/strict";
import * as fs from "node:fs";
import { join } from "node:path";
import { after, before, describe, it } from "node:test";
import { allocate, check, listReservations, openStore, release } from "../../src/ipam/index";
import { INDEX_DIR } from "../../src/ipam/ownerIndex";
import { clock } from "../../src/ipam/storeScan";
import sleep = require("../../src/util/sleep");
import { addressFiles, config, dataDirs, hostLocalAvailable, hostLocalConfJson, hostLocalSync } from "../helpers/ipamFixtures";

const dataDir = dataDirs("tether-ipam-index-");

const RANGES = [[{ subnet: "10.30.0.0/16" }]];
const owner = (id: string) => ({ containerId: id, ifname: "eth0" });
const addrOf = (cfg: ReturnType<typeof config>, id: string) => allocate(cfg, owner(id)).ips.map((i) => i.address);

// The kernel stamps files from a coarse clock; whether a time is "settled" depends on that clock's
// tick. These tests play the clock: far ahead (every time settled, so the counts below are exact)
// unless a test sets it otherwise.
const realClock = clock.coarseNow;
const farAhead = (): [number, number] => [Math.floor(Date.now() / 1000) + 100, 0];
before(() => {
  clock.coarseNow = farAhead;
});
after(() => {
  clock.coarseNow = realClock;
});

/** A ctime as the coarse clock's [s, ns], moved by `deltaNs`. */
function timeOf(path: string, deltaNs = 0n): [number, number] {
  const ns = fs.lstatSync(path, { bigint: true }).ctimeNs + deltaNs;
  return [Number(ns / 1_000_000_000n), Number(ns % 1_000_000_000n)];
}

/** Whether the next critical section trusts the index (true) or rebuilds it from the directory. */
function trusted(cfg: ReturnType<typeof config>): boolean {
  const store = openStore(cfg, {}, true);
  store.withLock(() => undefined);
  return !store.lastRebuilt;
}

describe("ipam owner index", () => {
  it("lives outside the network directory, 0700/0600, and is trusted between tether calls", () => {
    const dd = dataDir();
    const cfg = config(dd, { ranges: RANGES });
    addrOf(cfg, "a");
    addrOf(cfg, "b");
    assert.deepEqual([...fs.readdirSync(join(dd, "testnet"))].sort(), ["10.30.0.2", "10.30.0.3", "last_reserved_ip.0", "lock"]);
    assert.equal(fs.statSync(join(dd, INDEX_DIR)).mode & 0o777, 0o700);
    assert.equal(fs.statSync(join(dd, INDEX_DIR, "testnet")).mode & 0o777, 0o600);
    assert.equal(trusted(cfg), true);
    assert.equal(release(cfg, owner("a")), 1);
    assert.equal(trusted(cfg), true);
    assert.deepEqual([...addressFiles(dd).keys()], ["10.30.0.3"]);
    assert.deepEqual(listReservations(dd).map((r) => r.network), ["testnet"], "the index directory is not a network");
  });

  it("finds 3,000 attachments through a grown index and releases each exactly", () => {
    const dd = dataDir();
    const cfg = config(dd, { ranges: RANGES });
    for (let i = 0; i < 3000; i++) addrOf(cfg, `c${i}`);
    assert.equal(trusted(cfg), true);
    assert.deepEqual(check(cfg, owner("c1234")), ["10.30.4.212"]);
    for (let i = 0; i < 3000; i += 2) assert.equal(release(cfg, owner(`c${i}`)), 1, `c${i}`);
    assert.equal(addressFiles(dd).size, 1500);
    for (const [, content] of addressFiles(dd)) assert.match(content, /^c\d*[13579]\r\neth0$/);
  });

  it("rebuilds after a crash left it dirty, after the store was wiped, or when it is corrupt", () => {
    const dd = dataDir();
    const cfg = config(dd, { ranges: RANGES });
    addrOf(cfg, "a");
    const idx = join(dd, INDEX_DIR, "testnet");
    const fd = fs.openSync(idx, "r+");
    fs.writeSync(fd, Buffer.from([0]), 0, 1, 8); // the dirty flag a crash mid-operation leaves
    fs.closeSync(fd);
    assert.equal(trusted(cfg), false);
    assert.equal(trusted(cfg), true);
    fs.rmSync(join(dd, "testnet"), { recursive: true });
    assert.deepEqual(addrOf(cfg, "b"), ["10.30.0.2/16"]);
    assert.deepEqual(check(cfg, owner("b")), ["10.30.0.2"]);
    assert.throws(() => check(cfg, owner("a")), /no IP address reserved/);
    fs.writeFileSync(idx, "garbage");
    assert.equal(release(cfg, owner("b")), 1);
  });

  it("is not used when its place holds a symlink or its directory is world-writable; allocation still works", () => {
    const dd = dataDir();
    const cfg = config(dd, { ranges: RANGES });
    fs.mkdirSync(join(dd, INDEX_DIR), { mode: 0o700 });
    const victim = join(dd, "victim");
    fs.writeFileSync(victim, "keep");
    fs.symlinkSync(victim, join(dd, INDEX_DIR, "testnet"));
    assert.deepEqual(addrOf(cfg, "a"), ["10.30.0.2/16"]);
    assert.equal(release(cfg, owner("a")), 1);
    assert.equal(fs.readFileSync(victim, "utf8"), "keep");
    fs.rmSync(join(dd, INDEX_DIR, "testnet"));
    fs.chmodSync(join(dd, INDEX_DIR), 0o777);
    assert.deepEqual(addrOf(cfg, "b"), ["10.30.0.3/16"]); // round robin from last_reserved
    assert.equal(fs.existsSync(join(dd, INDEX_DIR, "testnet")), false);
    assert.equal(release(cfg, owner("b")), 1);
  });

  it("a stale entry (released behind its back, address reused by another owner) never releases the wrong one", () => {
    const dd = dataDir();
    const cfg = config(dd, { ranges: RANGES });
    addrOf(cfg, "a");
    // Someone rewrites the file as another owner's without tether seeing it (same name, new owner).
    fs.unlinkSync(join(dd, "testnet", "10.30.0.2"));
    fs.writeFileSync(join(dd, "testnet", "10.30.0.2"), "other\r\neth0", { mode: 0o600 });
    assert.equal(release(cfg, owner("a")), 0);
    assert.equal(fs.readFileSync(join(dd, "testnet", "10.30.0.2"), "utf8"), "other\r\neth0");
    assert.equal(release(cfg, owner("other")), 1);
  });

  it("legacy id-only files (old host-local) are found and released", () => {
    const dd = dataDir();
    const cfg = config(dd, { ranges: RANGES });
    addrOf(cfg, "a");
    fs.writeFileSync(join(dd, "testnet", "10.30.9.9"), "legacy", { mode: 0o600 });
    assert.deepEqual(check(cfg, owner("legacy")), ["10.30.9.9"]);
    assert.equal(release(cfg, owner("legacy")), 1);
    assert.equal(fs.existsSync(join(dd, "testnet", "10.30.9.9")), false);
  });

  it("a long run of taken addresses after last_reserved is skipped through one listing", () => {
    const dd = dataDir();
    const cfg = config(dd, { ranges: RANGES });
    addrOf(cfg, "first"); // 10.30.0.2, last_reserved = .2
    for (let i = 3; i < 300; i++) fs.writeFileSync(join(dd, "testnet", `10.30.${i >> 8}.${i & 255}`), `x${i}\r\neth0`, { mode: 0o600 });
    assert.deepEqual(addrOf(cfg, "next"), ["10.30.1.44/16"]);
  });
});

/** How the next critical section brought the index up to date, and how many address files it read. */
function refreshOf(cfg: ReturnType<typeof config>): { refresh: string; filesRead: number } {
  const store = openStore(cfg, {}, true);
  store.withLock(() => undefined);
  return { refresh: store.lastRefresh, filesRead: store.lastFilesRead };
}

describe("ipam owner index, incremental refresh (issue 13: a store shared with host-local)", () => {
  it("after files appear, disappear or are replaced behind its back, reads only those, and answers right", () => {
    const dd = dataDir();
    const cfg = config(dd, { ranges: RANGES });
    for (let i = 0; i < 200; i++) addrOf(cfg, `c${i}`);
    assert.deepEqual(refreshOf(cfg), { refresh: "trusted", filesRead: 0 });
    const net = join(dd, "testnet");
    // As host-local would: a new reservation, a release, and an address released and taken again by another owner.
    fs.writeFileSync(join(net, "10.30.9.1"), "h1\r\neth0", { mode: 0o600 });
    fs.unlinkSync(join(net, "10.30.0.2")); // c0's
    fs.unlinkSync(join(net, "10.30.0.3")); // c1's ...
    fs.writeFileSync(join(net, "10.30.0.3"), "h2\r\neth0", { mode: 0o600 }); // ... now h2's
    assert.deepEqual(refreshOf(cfg), { refresh: "incremental", filesRead: 2 });
    assert.deepEqual(refreshOf(cfg), { refresh: "trusted", filesRead: 0 });
    assert.deepEqual(check(cfg, owner("h1")), ["10.30.9.1"]);
    assert.deepEqual(check(cfg, owner("h2")), ["10.30.0.3"]);
    assert.throws(() => check(cfg, owner("c0")), /no IP address reserved/);
    assert.throws(() => check(cfg, owner("c1")), /no IP address reserved/);
    assert.equal(release(cfg, owner("c1")), 0, "c1's old address now belongs to h2");
    assert.equal(release(cfg, owner("h2")), 1);
    assert.deepEqual(check(cfg, owner("c150")), ["10.30.0.152"]);
  });

  it("IPv6 stores refresh the same way (entries matched by name)", () => {
    const dd = dataDir();
    const cfg = config(dd, { ranges: [[{ subnet: "fd00:30::/64" }]] });
    for (let i = 0; i < 20; i++) addrOf(cfg, `c${i}`);
    const net = join(dd, "testnet");
    fs.writeFileSync(join(net, "fd00:30::99"), "h1\r\neth0", { mode: 0o600 });
    fs.unlinkSync(join(net, "fd00:30::2")); // c0's
    assert.deepEqual(refreshOf(cfg), { refresh: "incremental", filesRead: 1 });
    assert.deepEqual(check(cfg, owner("h1")), ["fd00:30::99"]);
    assert.deepEqual(check(cfg, owner("c19")), ["fd00:30::15"]);
    assert.throws(() => check(cfg, owner("c0")), /no IP address reserved/);
  });

  it("a rewrite in place (same inode, new ctime) is read again", () => {
    const dd = dataDir();
    const cfg = config(dd, { ranges: RANGES });
    addrOf(cfg, "a");
    addrOf(cfg, "b");
    const file = join(dd, "testnet", "10.30.0.2");
    fs.writeFileSync(file, "z\r\neth0"); // same inode
    fs.utimesSync(join(dd, "testnet"), new Date(), new Date(Date.now() + 1000)); // the directory changed too
    assert.deepEqual(refreshOf(cfg), { refresh: "incremental", filesRead: 1 });
    assert.deepEqual(check(cfg, owner("z")), ["10.30.0.2"]);
  });

  it("a crash mid-operation (dirty header) costs a listing, not a read of every file", () => {
    const dd = dataDir();
    const cfg = config(dd, { ranges: RANGES });
    for (let i = 0; i < 50; i++) addrOf(cfg, `c${i}`);
    const fd = fs.openSync(join(dd, INDEX_DIR, "testnet"), "r+");
    fs.writeSync(fd, Buffer.from([0]), 0, 1, 8);
    fs.closeSync(fd);
    assert.deepEqual(refreshOf(cfg), { refresh: "incremental", filesRead: 0 });
    fs.writeFileSync(join(dd, INDEX_DIR, "testnet"), "garbage");
    assert.deepEqual(refreshOf(cfg), { refresh: "full", filesRead: 50 });
    assert.deepEqual(check(cfg, owner("c49")), ["10.30.0.51"]);
  });

  it("reserves no space it does not need: a small store's index is under 2 KiB and shrinks after mass release", () => {
    const dd = dataDir();
    const cfg = config(dd, { ranges: RANGES });
    addrOf(cfg, "a");
    const idx = join(dd, INDEX_DIR, "testnet");
    assert.ok(fs.statSync(idx).size <= 2048, `index of one reservation is ${fs.statSync(idx).size} bytes`);
    for (let i = 0; i < 2000; i++) addrOf(cfg, `c${i}`);
    const big = fs.statSync(idx).size;
    for (let i = 0; i < 2000; i++) fs.unlinkSync(join(dd, "testnet", `10.30.${(i + 3) >> 8}.${(i + 3) & 255}`));
    assert.equal(refreshOf(cfg).refresh, "incremental");
    assert.ok(fs.statSync(idx).size < big / 8, `index after releasing 2000 of 2001: ${fs.statSync(idx).size} bytes (was ${big})`);
    assert.deepEqual(check(cfg, owner("a")), ["10.30.0.2"]);
  });
});

describe("ipam owner index with host-local on the same store", { skip: hostLocalAvailable() ? false : "host-local not installed" }, () => {
  it("each releases what the other made; tether sees host-local's changes", () => {
    const dd = dataDir();
    const cfg = config(dd, { ranges: RANGES });
    const conf = hostLocalConfJson(dd, { ranges: RANGES });
    addrOf(cfg, "t1");
    assert.equal(trusted(cfg), true);
    assert.equal(hostLocalSync("ADD", "h1", conf).status, 0);
    assert.equal(trusted(cfg), false, "host-local's ADD invalidates the index");
    assert.deepEqual(check(cfg, owner("h1")), ["10.30.0.3"]);
    assert.throws(() => allocate(cfg, owner("h1")), /duplicate allocation/);
    assert.equal(release(cfg, owner("h1")), 1, "tether releases host-local's reservation");
    assert.equal(hostLocalSync("DEL", "t1", conf).status, 0, "host-local releases tether's");
    assert.equal(addressFiles(dd).size, 0);
    assert.equal(release(cfg, owner("t1")), 0);
    assert.deepEqual(addrOf(cfg, "t2"), ["10.30.0.4/16"]);
    const hl = hostLocalSync("ADD", "h2", conf);
    assert.equal(hl.status, 0, hl.stdout);
    assert.match(hl.stdout, /10\.30\.0\.5\/16/);
    assert.deepEqual(new Map(addressFiles(dd)), new Map([["10.30.0.4", "t2\r\neth0"], ["10.30.0.5", "h2\r\neth0"]]));
  });
});

/** How the next critical section came to trust the index, and whether it listed the names to do so. */
function checkOf(cfg: ReturnType<typeof config>): { refresh: string; filesRead: number; namesChecked: number } {
  const store = openStore(cfg, {}, true);
  store.withLock(() => undefined);
  return { refresh: store.lastRefresh, filesRead: store.lastFilesRead, namesChecked: store.lastNamesChecked };
}

/**
 * Run `fn` (a change to the store directory, as host-local would make) as if in the same tick as the
 * index's last commit: the kernel would have stamped the directory with the times it already had,
 * so the header's stamp is given the directory's new times. Asserts the commit left a clean header.
 */
function inSameTick(dd: string, fn: () => void): void {
  const idx = join(dd, INDEX_DIR, "testnet");
  const h = fs.readFileSync(idx).subarray(0, 1024);
  assert.equal(h[8], 1, "the commit left a clean header (not a refresh for every call)");
  const stamp = JSON.parse(h.toString("utf8", 32, 32 + h.readUInt32LE(24))) as { mtime: string; ctime: string; u?: number };
  assert.equal(stamp.u, 1, "the stamp is marked unsettled");
  fn();
  const d = fs.lstatSync(join(dd, "testnet"), { bigint: true });
  stamp.mtime = String(d.mtimeNs);
  stamp.ctime = String(d.ctimeNs);
  const json = Buffer.from(JSON.stringify(stamp));
  h.fill(0, 24);
  h.writeUInt32LE(json.length, 24);
  json.copy(h, 32);
  const fd = fs.openSync(idx, "r+");
  fs.writeSync(fd, h, 0, 1024, 0);
  fs.closeSync(fd);
}

/** Call fn on a kernel without multigrain timestamps: the coarse clock stays in the tick of the directory's last change (a chmod does not settle it). */
function oldKernel<T>(net: string, fn: () => T): { value: T; sleeps: number; clockReads: number } {
  const realSleep = sleep.sleepSync;
  let sleeps = 0;
  let clockReads = 0;
  try {
    sleep.sleepSync = (ms: number) => {
      sleeps++;
      realSleep(ms);
    };
    clock.coarseNow = () => {
      clockReads++;
      return timeOf(net);
    };
    return { value: fn(), sleeps, clockReads };
  } finally {
    clock.coarseNow = farAhead;
    sleep.sleepSync = realSleep;
  }
}

describe("ipam owner index on coarse timestamps (a change in the same tick as the index's own)", () => {
  it("without multigrain timestamps, a commit does not wait for the tick under the lock", () => {
    const dd = dataDir();
    const cfg = config(dd, { ranges: RANGES });
    const net = join(dd, "testnet");
    addrOf(cfg, "a");
    const r = oldKernel(net, () => addrOf(cfg, "b"));
    assert.deepEqual(r.value, ["10.30.0.3/16"]);
    assert.equal(r.sleeps, 0, "no sleep under the lock");
    assert.ok(r.clockReads <= 4, `the clock was read ${r.clockReads} times (not polled)`);
    // The next call checks the names once (nothing changed: trusted) and, the clock having moved, settles the stamp.
    assert.deepEqual(checkOf(cfg), { refresh: "trusted", filesRead: 0, namesChecked: 1 });
    assert.deepEqual(checkOf(cfg), { refresh: "trusted", filesRead: 0, namesChecked: 0 });
  });

  it("without multigrain timestamps, a host-local create in the same tick as tether's commit is seen by the next call", () => {
    const dd = dataDir();
    const cfg = config(dd, { ranges: RANGES });
    const net = join(dd, "testnet");
    addrOf(cfg, "a");
    oldKernel(net, () => addrOf(cfg, "b"));
    inSameTick(dd, () => fs.writeFileSync(join(net, "10.30.9.1"), "h1\r\neth0", { mode: 0o600 }));
    // Read: h1's new file, and b's (recorded in the tick that wrote it).
    assert.deepEqual(checkOf(cfg), { refresh: "incremental", filesRead: 2, namesChecked: 1 });
    assert.deepEqual(check(cfg, owner("h1")), ["10.30.9.1"]);
    assert.equal(release(cfg, owner("h1")), 1);
  });

  it("without multigrain timestamps, an unlink in the same tick as tether's commit is seen by the next call", () => {
    const dd = dataDir();
    const cfg = config(dd, { ranges: RANGES });
    const net = join(dd, "testnet");
    addrOf(cfg, "a");
    oldKernel(net, () => addrOf(cfg, "b"));
    inSameTick(dd, () => fs.unlinkSync(join(net, "10.30.0.2"))); // a's, released by host-local
    assert.deepEqual(checkOf(cfg), { refresh: "incremental", filesRead: 1, namesChecked: 1 }, "b's file read again (recorded in its tick)");
    assert.throws(() => check(cfg, owner("a")), /no IP address reserved/);
    assert.equal(release(cfg, owner("b")), 1);
  });

  it("a store directory changed in the clock's current tick is checked by its names at the next call", () => {
    const dd = dataDir();
    const cfg = config(dd, { ranges: RANGES });
    const net = join(dd, "testnet");
    addrOf(cfg, "a");
    assert.equal(trusted(cfg), true);
    // The clock still in the tick of the directory's last change, as on a kernel without multigrain
    // timestamps: host-local creating a file right after tether let the lock go would stamp the
    // directory with the same time. The stamp is marked unsettled; the next call lists the names.
    try {
      clock.coarseNow = () => timeOf(net);
      addrOf(cfg, "b");
    } finally {
      clock.coarseNow = farAhead;
    }
    assert.deepEqual(checkOf(cfg), { refresh: "trusted", filesRead: 0, namesChecked: 1 }, "nothing changed since: the names prove it");
    fs.writeFileSync(join(net, "10.30.9.1"), "h1\r\neth0", { mode: 0o600 });
    assert.equal(refreshOf(cfg).refresh, "incremental");
    assert.deepEqual(check(cfg, owner("h1")), ["10.30.9.1"]);
    // The same call with the clock a tick later: trusted.
    try {
      clock.coarseNow = () => timeOf(net, 4_000_000n);
      addrOf(cfg, "c");
    } finally {
      clock.coarseNow = farAhead;
    }
    assert.deepEqual(refreshOf(cfg), { refresh: "trusted", filesRead: 0 });
  });

  it("on this kernel's own clock, calls in quick succession trust the index (settled by a multigrain stamp, or checked by its names)", () => {
    const dd = dataDir();
    const cfg = config(dd, { ranges: RANGES });
    try {
      clock.coarseNow = realClock;
      for (let i = 0; i < 5; i++) {
        addrOf(cfg, `q${i}`);
        assert.deepEqual(refreshOf(cfg), { refresh: "trusted", filesRead: 0 }, `after ADD ${i}`);
      }
      assert.equal(release(cfg, owner("q2")), 1);
      assert.deepEqual(refreshOf(cfg), { refresh: "trusted", filesRead: 0 });
    } finally {
      clock.coarseNow = farAhead;
    }
  });

  it("an unsettled stamp is checked by its names while the clock has not moved, and settled once it has", () => {
    const dd = dataDir();
    const cfg = config(dd, { ranges: RANGES });
    const net = join(dd, "testnet");
    oldKernel(net, () => addrOf(cfg, "a"));
    // Still the same tick: each call lists the names (and, writing nothing, leaves the stamp as is).
    for (let i = 0; i < 2; i++) assert.deepEqual(oldKernel(net, () => checkOf(cfg)).value, { refresh: "trusted", filesRead: 0, namesChecked: 1 });
    assert.deepEqual(checkOf(cfg), { refresh: "trusted", filesRead: 0, namesChecked: 1 });
    assert.deepEqual(checkOf(cfg), { refresh: "trusted", filesRead: 0, namesChecked: 0 });
  });

  it("a file recorded in the tick that wrote it is read again at the next refresh (deleted and re-made, same inode and ctime)", () => {
    const dd = dataDir();
    const cfg = config(dd, { ranges: RANGES });
    const net = join(dd, "testnet");
    try {
      clock.coarseNow = () => [0, 1]; // every time unsettled
      addrOf(cfg, "a");
      addrOf(cfg, "b");
    } finally {
      clock.coarseNow = farAhead;
    }
    // Both files' ctimes prove nothing: a file deleted and created again in that tick could carry
    // the same inode and ctime. So a refresh (here: a new file) reads both, where settled ones it would not.
    fs.writeFileSync(join(net, "10.30.9.1"), "h1\r\neth0", { mode: 0o600 });
    assert.deepEqual(refreshOf(cfg), { refresh: "incremental", filesRead: 3 });
    fs.writeFileSync(join(net, "10.30.9.2"), "h2\r\neth0", { mode: 0o600 });
    assert.deepEqual(refreshOf(cfg), { refresh: "incremental", filesRead: 1 });
  });

  it("an unsettled file is settled by a later trusted call, so a refresh after it reads only what changed", () => {
    const dd = dataDir();
    const cfg = config(dd, { ranges: RANGES });
    const net = join(dd, "testnet");
    // The clock 1 ns before the newest address file's ctime (the one the ADD just made) or the
    // directory's, whichever is older: the file unsettled, the directory (ahead of the clock, as
    // only multigrain timestamps are) settled.
    const justBefore = (): [number, number] => {
      let t = fs.lstatSync(net, { bigint: true }).ctimeNs;
      let newest = -1n;
      for (const name of addressFiles(dd).keys()) newest = [newest, fs.lstatSync(join(net, name), { bigint: true }).ctimeNs].reduce((x, y) => (x > y ? x : y));
      if (newest >= 0n && newest < t) t = newest;
      t -= 1n;
      return [Number(t / 1_000_000_000n), Number(t % 1_000_000_000n)];
    };
    const run = (settle: boolean): { refresh: string; filesRead: number } => {
      try {
        clock.coarseNow = justBefore;
        addrOf(cfg, "a");
      } finally {
        clock.coarseNow = farAhead;
      }
      if (settle) assert.deepEqual(refreshOf(cfg), { refresh: "trusted", filesRead: 0 });
      fs.writeFileSync(join(net, "10.30.9.1"), "h1\r\neth0", { mode: 0o600 });
      const r = refreshOf(cfg);
      assert.equal(release(cfg, owner("a")), 1);
      fs.unlinkSync(join(net, "10.30.9.1"));
      return r;
    };
    assert.deepEqual(run(false), { refresh: "incremental", filesRead: 2 });
    assert.deepEqual(run(true), { refresh: "incremental", filesRead: 1 });
  });
});
