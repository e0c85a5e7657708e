/** Installing the plugin: atomic, only when the bytes differ; the tether-ipam link; the state file. */
import assert from "node:assert/strict";
import * as fs from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, test } from "node:test";
import { installPlugin, sameBytes, writeIfChanged } from "../../src/agent/install";
import { readState, writeState } from "../../src/agent/state";

function scratch(t: { after(fn: () => void): void }): string {
  const dir = fs.mkdtempSync(join(tmpdir(), "tether-agent-install-"));
  t.after(() => fs.rmSync(dir, { recursive: true, force: true }));
  return dir;
}

describe("agent install", () => {
  test("temporary files an earlier agent left (killed mid-copy) are removed; other files stay", (t) => {
    const dir = scratch(t);
    const src = join(dir, "src-bin");
    fs.writeFileSync(src, "tether bytes");
    const bin = join(dir, "bin");
    fs.mkdirSync(bin);
    for (const f of [".tether.0123456789abcdef.tmp", ".tether-ipam.fedcba9876543210.tmp", "portmap", ".tether.keep", "tether.tmp"]) fs.writeFileSync(join(bin, f), "x");
    installPlugin(src, bin);
    assert.deepEqual(fs.readdirSync(bin).sort(), [".tether.keep", "portmap", "tether", "tether-ipam", "tether.tmp"]);
  });
  test("copies the executable and links tether-ipam; again: nothing written; changed bytes: replaced by rename", (t) => {
    const dir = scratch(t);
    const src = join(dir, "src-bin");
    fs.writeFileSync(src, Buffer.alloc(3 << 20, 7));
    const bin = join(dir, "bin");
    assert.deepEqual(installPlugin(src, bin), { binary: "written", link: "written" });
    assert.ok(sameBytes(src, join(bin, "tether")));
    assert.equal(fs.statSync(join(bin, "tether")).mode & 0o777, 0o755);
    assert.equal(fs.readlinkSync(join(bin, "tether-ipam")), "tether");
    const ino = fs.statSync(join(bin, "tether")).ino;
    assert.deepEqual(installPlugin(src, bin), { binary: "unchanged", link: "unchanged" });
    assert.equal(fs.statSync(join(bin, "tether")).ino, ino, "not rewritten");
    // A byte differing in the last chunk only, and a link pointing elsewhere.
    const buf = Buffer.alloc(3 << 20, 7);
    buf[buf.length - 1] = 8;
    fs.writeFileSync(src, buf);
    fs.rmSync(join(bin, "tether-ipam"));
    fs.symlinkSync("/usr/lib/cni/host-local", join(bin, "tether-ipam"));
    assert.deepEqual(installPlugin(src, bin), { binary: "written", link: "written" });
    assert.notEqual(fs.statSync(join(bin, "tether")).ino, ino, "a new file renamed over the old one");
    assert.ok(sameBytes(src, join(bin, "tether")));
    assert.equal(fs.readlinkSync(join(bin, "tether-ipam")), "tether");
    assert.deepEqual(fs.readdirSync(bin).sort(), ["tether", "tether-ipam"], "no temporary file left");
  });

  test("sameBytes: size, content, a missing file, a symlink are all 'different'", (t) => {
    const dir = scratch(t);
    fs.writeFileSync(join(dir, "a"), "abc");
    fs.writeFileSync(join(dir, "b"), "abd");
    fs.writeFileSync(join(dir, "c"), "abcd");
    fs.symlinkSync(join(dir, "a"), join(dir, "l"));
    assert.equal(sameBytes(join(dir, "a"), join(dir, "a")), true);
    assert.equal(sameBytes(join(dir, "a"), join(dir, "b")), false);
    assert.equal(sameBytes(join(dir, "a"), join(dir, "c")), false);
    assert.equal(sameBytes(join(dir, "a"), join(dir, "nope")), false);
    assert.equal(sameBytes(join(dir, "a"), join(dir, "l")), false);
  });

  test("writeIfChanged and the state file are written only when their text changes", (t) => {
    const dir = scratch(t);
    let writes = 0;
    const w = (p: string, s: string): void => {
      writes++;
      fs.writeFileSync(p, s);
    };
    assert.equal(writeIfChanged(join(dir, "f"), "x", w), true);
    assert.equal(writeIfChanged(join(dir, "f"), "x", w), false);
    assert.equal(writes, 1);
    const state = { node: "n", podCidrs: ["10.0.0.0/24"], conflist: "/c", routes: [{ dst: "10.0.1.0/24", gw: "192.168.0.2", node: "m" }], clusterCidrs: { 4: ["10.0.0.0/24", "10.0.1.0/24"], 6: [] } };
    const text = writeState(join(dir, "st"), state, undefined);
    assert.deepEqual(readState(join(dir, "st", "agent-state.json")), state);
    const mtime = fs.statSync(join(dir, "st", "agent-state.json")).mtimeMs;
    writeState(join(dir, "st"), state, text);
    assert.equal(fs.statSync(join(dir, "st", "agent-state.json")).mtimeMs, mtime);
    assert.equal(readState(join(dir, "missing.json")), undefined);
    fs.writeFileSync(join(dir, "bad.json"), "{}");
    assert.throws(() => readState(join(dir, "bad.json")), /not an agent state file/);
  });
});
