import assert from "node:assert/strict";
import { spawn, spawnSync } from "node:child_process";
import * as fs from "node:fs";
import { join } from "node:path";
import { describe, it } from "node:test";
import { ErrorCode } from "../../src/cni/errors";
import type { IpamConfig } from "../../src/config/ipam";
import { DiskStore } from "../../src/ipam/diskStore";
import { allocate, check, gc, listReservations, release } from "../../src/ipam/index";
import { addressFiles, config, dataDirs, runNode, storeFiles, WORKER, writeConfig } from "../helpers/ipamFixtures";
import { refusedWith } from "../helpers/refusal";

const dataDir = dataDirs();
const att = (containerId: string, ifname = "eth0") => ({ containerId, ifname });
const addr = (cfg: IpamConfig, id: string, ifname = "eth0") => allocate(cfg, att(id, ifname)).ips.map((i) => i.address);

const cniErr = refusedWith;


describe("ipam store: host-local layout", () => {
  it("writes `id\\r\\nifname` byte-exact, mode 0600, in a 0755 network dir, with last_reserved_ip.N and lock", () => {
    const dd = dataDir();
    const cfg = config(dd, { ranges: [[{ subnet: "10.0.0.0/24" }], [{ subnet: "fd00:0:0:1::/64" }]] });
    const res = allocate(cfg, att("c1"));
    assert.deepEqual(res, {
      ips: [
        { address: "10.0.0.2/24", gateway: "10.0.0.1" },
        { address: "fd00:0:0:1::2/64", gateway: "fd00:0:0:1::1" },
      ],
      routes: [],
    });
    const dir = join(dd, "testnet");
    assert.equal(fs.statSync(dir).mode & 0o777, 0o755);
    assert.deepEqual(fs.readFileSync(join(dir, "10.0.0.2")), Buffer.from("c1\r\neth0"));
    assert.deepEqual(fs.readFileSync(join(dir, "fd00:0:0:1::2")), Buffer.from("c1\r\neth0"));
    assert.equal(fs.statSync(join(dir, "10.0.0.2")).mode & 0o777, 0o600);
    assert.deepEqual(fs.readFileSync(join(dir, "last_reserved_ip.0")), Buffer.from("10.0.0.2"));
    assert.deepEqual(fs.readFileSync(join(dir, "last_reserved_ip.1")), Buffer.from("fd00:0:0:1::2"));
    assert.equal(fs.statSync(join(dir, "lock")).size, 0);
    for (const name of fs.readdirSync(dir)) assert.equal(fs.statSync(join(dir, name)).mode & 0o002, 0, name);
  });

  it("returns routes and dns from resolvConf", () => {
    const dd = dataDir();
    const rc = join(dd, "resolv.conf");
    fs.writeFileSync(rc, "# c\nnameserver 1.1.1.1\nnameserver 8.8.8.8\ndomain ex.com\nsearch a.com b.com\noptions ndots:2 rotate\nbogus\n");
    const cfg = config(dd, { subnet: "10.0.0.0/24", routes: [{ dst: "0.0.0.0/0" }], resolvConf: rc });
    const res = allocate(cfg, att("c1"));
    assert.deepEqual(res.routes, [{ dst: "0.0.0.0/0" }]);
    assert.deepEqual(res.dns, { nameservers: ["1.1.1.1", "8.8.8.8"], domain: "ex.com", search: ["a.com", "b.com"], options: ["ndots:2", "rotate"] });
    const bad = config(dd, { subnet: "10.0.1.0/24", resolvConf: join(dd, "missing") }, "other");
    assert.throws(() => allocate(bad, att("c1")), cniErr(ErrorCode.InvalidConfig, /^ipam\.resolvConf: cannot read .*missing: ENOENT/));
    assert.equal(fs.existsSync(join(dd, "other")), false);
  });

  it("allocates round-robin across calls, not reusing a just-released address", () => {
    const cfg = config(dataDir(), { subnet: "10.0.0.0/29" });
    assert.deepEqual(addr(cfg, "c1"), ["10.0.0.2/29"]);
    assert.deepEqual(addr(cfg, "c2"), ["10.0.0.3/29"]);
    assert.equal(release(cfg, att("c1")), 1);
    assert.deepEqual(addr(cfg, "c3"), ["10.0.0.4/29"]);
    assert.deepEqual(addr(cfg, "c4"), ["10.0.0.5/29"]);
    assert.deepEqual(addr(cfg, "c5"), ["10.0.0.6/29"]);
    assert.deepEqual(addr(cfg, "c6"), ["10.0.0.2/29"]); // wrapped, skipping the gateway .1
  });

  it("reports exhaustion with code 101, the set and the count in use", () => {
    const cfg = config(dataDir(), { subnet: "10.0.0.0/29" });
    for (let i = 0; i < 5; i++) addr(cfg, `c${i}`);
    assert.throws(() => addr(cfg, "cx"), cniErr(ErrorCode.IpamExhausted, "no IP addresses available in range set 0 (10.0.0.1-10.0.0.6): 5 of 5 addresses in use"));
  });

  it("refuses a second allocation for the same container and ifname, allows another ifname", () => {
    const cfg = config(dataDir(), { subnet: "10.0.0.0/24" });
    addr(cfg, "c1");
    assert.throws(() => addr(cfg, "c1"), cniErr(ErrorCode.AddressUnavailable, "10.0.0.2 has been allocated to c1/eth0, duplicate allocation is not allowed"));
    assert.deepEqual(addr(cfg, "c1", "eth1"), ["10.0.0.3/24"]);
  });

  it("reserves requested addresses and refuses a held one, the gateway and an outside one (code 102)", () => {
    const dd = dataDir();
    const cfg = config(dd, { ranges: [[{ subnet: "10.0.0.0/24" }], [{ subnet: "fd00::/64" }]] });
    assert.deepEqual(allocate(cfg, { ...att("c1"), requestedIps: ["10.0.0.77/24"] }).ips.map((i) => i.address), ["10.0.0.77/24", "fd00::2/64"]);
    assert.deepEqual(fs.readFileSync(join(dd, "testnet", "last_reserved_ip.0"), "utf8"), "10.0.0.77");
    assert.throws(() => allocate(cfg, { ...att("c2"), requestedIps: ["10.0.0.77"] }), cniErr(ErrorCode.AddressUnavailable, "requested IP address 10.0.0.77 is already in use by c1/eth0"));
    assert.throws(() => allocate(cfg, { ...att("c2"), requestedIps: ["10.0.0.1"] }), cniErr(ErrorCode.AddressUnavailable, /10\.0\.0\.1 is the gateway/));
    assert.throws(() => allocate(cfg, { ...att("c2"), requestedIps: ["10.9.0.1"] }), cniErr(ErrorCode.AddressUnavailable, /10\.9\.0\.1 is outside every range set/));
    // the failed calls left nothing behind
    assert.deepEqual([...addressFiles(dd).keys()].sort(), ["10.0.0.77", "fd00::2"]);
  });

  it("uses cfg.requestedIps (CNI_ARGS / args / runtimeConfig) when the call gives none", () => {
    const dd = dataDir();
    const cfg = config(dd, { subnet: "10.0.0.0/24" }, "testnet", { runtimeConfig: { ips: ["10.0.0.99"] } });
    assert.deepEqual(addr(cfg, "c1"), ["10.0.0.99/24"]);
  });

  it("releases earlier sets when a later set fails", () => {
    const dd = dataDir();
    const cfg = config(dd, { ranges: [[{ subnet: "10.0.0.0/24" }], [{ subnet: "10.1.0.0/30" }]] });
    addr(cfg, "c1"); // takes 10.1.0.2, the only address of set 1
    assert.throws(() => addr(cfg, "c2"), cniErr(ErrorCode.IpamExhausted, /range set 1/));
    assert.deepEqual([...addressFiles(dd).keys()].sort(), ["10.0.0.2", "10.1.0.2"]);
  });
});

