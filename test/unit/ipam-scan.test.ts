/**
 * The owner index's view of a store directory (src/ipam/storeScan.ts): the getdents64 + fstatat pass
 * must see exactly what readdirSync + lstatSync see, and IPv4 names parse only in canonical form.
 */
import assert from "node:assert/strict";
import * as fs from "node:fs";
import { spawnSync } from "node:child_process";
import { join } from "node:path";
import { describe, it } from "node:test";
import { fileSettled, parseV4Bytes, scanPortable, scanStore, settled } from "../../src/ipam/storeScan";
import { dataDirs } from "../helpers/ipamFixtures";

const dataDir = dataDirs("tether-ipam-scan-");

function v4(text: string): number {
  const b = Buffer.from(`xx${text}yy`, "latin1");
  return parseV4Bytes(b, 2, 2 + text.length);
}

function visits(dir: string, scan: typeof scanStore): string[] {
  const out: string[] = [];
  scan(dir, (a, v6, st) => {
    const name = v6 ?? `${a >>> 24}.${(a >>> 16) & 255}.${(a >>> 8) & 255}.${a & 255}`;
    out.push(`${name} ${st.ino} ${st.ctimeSec}.${st.ctimeNsec}`);
  });
  return out.sort();
}

describe("ipam store scan", () => {
  it("parses canonical dotted IPv4 names only", () => {
    assert.equal(v4("10.30.0.2"), (10 << 24) + (30 << 16) + 2);
    assert.equal(v4("255.255.255.255"), 0xffffffff);
    assert.equal(v4("0.0.0.0"), 0);
    for (const bad of ["010.30.0.2", "10.30.0.02", "10.30.0.256", "10.30.0", "10.30.0.2.1", "10.30..2", "10.30.0.2.", ".10.30.0.2", "1a.0.0.1", "", "1000.0.0.1", "lock", "last_reserved_ip.0"]) {
      assert.equal(v4(bad), -1, bad);
    }
  });

  it("sees the same address files, inodes and ctimes as readdirSync and lstatSync, and nothing else", () => {
    const dir = dataDir();
    const want = ["10.30.0.2", "10.30.0.3", "10.30.255.254", "fd00::5", "2001:db8::1"];
    for (const n of want) fs.writeFileSync(join(dir, n), "id\r\neth0", { mode: 0o600 });
    for (let i = 0; i < 3000; i++) fs.writeFileSync(join(dir, `10.31.${i >> 8}.${i & 255}`), `c${i}\r\neth0`);
    // Not reservations: other names, a non-canonical address, a directory, a symlink, a FIFO.
    fs.writeFileSync(join(dir, "lock"), "");
    fs.writeFileSync(join(dir, "last_reserved_ip.0"), "10.30.0.3");
    fs.writeFileSync(join(dir, "010.30.0.9"), "x");
    fs.writeFileSync(join(dir, "fd00:0::6"), "x");
    fs.mkdirSync(join(dir, "10.30.0.7"));
    fs.symlinkSync(join(dir, "10.30.0.2"), join(dir, "10.30.0.8"));
    const fast = visits(dir, scanStore);
    assert.deepEqual(fast, visits(dir, scanPortable));
    assert.equal(fast.length, want.length + 3000);
    const names = new Set(fast.map((l) => l.split(" ")[0]));
    for (const n of want) assert.ok(names.has(n), n);
    for (const n of ["10.30.0.7", "10.30.0.8", "010.30.0.9", "fd00:0::6"]) assert.ok(!names.has(n), n);
  });

  it("quietJit's flags are set through V8's exported function, without loading node:v8", () => {
    const libc = join(__dirname, "../../src/sys/libc.js");
    const code = [
      `const { setV8Flags } = require(${JSON.stringify(libc)});`,
      `const ok = setV8Flags("--trace-gc");`,
      `let keep = []; for (let i = 0; i < 300000; i++) keep.push({ i }); keep = null;`,
      `process.stderr.write(JSON.stringify({ ok, v8: process.moduleLoadList.includes("NativeModule v8") }));`,
    ].join("\n");
    const r = spawnSync(process.execPath, ["-e", code], { encoding: "utf8", env: { PATH: process.env["PATH"] ?? "/usr/bin:/bin" } });
    assert.equal(r.status, 0, r.stderr);
    assert.deepEqual(JSON.parse(r.stderr), { ok: true, v8: false });
    assert.match(r.stdout, /Scavenge|Mark-Compact/, "--trace-gc took effect");
  });

  it("settled: a time of the clock's current tick (or the same second, on a filesystem of whole seconds) is not", () => {
    const now: [number, number] = [1000, 500_000_000];
    assert.equal(settled(1000, 400_000_000, now, false), true);
    assert.equal(settled(1000, 500_000_000, now, false), false, "the same tick");
    assert.equal(settled(1000, 500_000_001, now, false), false, "a file's time ahead of the clock");
    assert.equal(settled(1000, 500_000_001, now, true), true, "a directory's fine-grained time (multigrain)");
    assert.equal(settled(1000, 500_000_000, now, true), false);
    assert.equal(settled(1003, 1, now, true), false, "far ahead: a clock set back, not a fine-grained time");
    assert.equal(settled(999, 0, now, true), false, "whole seconds: wait two");
    assert.equal(settled(998, 0, now, true), true);
    assert.equal(fileSettled(1000_400, now), true);
    assert.equal(fileSettled(1000_500, now), false);
    assert.equal(fileSettled(999_000, now), false, "whole seconds");
    assert.equal(fileSettled(998_000, now), true);
  });
});
