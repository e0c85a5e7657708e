/** Interop with the reference host-local binary sharing the same data directory. */
import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { ErrorCode } from "../../src/cni/errors";
import { allocate, check, release } from "../../src/ipam/index";
import { refusedWith } from "../helpers/refusal";
import {
  WORKER,
  addressFiles,
  config,
  dataDirs,
  hostLocal,
  hostLocalAvailable,
  hostLocalConfJson,
  hostLocalSync,
  runNode,
  storeFiles,
  writeConfig,
} from "../helpers/ipamFixtures";

const skip = hostLocalAvailable() ? false : "host-local binary not installed";
const dataDir = dataDirs("tether-ipam-hl-");

interface HostLocalResult {
  ips: { address: string; gateway?: string }[];
}

function hlAdd(conf: string, id: string, ifname = "eth0", cniArgs?: string): string[] {
  const r = cniArgs === undefined ? hostLocalSync("ADD", id, conf, ifname) : hostLocalWithArgs(conf, id, cniArgs);
  assert.equal(r.status, 0, `host-local ADD ${id}: ${r.stdout} ${r.stderr}`);
  return (JSON.parse(r.stdout) as HostLocalResult).ips.map((i) => i.address);
}

function hostLocalWithArgs(conf: string, id: string, cniArgs: string) {
  const { spawnSync } = require("node:child_process") as typeof import("node:child_process");
  return spawnSync("/usr/lib/cni/host-local", [], {
    env: { CNI_COMMAND: "ADD", CNI_CONTAINERID: id, CNI_NETNS: "/dev/null", CNI_IFNAME: "eth0", CNI_PATH: "/usr/lib/cni", CNI_ARGS: cniArgs },
    input: conf,
    encoding: "utf8",
  });
}

function hlDel(conf: string, id: string, ifname = "eth0"): void {
  const r = hostLocalSync("DEL", id, conf, ifname);
  assert.equal(r.status, 0, `host-local DEL ${id}: ${r.stdout} ${r.stderr}`);
}

const RANGES = [[{ subnet: "10.20.0.0/24" }], [{ subnet: "fd20::/64" }]];


describe("ipam interop with host-local", { skip }, () => {
  it("never hands out an address the other allocated, and continues its round-robin", () => {
    const dd = dataDir();
    const cfg = config(dd, { ranges: RANGES });
    const conf = hostLocalConfJson(dd, { ranges: RANGES });
    const a = allocate(cfg, { containerId: "t1", ifname: "eth0" }).ips.map((i) => i.address);
    const b = hlAdd(conf, "h1");
    const c = allocate(cfg, { containerId: "t2", ifname: "eth0" }).ips.map((i) => i.address);
    const d = hlAdd(conf, "h2");
    assert.deepEqual([a, b, c, d], [
      ["10.20.0.2/24", "fd20::2/64"],
      ["10.20.0.3/24", "fd20::3/64"],
      ["10.20.0.4/24", "fd20::4/64"],
      ["10.20.0.5/24", "fd20::5/64"],
    ]);
    // host-local's files are the same format as ours
    const files = addressFiles(dd);
    assert.equal(files.get("10.20.0.3"), "h1\r\neth0");
    assert.equal(files.get("fd20::4"), "t2\r\neth0");
    assert.equal(storeFiles(dd).get("last_reserved_ip.1"), "fd20::5");
  });

  it("each releases the other's reservations and sees them in CHECK / duplicate checks", () => {
    const dd = dataDir();
    const cfg = config(dd, { ranges: RANGES });
    const conf = hostLocalConfJson(dd, { ranges: RANGES });
    allocate(cfg, { containerId: "t1", ifname: "eth0" });
    hlAdd(conf, "h1");
    // tether refuses a duplicate for host-local's attachment, host-local for tether's
    assert.throws(() => allocate(cfg, { containerId: "h1", ifname: "eth0" }), refusedWith(ErrorCode.AddressUnavailable, /duplicate/));
    const dup = hostLocalSync("ADD", "t1", conf);
    assert.notEqual(dup.status, 0);
    assert.match(dup.stdout, /duplicate allocation is not allowed/);
    assert.deepEqual(check(cfg, { containerId: "h1", ifname: "eth0" }).sort(), ["10.20.0.3", "fd20::3"]);
    assert.equal(hostLocalSync("CHECK", "t1", conf).status, 0);

    hlDel(conf, "t1");
    assert.equal(release(cfg, { containerId: "h1", ifname: "eth0" }), 2);
    assert.deepEqual([...addressFiles(dd).keys()], []);
    hlDel(conf, "t1"); // idempotent on both sides
    assert.equal(release(cfg, { containerId: "h1", ifname: "eth0" }), 0);
  });

  it("honours a requested address the other holds, both ways", () => {
    const dd = dataDir();
    const cfg = config(dd, { ranges: RANGES });
    const conf = hostLocalConfJson(dd, { ranges: RANGES });
    hlAdd(conf, "h1", "eth0", "IgnoreUnknown=1;IP=10.20.0.50");
    assert.throws(() => allocate(cfg, { containerId: "t1", ifname: "eth0", requestedIps: ["10.20.0.50"] }), /10\.20\.0\.50 is already in use by h1\/eth0/);
    allocate(cfg, { containerId: "t1", ifname: "eth0", requestedIps: ["fd20::60"] });
    const r = hostLocalWithArgs(conf, "h2", "IgnoreUnknown=1;IP=fd20::60");
    assert.notEqual(r.status, 0);
    assert.match(r.stdout, /fd20::60 is not available/);
  });

  it("stays consistent with interleaved parallel ADDs and cross DELs", { timeout: 180_000 }, async () => {
    const dd = dataDir();
    const cfg = config(dd, { ranges: RANGES });
    const conf = hostLocalConfJson(dd, { ranges: RANGES });
    const cfgPath = writeConfig(dd, cfg);
    const ids = Array.from({ length: 32 }, (_, i) => `x${i}`);
    const adds = await Promise.all(
      ids.map((id, i) => (i % 2 === 0 ? runNode([WORKER, "alloc", cfgPath, id]) : hostLocal("ADD", id, conf))),
    );
    const addresses = adds.flatMap((o, i) => {
      assert.equal(o.code, 0, `${ids[i]}: ${o.stdout} ${o.stderr}`);
      return (JSON.parse(o.stdout) as HostLocalResult).ips.map((x) => x.address);
    });
    assert.equal(addresses.length, 64);
    assert.equal(new Set(addresses).size, 64);
    assert.equal(addressFiles(dd).size, 64);

    // each side releases the attachments the other created
    const dels = await Promise.all(ids.map((id, i) => (i % 2 === 1 ? runNode([WORKER, "release", cfgPath, id]) : hostLocal("DEL", id, conf))));
    for (const o of dels) assert.equal(o.code, 0, o.stdout + o.stderr);
    assert.deepEqual([...addressFiles(dd).keys()], []);
  });
});