describe("ipam store: release and check", () => {
  it("releases every address of the attachment, idempotently, and only that attachment's", () => {
    const dd = dataDir();
    const cfg = config(dd, { ranges: [[{ subnet: "10.0.0.0/24" }], [{ subnet: "fd00::/64" }]] });
    addr(cfg, "c1");
    addr(cfg, "c1", "eth1");
    addr(cfg, "c2");
    assert.equal(release(cfg, att("c1")), 2);
    assert.equal(release(cfg, att("c1")), 0);
    assert.deepEqual([...addressFiles(dd).values()].sort(), ["c1\r\neth1", "c1\r\neth1", "c2\r\neth0", "c2\r\neth0"]);
    assert.deepEqual(check(cfg, att("c2")).sort(), ["10.0.0.4", "fd00::4"]);
    assert.throws(() => check(cfg, att("c1")), cniErr(ErrorCode.CheckFailed, /no IP address reserved for container c1 interface eth0/));
  });

  it("succeeds with 0 when the network directory does not exist, without creating it", () => {
    const dd = dataDir();
    const cfg = config(dd, { subnet: "10.0.0.0/24" });
    assert.equal(release(cfg, att("c1")), 0);
    assert.equal(fs.existsSync(join(dd, "testnet")), false);
    assert.throws(() => check(cfg, att("c1")), cniErr(ErrorCode.CheckFailed, /c1/));
  });

  it("releases legacy id-only files when no exact match exists (as host-local)", () => {
    const dd = dataDir();
    const cfg = config(dd, { subnet: "10.0.0.0/24" });
    addr(cfg, "c0");
    fs.writeFileSync(join(dd, "testnet", "10.0.0.50"), "c9", { mode: 0o600 });
    assert.deepEqual(check(cfg, att("c9")), ["10.0.0.50"]);
    assert.equal(release(cfg, att("c9")), 1);
    assert.deepEqual([...addressFiles(dd).keys()], ["10.0.0.2"]);
  });

  it("GC releases every reservation not held by a valid attachment, legacy ones by container id", () => {
    const dd = dataDir();
    const cfg = config(dd, { subnet: "10.0.0.0/24" });
    addr(cfg, "keep");
    addr(cfg, "keep", "eth1");
    addr(cfg, "gone");
    fs.writeFileSync(join(dd, "testnet", "10.0.0.100"), "keep", { mode: 0o600 });
    fs.writeFileSync(join(dd, "testnet", "10.0.0.101"), "old", { mode: 0o600 });
    assert.equal(gc(cfg, [att("keep")]), 3);
    assert.deepEqual([...addressFiles(dd).entries()].sort(), [["10.0.0.100", "keep"], ["10.0.0.2", "keep\r\neth0"]]);
    assert.ok(fs.existsSync(join(dd, "testnet", "last_reserved_ip.0")));
    assert.equal(gc(config(dataDir(), { subnet: "10.0.0.0/24" }), []), 0);
  });

  it("lists reservations for the CLI", () => {
    const dd = dataDir();
    addr(config(dd, { subnet: "10.0.0.0/24" }, "neta"), "c1");
    addr(config(dd, { subnet: "fd00::/64" }, "netb"), "c2", "net1");
    fs.writeFileSync(join(dd, "neta", "10.0.0.10"), "old", { mode: 0o600 });
    assert.deepEqual(listReservations(dd), [
      { network: "neta", address: "10.0.0.2", containerId: "c1", ifname: "eth0" },
      { network: "neta", address: "10.0.0.10", containerId: "old", ifname: "" },
      { network: "netb", address: "fd00::2", containerId: "c2", ifname: "net1" },
    ]);
    assert.equal(listReservations(dd, "netb").length, 1);
    assert.deepEqual(listReservations(join(dd, "nope")), []);
  });
});

