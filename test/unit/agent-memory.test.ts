/** The agent's release of its executable's start-up pages (src/agent/memory.ts). */
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import * as fs from "node:fs";
import * as os from "node:os";
import { join } from "node:path";
import { describe, test } from "node:test";
import { executableIs, readOnlyMappingsOf } from "../../src/agent/memory";

const MAPS = [
  "00400000-0074d000 r--p 00000000 fd:01 1234                               /opt/tether bin/tether",
  "0074d000-03200000 r-xp 0034d000 fd:01 1234                               /opt/tether bin/tether",
  "06b83000-06b87000 rw-p 06782000 fd:01 1234                               /opt/tether bin/tether",
  "06bae000-06be8000 rw-p 00000000 00:00 0 ",
  "0e7f0000-0e9c0000 r--p 067f0000 fd:01 1234                               /opt/tether bin/tether",
  "7f0000000000-7f0000001000 r--p 00000000 fd:01 99                         /opt/tether bin/tether-ipam",
  "7f0000002000-7f0000003000 r--p 00000000 fd:01 1234                       /opt/tether bin/tether (deleted)",
  "7ffd00000000-7ffd00021000 rw-p 00000000 00:00 0                          [stack]",
  "",
].join("\n");

/** Resident KiB of the mappings of `path` in smaps text. */
const RESIDENT = `function residentKiB(path) {
  let kib = 0, mine = false;
  for (const line of require("node:fs").readFileSync("/proc/self/smaps", "utf8").split("\\n")) {
    const m = /^[0-9a-f]+-[0-9a-f]+ \\S+ \\S+ \\S+ \\d+ +(.*)$/.exec(line);
    if (m) mine = m[1] === path;
    else if (mine && line.startsWith("Rss:")) kib += Number(/(\\d+)/.exec(line)[1]);
  }
  return kib;
}`;

describe("agent memory", () => {
  test("the read-only mappings of exactly the executable's path", () => {
    assert.deepEqual(readOnlyMappingsOf(MAPS, "/opt/tether bin/tether"), [
      { start: 0x400000, end: 0x74d000, perms: "r--p" },
      { start: 0x74d000, end: 0x3200000, perms: "r-xp" },
      { start: 0xe7f0000, end: 0xe9c0000, perms: "r--p" },
    ]);
    assert.deepEqual(readOnlyMappingsOf(MAPS, "/opt/tether bin/tether (deleted)"), [{ start: 0x7f0000002000, end: 0x7f0000003000, perms: "r--p" }], "a replaced executable");
    assert.deepEqual(readOnlyMappingsOf(MAPS, "/nowhere"), []);
  });

  test("releasing unmaps the executable's pages; the process runs on", (t) => {
    // A private copy of node: the kernel releases only pages no other process maps (the other
    // node processes of the machine share /usr/bin/node's).
    const dir = fs.mkdtempSync(join(os.tmpdir(), "tether-memory-"));
    t.after(() => fs.rmSync(dir, { recursive: true, force: true }));
    const exe = join(dir, "node");
    fs.copyFileSync(process.execPath, exe);
    fs.chmodSync(exe, 0o755);
    const script = `${RESIDENT}
      const exe = require("node:fs").readlinkSync("/proc/self/exe");
      const before = residentKiB(exe);
      const r = require(${JSON.stringify(require.resolve("../../src/agent/memory"))}).releaseExecutablePages();
      const after = residentKiB(exe);
      process.stdout.write(JSON.stringify({ before, after, bytes: r.bytes, ok: JSON.parse("[1,2]")[1] }));`;
    const out = spawnSync(exe, ["-e", script], { encoding: "utf8" });
    assert.equal(out.status, 0, out.stderr);
    const r = JSON.parse(out.stdout) as { before: number; after: number; bytes: number; ok: number };
    assert.ok(r.bytes > 0, "some mapping advised");
    assert.ok(r.before > 4096, `the executable was resident (${r.before} KiB)`);
    // What the code after the call runs comes back at once; most of Node's start-up stays out.
    assert.ok(r.after < r.before / 2, `resident ${r.before} -> ${r.after} KiB`);
    assert.equal(r.ok, 2, "the process runs on");
  });
});

test("executableIs: the agent's own executable file (a hard link of it too), not a copy of its bytes", () => {
  const dir = fs.mkdtempSync(join(os.tmpdir(), "tether-exe-"));
  try {
    const exe = fs.readlinkSync("/proc/self/exe");
    const copy = join(dir, "copy");
    fs.copyFileSync(exe, copy);
    assert.equal(executableIs(exe), true);
    assert.equal(executableIs(copy), false);
    assert.equal(executableIs(join(dir, "missing")), false);
    let linked = false;
    try {
      fs.linkSync(exe, join(dir, "link"));
      linked = true;
    } catch {
      // another filesystem: no hard link possible here
    }
    if (linked) assert.equal(executableIs(join(dir, "link")), true);
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
});
