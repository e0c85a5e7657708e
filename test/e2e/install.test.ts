/**
 * scripts/install.sh into temp directories: the binary lands by rename (no temp files left, an
 * old binary's inode is replaced rather than rewritten in place), tether-ipam is a symlink to it,
 * and the example conflist is written only when a conf dir is given (an edited one is kept).
 */
import { strict as assert } from "node:assert";
import { spawnSync, type SpawnSyncReturns } from "node:child_process";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { after, before, describe, it } from "node:test";

function findRoot(): string {
  for (let dir = __dirname; dir !== path.dirname(dir); dir = path.dirname(dir)) {
    try {
      const pkg = JSON.parse(fs.readFileSync(path.join(dir, "package.json"), "utf8")) as { name?: unknown };
      if (pkg.name === "tether") return dir;
    } catch {
      // keep walking up
    }
  }
  throw new Error(`no tether package.json above ${__dirname}`);
}

const root = findRoot();
const INSTALL = path.join(root, "scripts/install.sh");
const TETHER = path.join(root, "dist/tether");
const CONFLIST = path.join(root, "conf/10-tether.conflist");
const PATH_ENV = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";

function install(args: string[], cwd = os.tmpdir()): SpawnSyncReturns<string> {
  const r = spawnSync("bash", [INSTALL, ...args], { cwd, encoding: "utf8", env: { PATH: PATH_ENV } });
  if (r.error) throw r.error;
  return r;
}

function ok(r: SpawnSyncReturns<string>): void {
  assert.equal(r.status, 0, `install.sh exit ${r.status}: ${r.stderr}`);
  assert.equal(r.stdout, "", "install.sh writes nothing to stdout");
}

describe("scripts/install.sh", () => {
  let base = "";
  before(() => {
    assert.ok(fs.existsSync(TETHER), "dist/tether is missing: run scripts/build.sh first (scripts/test.sh does)");
    base = fs.mkdtempSync(path.join(os.tmpdir(), "tether-install-"));
  });
  after(() => {
    fs.rmSync(base, { recursive: true, force: true });
  });

  it("installs the binary and the tether-ipam symlink, no temp files, no conflist unless asked", () => {
    const bin = path.join(base, "fresh", "bin");
    ok(install(["--bin-dir", bin]));
    assert.deepEqual(fs.readdirSync(bin).sort(), ["tether", "tether-ipam"]);
    const st = fs.statSync(path.join(bin, "tether"));
    assert.equal(st.mode & 0o777, 0o755);
    assert.equal(st.size, fs.statSync(TETHER).size);
    assert.ok(fs.readFileSync(path.join(bin, "tether")).equals(fs.readFileSync(TETHER)));
    assert.equal(fs.lstatSync(path.join(bin, "tether-ipam")).isSymbolicLink(), true);
    assert.equal(fs.readlinkSync(path.join(bin, "tether-ipam")), "tether");
    assert.deepEqual(fs.readdirSync(path.join(base, "fresh")), ["bin"], "no conf dir was asked for");

    const r = spawnSync(path.join(bin, "tether"), [], {
      input: '{"cniVersion":"1.1.0"}',
      encoding: "utf8",
      env: { PATH: PATH_ENV, CNI_COMMAND: "VERSION" },
    });
    assert.equal(r.status, 0, r.stderr);
    assert.equal((JSON.parse(r.stdout) as { cniVersion: string }).cniVersion, "1.1.0");
  });

  it("replaces an existing binary by rename, never writing into the old file", () => {
    const bin = path.join(base, "upgrade", "bin");
    fs.mkdirSync(bin, { recursive: true });
    // The old binary shares its inode with a sentinel: an in-place write would change both.
    const sentinel = path.join(base, "upgrade", "old-binary");
    fs.writeFileSync(sentinel, "old tether\n", { mode: 0o755 });
    fs.linkSync(sentinel, path.join(bin, "tether"));
    fs.symlinkSync("somewhere-else", path.join(bin, "tether-ipam"));
    ok(install(["--bin-dir", bin], base));
    assert.equal(fs.readFileSync(sentinel, "utf8"), "old tether\n");
    assert.notEqual(fs.statSync(path.join(bin, "tether")).ino, fs.statSync(sentinel).ino);
    assert.equal(fs.readlinkSync(path.join(bin, "tether-ipam")), "tether");
    assert.deepEqual(fs.readdirSync(bin).sort(), ["tether", "tether-ipam"]);
  });

  it("writes the example conflist when a conf dir is given, and keeps an edited one", () => {
    const bin = path.join(base, "conf", "bin");
    const conf = path.join(base, "conf", "net.d");
    ok(install(["--bin-dir", bin, "--conf-dir", conf]));
    assert.deepEqual(fs.readdirSync(conf), ["10-tether.conflist"]);
    const dest = path.join(conf, "10-tether.conflist");
    assert.equal(fs.readFileSync(dest, "utf8"), fs.readFileSync(CONFLIST, "utf8"));
    assert.equal(fs.statSync(dest).mode & 0o777, 0o644);
    const parsed = JSON.parse(fs.readFileSync(dest, "utf8")) as {
      name: string;
      cniVersion: string;
      cniVersions: string[];
      plugins: Array<{ type: string; ipam: { type: string } }>;
    };
    assert.equal(parsed.name, "tether");
    assert.equal(parsed.cniVersion, "1.0.0", "libcni 1.1 (containerd 1.6/1.7, podman 4) refuses 1.1.0 results");
    assert.deepEqual(parsed.cniVersions, ["1.0.0", "1.1.0"]);
    assert.equal(parsed.plugins[0]?.type, "tether");
    assert.equal(parsed.plugins[0]?.ipam.type, "tether-ipam");

    fs.writeFileSync(dest, '{"edited": true}\n');
    const kept = install(["--bin-dir", bin, "--conf-dir", conf]);
    ok(kept);
    assert.match(kept.stderr, /kept the existing/);
    assert.equal(fs.readFileSync(dest, "utf8"), '{"edited": true}\n');

    ok(install(["--bin-dir", bin, "--conf-dir", conf, "--force-conf"]));
    assert.equal(fs.readFileSync(dest, "utf8"), fs.readFileSync(CONFLIST, "utf8"));
    assert.deepEqual(fs.readdirSync(conf), ["10-tether.conflist"], "no temp files in the conf dir");
    assert.deepEqual(fs.readdirSync(bin).sort(), ["tether", "tether-ipam"], "no temp files in the bin dir");
  });

  it("fails cleanly on a missing binary or a bad argument, leaving nothing behind", () => {
    const bin = path.join(base, "fail", "bin");
    const missing = install(["--bin-dir", bin, "--binary", path.join(base, "nope")]);
    assert.notEqual(missing.status, 0);
    assert.match(missing.stderr, /not found/);
    assert.equal(fs.existsSync(bin), false);
    const bad = install(["--bin-dir"]);
    assert.equal(bad.status, 2);
    assert.equal(install(["--frobnicate"]).status, 2);
  });
});