describe("ipam store: path safety", () => {
  it("refuses network names that leave the data directory", () => {
    const dd = dataDir();
    const cfg = config(dd, { subnet: "10.0.0.0/24" });
    for (const network of ["..", "../x", "a/b", "/abs", "a\0b", ".", ""]) {
      const bad = { ...cfg, network };
      assert.throws(() => allocate(bad, att("c1")), cniErr(ErrorCode.InvalidConfig, /^name: /), network);
      assert.throws(() => release(bad, att("c1")), cniErr(ErrorCode.InvalidConfig, /^name: /), network);
      assert.throws(() => listReservations(dd, network), cniErr(ErrorCode.InvalidConfig, /^name: /), network);
    }
    assert.deepEqual(fs.readdirSync(dd), []);
  });

  it("refuses container ids and ifnames that could break the path or the file format", () => {
    const dd = dataDir();
    const cfg = config(dd, { subnet: "10.0.0.0/24" });
    for (const id of ["", "../x", "a/b", "a\0b", "a\r\nb", " a", "..", "."]) {
      assert.throws(() => allocate(cfg, att(id)), cniErr(ErrorCode.InvalidEnvironment, /^CNI_CONTAINERID: /), JSON.stringify(id));
      assert.throws(() => release(cfg, att(id)), cniErr(ErrorCode.InvalidEnvironment, /^CNI_CONTAINERID: /));
    }
    for (const ifname of ["", "a/b", "eth0\r\nx", "..", "a:b", "0123456789abcdef"]) {
      assert.throws(() => allocate(cfg, att("c1", ifname)), cniErr(ErrorCode.InvalidEnvironment, /^CNI_IFNAME: /), JSON.stringify(ifname));
    }
    assert.deepEqual(fs.readdirSync(dd), []);
  });

  it("does not follow a symlink planted as an address, last_reserved_ip or a reservation", () => {
    const dd = dataDir();
    const victim = join(dd, "victim");
    fs.writeFileSync(victim, "precious");
    const cfg = config(dd, { subnet: "10.0.0.0/24" });
    const dir = join(dd, "testnet");
    fs.mkdirSync(dir, { mode: 0o755 });
    fs.symlinkSync(victim, join(dir, "10.0.0.2"));
    fs.symlinkSync(victim, join(dir, "last_reserved_ip.0"));
    assert.deepEqual(addr(cfg, "c1"), ["10.0.0.3/24"]); // .2 counts as taken
    assert.equal(fs.readFileSync(victim, "utf8"), "precious");
    assert.ok(fs.lstatSync(join(dir, "last_reserved_ip.0")).isFile());
    assert.equal(fs.readFileSync(join(dir, "last_reserved_ip.0"), "utf8"), "10.0.0.3");

    // a symlinked "reservation" whose target holds the key is neither read nor released
    const target = join(dd, "target");
    fs.writeFileSync(target, "c2\r\neth0");
    fs.symlinkSync(target, join(dir, "10.0.0.9"));
    assert.equal(release(cfg, att("c2")), 0);
    assert.ok(fs.lstatSync(join(dir, "10.0.0.9")).isSymbolicLink());
    assert.equal(fs.readFileSync(target, "utf8"), "c2\r\neth0");
    assert.deepEqual(listReservations(dd).map((r) => r.address), ["10.0.0.3"]);
  });

  it("refuses a symlinked lock file or network directory, and a world-writable directory", () => {
    const dd = dataDir();
    const victim = join(dd, "victim");
    fs.writeFileSync(victim, "");
    fs.mkdirSync(join(dd, "n1"), { mode: 0o755 });
    fs.symlinkSync(victim, join(dd, "n1", "lock"));
    assert.throws(() => addr(config(dd, { subnet: "10.0.0.0/24" }, "n1"), "c1"), cniErr(ErrorCode.IoFailure, /cannot open lock file .*n1\/lock: ELOOP/));

    const elsewhere = join(dd, "elsewhere");
    fs.mkdirSync(elsewhere);
    fs.symlinkSync(elsewhere, join(dd, "n2"));
    assert.throws(() => addr(config(dd, { subnet: "10.0.0.0/24" }, "n2"), "c1"), cniErr(ErrorCode.IoFailure, /n2 is not a directory \(symlinks are refused\)/));
    assert.deepEqual(fs.readdirSync(elsewhere), []);

    fs.mkdirSync(join(dd, "n3"));
    fs.chmodSync(join(dd, "n3"), 0o777);
    assert.throws(() => addr(config(dd, { subnet: "10.0.0.0/24" }, "n3"), "c1"), cniErr(ErrorCode.IoFailure, /n3 is world-writable/));
    assert.deepEqual(fs.readdirSync(join(dd, "n3")), []);
  });
});

