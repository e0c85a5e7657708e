/**
 * tether's owner index beside the host-local store: trusted only while the store is unchanged,
 * rebuilt after host-local (or anyone) changed it, never a reason for a wrong release.
 */
import assert from "node:assert/strict";
import * as fs from "node:fs";
import { join } from "node:path";
import { describe, it } from "node:test";
import { allocate, check, listReservations, openStore, release } from "../../src/ipam/index";
import { INDEX_DIR } from "../../src/ipam/ownerIndex";
import { addressFiles, config, dataDirs, hostLocalAvailable, hostLocalConfJson, hostLocalSync } from "../helpers/ipamFixtures";

const dataDir = dataDirs("tether-ipam-index-");

const RANGES = [[{ subnet: "10.30.0.0/16" }]];
const owner = (id: string) => ({ containerId: id, ifname: "eth0" });
const addrOf = (cfg: ReturnType<typeof config>, id: string) => allocate(cfg, owner(id)).ips.map((i) => i.address);

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
