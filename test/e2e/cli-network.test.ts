/**
 * The operator CLI end to end, inside a node namespace: `tether exec add|check|del`, `tether status`,
 * `tether gc`, and `tether doctor` finding and fixing an attachment whose namespace went away.
 */
import assert from "node:assert/strict";
import { spawn, spawnSync } from "node:child_process";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { test } from "node:test";
import { cniWorld, tetherCommand } from "../helpers/binary";
import { netnsUnavailable } from "../helpers/netns";

const skip = netnsUnavailable();

test("tether exec, status, gc and doctor drive a real network", { skip, timeout: 300_000 }, (t) => {
  const w = cniWorld(t, { label: "cli", ranges: [[{ subnet: "10.64.0.0/24" }]] });
  const dir = mkdtempSync(join(tmpdir(), "tether-cli-"));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  const conflist = join(dir, "net.conflist");
  const plugin = w.conf("1.1.0", { isGateway: true, ipMasq: true });
  delete plugin["cniVersion"];
  delete plugin["name"];
  // as the shipped conflists: 1.0.0 for libcni 1.1 runtimes; tether picks 1.1.0 from cniVersions (STATUS, GC need it)
  const list = { cniVersion: "1.0.0", cniVersions: ["1.0.0", "1.1.0"], name: w.network, plugins: [plugin] };
  writeFileSync(conflist, JSON.stringify(list));
  const t0 = tetherCommand();
  const cli = (...args: string[]) => {
    const r = spawnSync("ip", ["netns", "exec", w.node.name, t0.cmd, ...t0.args, ...args], {
      encoding: "utf8",
      env: { PATH: process.env["PATH"] ?? "/usr/sbin:/usr/bin:/sbin:/bin", CNI_PATH: dirname(t0.cmd) },
    });
    return { status: r.status, stdout: r.stdout, stderr: r.stderr };
  };
  const cache = ["--cache-dir", join(dir, "cache")];

  const st = cli("status", "--conf", conflist);
  assert.equal(st.status, 0, st.stderr);
  assert.match(st.stdout, /ready/);

  const c1 = w.container("e1");
  const add = cli("exec", "add", "--conf", conflist, "--netns", c1.path, "--id", "cli-1", ...cache);
  assert.equal(add.status, 0, add.stderr);
  const result = JSON.parse(add.stdout) as { ips: { address: string }[] };
  assert.match(result.ips[0]!.address, /^10\.64\.0\./);
  assert.ok(c1.ping("10.64.0.1", 5));
  assert.equal(cli("exec", "check", "--conf", conflist, "--netns", c1.path, "--id", "cli-1", ...cache).status, 0);
  const c2 = w.container("e2");
  assert.equal(cli("exec", "add", "--conf", conflist, "--netns", c2.path, "--id", "cli-2", ...cache).status, 0);

  // A container whose namespace file goes away while a process keeps the namespace (and its veth) alive.
  const c3 = w.container("e3");
  assert.equal(cli("exec", "add", "--conf", conflist, "--netns", c3.path, "--id", "cli-3", ...cache).status, 0);
  const holder = spawn("ip", ["netns", "exec", c3.name, "sleep", "600"], { stdio: "ignore" });
  t.after(() => holder.kill("SIGKILL"));
  spawnSync("sleep", ["0.5"]);
  c3.remove();
  const found = cli("doctor", "--conf", conflist, "--data-dir", w.dataDir, "--json");
  assert.equal(found.status, 1, found.stderr);
  const findings = JSON.parse(found.stdout) as { kind: string; subject: string }[];
  assert.deepEqual(findings.map((f) => [f.kind, f.subject]), [["leaked-attachment", `${w.network} cli-3/eth0`]]);
  const fixed = cli("doctor", "--conf", conflist, "--data-dir", w.dataDir, "--fix");
  assert.equal(fixed.status, 0, fixed.stdout + fixed.stderr);
  assert.match(fixed.stdout, /removed/);
  assert.equal(w.reservations().size, 2);
  assert.equal(w.nodeVeths().length, 2);
  assert.equal(cli("doctor", "--conf", conflist, "--data-dir", w.dataDir).status, 0);

  assert.equal(cli("gc", "--conf", conflist).status, 2, "gc needs --valid or --none-valid");
  const noGcList = join(dir, "nogc.conflist");
  writeFileSync(noGcList, JSON.stringify({ ...list, disableGC: true }));
  const noGc = cli("gc", "--conf", noGcList, "--none-valid");
  assert.equal(noGc.status, 0, noGc.stderr);
  assert.match(noGc.stdout, /disableGC is set/);
  assert.equal(w.reservations().size, 2, "disableGC: nothing collected");
  const gc = cli("gc", "--conf", conflist, "--valid", "cli-1/eth0");
  assert.equal(gc.status, 0, gc.stdout + gc.stderr);
  assert.deepEqual([...w.reservations().values()].map((v) => v.split("\r\n")[0]), ["cli-1"]);
  assert.equal(c2.hasLink("eth0"), false);

  assert.equal(cli("exec", "del", "--conf", conflist, "--netns", c1.path, "--id", "cli-1", ...cache).status, 0);
  assert.equal(w.reservations().size, 0);
  assert.equal(c1.hasLink("eth0"), false);
  assert.equal(cli("exec", "bogus", "--conf", conflist, "--netns", c1.path).status, 2);
});