describe("ipam store: locking and concurrency", () => {
  it("gives up with code 11 naming the lock when another process holds it", async () => {
    const dd = dataDir();
    const cfg = config(dd, { subnet: "10.0.0.0/24" });
    const store = DiskStore.open(dd, "testnet", { create: true });
    assert.ok(store);
    const holder = spawn(process.execPath, [WORKER, "hold-lock", store.lockPath], { stdio: ["pipe", "pipe", "inherit"] });
    try {
      await new Promise<void>((resolve, reject) => {
        holder.stdout.once("data", () => resolve());
        holder.once("exit", (code) => reject(new Error(`lock holder exited ${code}`)));
      });
      const t0 = Date.now();
      assert.throws(
        () => allocate(cfg, { ...att("c1"), lockTimeoutMs: 300 }),
        cniErr(ErrorCode.TryAgainLater, `timed out after 300 ms waiting for the IPAM lock ${store.lockPath}`),
      );
      assert.ok(Date.now() - t0 >= 300);
      assert.throws(() => release(cfg, { ...att("c1"), lockTimeoutMs: 100 }), cniErr(ErrorCode.TryAgainLater, /IPAM lock/));
    } finally {
      holder.stdin.end();
      await new Promise((r) => holder.once("close", r));
    }
    assert.deepEqual(addr(cfg, "c1"), ["10.0.0.2/24"]); // free again once the holder is gone
  });

  // Dominated by 128 node start-ups; generous for a loaded CI machine.
  it("hands unique addresses to 64 parallel processes", { timeout: 180_000 }, async () => {
    const dd = dataDir();
    const cfg = config(dd, { ranges: [[{ subnet: "10.0.0.0/24" }], [{ subnet: "fd00::/64" }]] });
    const cfgPath = writeConfig(dd, cfg);
    const outs = await Promise.all(Array.from({ length: 64 }, (_, i) => runNode([WORKER, "alloc", cfgPath, `par${i}`])));
    const results = outs.map((o) => {
      assert.equal(o.code, 0, o.stderr);
      return JSON.parse(o.stdout) as { ips?: { address: string }[]; error?: unknown };
    });
    const addresses = results.flatMap((r) => {
      assert.equal(r.error, undefined, JSON.stringify(r.error));
      return (r.ips ?? []).map((i) => i.address);
    });
    assert.equal(addresses.length, 128);
    assert.equal(new Set(addresses).size, 128);
    const files = addressFiles(dd);
    assert.equal(files.size, 128);
    assert.equal(new Set(files.values()).size, 64);

    const rel = await Promise.all(Array.from({ length: 64 }, (_, i) => runNode([WORKER, "release", cfgPath, `par${i}`])));
    for (const o of rel) assert.deepEqual(JSON.parse(o.stdout), { released: 2 });
    assert.deepEqual([...storeFiles(dd).keys()].sort(), ["last_reserved_ip.0", "last_reserved_ip.1", "lock"]);
  });
});

