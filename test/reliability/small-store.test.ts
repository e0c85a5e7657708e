/**
 * Issue 18 item 8: a small store filesystem. On a fresh 16 KiB tmpfs (mounted inside a private mount
 * namespace of the test's own, over a directory it made: never on the host's paths) tether-ipam
 * keeps as many reservations as host-local does: its owner index reserves no space it does not
 * need, and an index that cannot be written is removed and not used. Then every DEL releases what
 * its ADD reserved, and nothing is left.
 */
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { chmodSync, existsSync, mkdtempSync, rmSync, symlinkSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { describe, test, type TestContext } from "node:test";
import { distCommand } from "../helpers/binary";
import { createNetns, netnsUnavailable } from "../helpers/netns";
import { report } from "../helpers/reliability";

const HOST_LOCAL = "/usr/lib/cni/host-local";
const MAIN = resolve(__dirname, "..", "..", "src", "main.js");
const ATTEMPTS = 8;
const skip = netnsUnavailable() ?? (existsSync(HOST_LOCAL) ? undefined : "host-local not installed (containernetworking-plugins)");

/**
 * In a private mount namespace: a 16 KiB tmpfs on $1, then ADD c1..cN until one fails, a listing of
 * the store, DEL of every id that was added, another listing. One line per step on stdout.
 */
const SCRIPT = `
set -u
dir=$1 plugin=$2 netns=$3 conf=$4 n=$5
mount -t tmpfs -o size=16k,mode=0755 tether-small "$dir" || exit 90
call() { printf '%s' "$conf" | env -i PATH=/usr/bin:/bin CNI_COMMAND=$1 CNI_CONTAINERID=$2 CNI_NETNS=$netns CNI_IFNAME=eth0 CNI_PATH=/nonexistent "$plugin" 2>/dev/null; }
added=0
for i in $(seq 1 "$n"); do
  out=$(call ADD c$i); st=$?
  printf 'ADD c%s %s %s\\n' "$i" "$st" "$(printf '%s' "$out" | tr -d '\\n')"
  [ "$st" -eq 0 ] || break
  added=$i
done
echo "FILES $(cd "$dir/small" 2>/dev/null && ls | tr '\\n' ' ')"
echo "INDEX $(stat -c %s "$dir/.tether-index/small" 2>/dev/null || echo none)"
for i in $(seq 1 "$added"); do out=$(call DEL c$i); echo "DEL c$i $? $out"; done
echo "AFTER $(cd "$dir/small" 2>/dev/null && ls | tr '\\n' ' ')"
`;

interface Outcome {
  added: number;
  lines: string[];
  files: string[];
  after: string[];
  index: string;
}

function pluginDir(t: TestContext): string {
  const dir = mkdtempSync(join(tmpdir(), "tether-small-plugin-"));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  const dist = distCommand();
  if (dist !== undefined) symlinkSync(dist.cmd, join(dir, "tether-ipam"));
  else {
    writeFileSync(join(dir, "tether-ipam"), `#!/bin/sh\nTETHER_AS=tether-ipam exec "${process.execPath}" "${MAIN}" "$@"\n`);
    chmodSync(join(dir, "tether-ipam"), 0o755);
  }
  return dir;
}

function onSmallTmpfs(t: TestContext, plugin: string, type: string): Outcome {
  const mnt = mkdtempSync(join(tmpdir(), "tether-small-mnt-"));
  t.after(() => rmSync(mnt, { recursive: true, force: true }));
  const ns = createNetns(t, "small");
  const conf = JSON.stringify({ cniVersion: "1.0.0", name: "small", type: "bridge", ipam: { type, dataDir: mnt, ranges: [[{ subnet: "10.77.0.0/24" }]] } });
  const r = spawnSync("unshare", ["-m", "--propagation", "private", "--", "sh", "-c", SCRIPT, "sh", mnt, plugin, ns.path, conf, String(ATTEMPTS)], {
    encoding: "utf8",
    env: { PATH: "/usr/sbin:/usr/bin:/sbin:/bin" },
    timeout: 120_000,
  });
  assert.equal(r.status, 0, `unshare/mount failed (${r.status}): ${r.stderr}`);
  const lines = r.stdout.trim().split("\n");
  const field = (tag: string): string => (lines.find((l) => l.startsWith(`${tag} `)) ?? `${tag} `).slice(tag.length + 1).trim();
  const added = lines.filter((l) => / 0 /.test(l) && l.startsWith("ADD ")).length;
  const list = (s: string): string[] => s.split(/\s+/).filter((x) => x !== "");
  return { added, lines, files: list(field("FILES")), after: list(field("AFTER")), index: field("INDEX") };
}

const addresses = (files: string[]): string[] => files.filter((f) => /^\d+\.\d+\.\d+\.\d+$/.test(f));

describe("a 16 KiB store filesystem", { skip }, () => {
  test("tether-ipam keeps as many reservations as host-local, releases them all, and leaves nothing", (t) => {
    const hl = onSmallTmpfs(t, HOST_LOCAL, "host-local");
    const te = onSmallTmpfs(t, join(pluginDir(t), "tether-ipam"), "tether-ipam");
    assert.ok(hl.added >= 1, `host-local could not reserve at all: ${hl.lines.join("\n")}`);
    assert.ok(te.added >= hl.added, `tether-ipam reserved ${te.added}, host-local ${hl.added}:\n${te.lines.join("\n")}`);
    assert.ok(te.added < ATTEMPTS, "the filesystem never filled up: the test proves nothing");
    // The ADD that did not fit failed cleanly: an error object, nothing reserved for it.
    const failed = te.lines.find((l) => l.startsWith(`ADD c${te.added + 1} `)) ?? "";
    assert.match(failed, /"code":\s*\d+/, failed);
    assert.equal(addresses(te.files).length, te.added, `store after the ADDs: ${te.files.join(" ")}`);
    assert.ok(te.index === "none" || Number(te.index) <= 4096, `index of ${te.index} bytes on a 16 KiB store`);
    for (const l of te.lines.filter((x) => x.startsWith("DEL "))) assert.match(l, /^DEL c\d+ 0 $/, l);
    assert.deepEqual(addresses(te.after), [], `left after every DEL: ${te.after.join(" ")}`);
    report(t, { "host-local reservations": hl.added, "tether-ipam reservations": te.added, "index bytes": te.index });
  });
});