describe("ipam store: a reservation appears whole", () => {
  // strace kills the allocating process at its N-th write or linkat, for every N up to the end of
  // the allocation. Create-then-write (host-local's way) would leave an empty file at one of those
  // points, which no DEL could ever release; the store must hold whole reservations or none.
  const strace = spawnSync("strace", ["-V"]).status === 0;
  it("killed at any write or link, the store holds only complete reservations, and DEL releases them all", { skip: strace ? false : "strace is not installed" }, async () => {
    const dd = dataDir();
    const cfg = config(dd, { subnet: "10.0.0.0/24" });
    const cfgPath = writeConfig(dd, cfg);
    const ids: string[] = [];
    let completed = false;
    for (let n = 1; n <= 40 && !completed; n++) {
      const id = `kill${n}`;
      ids.push(id);
      const r = spawnSync("strace", ["-f", "-qq", "-o", "/dev/null", "-e", "trace=write,linkat", "-e", `inject=write,linkat:signal=KILL:when=${n}`, process.execPath, WORKER, "alloc", cfgPath, id], { encoding: "utf8" });
      completed = r.status === 0;
      if (!completed) assert.equal(r.signal ?? (r.status !== null && r.status > 128 ? "KILL" : r.status), "SIGKILL", `run ${n}: ${r.stderr}`);
      for (const [name, content] of addressFiles(dd)) {
        assert.match(content, /^kill\d+\r\neth0$/, `run ${n}: reservation ${name} is whole`);
      }
    }
    assert.ok(completed, "an allocation ran to its end within 40 writes and links");
    assert.ok(ids.length > 3, "the kill points covered the reservation's writes");
    for (const id of ids) release(cfg, att(id));
    assert.deepEqual([...addressFiles(dd).keys()], [], "every reservation released");
  });
});
