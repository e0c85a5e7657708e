#!/usr/bin/env node
// IPAM at scale: tether-ipam (dist/tether run through a `tether-ipam` link, as a runtime or the
// reference bridge would exec it) against Debian's host-local, each on its own store already holding
// K addresses of a /16, for K in 0, 1k, 10k and 50k.
//
//   node scripts/bench-ipam.mjs [--sizes 0,1000,10000,50000] [--runs N] [--tether PATH] [--host-local PATH]
//                               [--shared-sizes 50000] [--versus PATH]
//
// scripts/bench.mjs runs it in-process as its "ipam" workload (ipamBench below), so the summary of the
// issue-7 targets can use its figures; run alone it prints the same table and writes ipam-<stamp>.json.
//
// Every call is a fresh process whose environment is only PATH and CNI_*, with the config on a stdin
// pipe; wall and CPU time come from bash's `time` around the contender alone. One iteration is an
// ADD of a new container id then its DEL, so the store stays at K; contenders alternate. Stores are
// prefilled by writing host-local's files directly (content "id\r\nifname", last_reserved_ip.0 at
// the last one). tether's first call on a prefilled store builds its index from the directory (the
// cost it also pays after host-local changed the store): measured separately as "rebuild".
// Goal (issue 4): tether's ADD and DEL at 50k within 1.2x of its own at 0.
//
// Shared store (issue 13, --shared-sizes, default 50000): both plugins serve ONE network's store of
// K host-local files, interleaved as during a migration: host-local ADD, tether ADD, host-local DEL,
// tether DEL, so every tether call finds a store host-local has just changed (its index is refreshed
// incrementally: one listing, an lstat per file, a read of the new ones). Peak RSS of every call
// too (/usr/bin/time). Goal: tether <= 0.5x host-local on that store, peak RSS <= 55 MiB.
// --versus PATH adds another tether build to the shared store, interleaved in the same rounds
// (host-local ADD, tether ADD, host-local DEL, tether DEL, then the same with the versus build), so
// two builds compare on a loaded machine; CPU (user + sys) medians are given beside wall ones.
import { spawnSync } from "node:child_process";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { fileURLToPath, pathToFileURL } from "node:url";
import { parseFlags } from "./bench-args.mjs";

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "..");

export const IPAM_DEFAULTS = { sizes: [0, 1000, 10000, 50000], runs: 15, sharedSizes: [50000] };

function parseArgs(argv) {
  const o = { ...IPAM_DEFAULTS, tether: path.join(root, "dist/tether"), hostLocal: "/usr/lib/cni/host-local", out: path.join(root, "bench-results") };
  parseFlags(argv, {
    "--sizes": (v) => (o.sizes = v.split(",").map(Number)),
    "--runs": (v) => (o.runs = Number(v)),
    "--shared-sizes": (v) => (o.sharedSizes = v === "" ? [] : v.split(",").map(Number)),
    "--tether": (v) => (o.tether = path.resolve(v)),
    "--host-local": (v) => (o.hostLocal = path.resolve(v)),
    "--versus": (v) => (o.versus = path.resolve(v)),
    "--out": (v) => (o.out = path.resolve(v)),
  });
  if (o.sizes.some((k) => !(k >= 0 && k <= 65000))) throw new Error("--sizes: each between 0 and 65000 (a /16)");
  return o;
}

const TIMED = 'e=$1 t=$2; shift 2; TIMEFORMAT="%3R %3U %3S"; { time env -i "$@" 2>"$e"; } 2>"$t"';
const PATH_ENV = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";

function timed(scratch, cmd, env, input) {
  const errFile = path.join(scratch, "stderr");
  const timeFile = path.join(scratch, "time");
  const envArgs = Object.entries({ PATH: PATH_ENV, ...env }).map(([k, v]) => `${k}=${v}`);
  const r = spawnSync("bash", ["-c", TIMED, "bash", errFile, timeFile, ...envArgs, cmd], { input, env: { PATH: PATH_ENV }, encoding: "utf8" });
  if (r.error) throw r.error;
  if (r.status !== 0) throw new Error(`${cmd} ${env.CNI_COMMAND} exited ${r.status}: ${r.stdout} ${fs.readFileSync(errFile, "utf8")}`);
  const [real, user, sys] = fs.readFileSync(timeFile, "utf8").trim().split(/\s+/).map(Number);
  return { wall: real * 1000, cpu: (user + sys) * 1000, stdout: r.stdout };
}

// The same, plus peak RSS (KiB) from /usr/bin/time around the contender.
const TIMED_RSS = 'e=$1 t=$2 m=$3; shift 3; TIMEFORMAT="%3R %3U %3S"; { time /usr/bin/time -f %M -o "$m" env -i "$@" 2>"$e"; } 2>"$t"';

function timedRss(scratch, cmd, env, input) {
  const [errFile, timeFile, rssFile] = ["stderr", "time", "rss"].map((n) => path.join(scratch, n));
  const envArgs = Object.entries({ PATH: PATH_ENV, ...env }).map(([k, v]) => `${k}=${v}`);
  const r = spawnSync("bash", ["-c", TIMED_RSS, "bash", errFile, timeFile, rssFile, ...envArgs, cmd], { input, env: { PATH: PATH_ENV }, encoding: "utf8" });
  if (r.error) throw r.error;
  if (r.status !== 0) throw new Error(`${cmd} ${env.CNI_COMMAND} exited ${r.status}: ${r.stdout} ${fs.readFileSync(errFile, "utf8")}`);
  const [real, user, sys] = fs.readFileSync(timeFile, "utf8").trim().split(/\s+/).map(Number);
  const rssKiB = Number(fs.readFileSync(rssFile, "utf8").trim().split("\n").pop());
  return { wall: real * 1000, cpu: (user + sys) * 1000, rssKiB, stdout: r.stdout };
}

function v4(n) {
  return `${(n >>> 24) & 255}.${(n >>> 16) & 255}.${(n >>> 8) & 255}.${n & 255}`;
}
const BASE = (10 << 24) | (200 << 16); // 10.200.0.0/16

/** Write K reservations as host-local would have: 10.200.0.2 upwards, then last_reserved_ip.0. */
function prefill(dir, k) {
  fs.mkdirSync(dir, { recursive: true, mode: 0o755 });
  fs.writeFileSync(path.join(dir, "lock"), "", { mode: 0o600 });
  for (let i = 0; i < k; i++) fs.writeFileSync(path.join(dir, v4(BASE + 2 + i)), `prefill-${i}\r\neth0`, { mode: 0o600 });
  if (k > 0) fs.writeFileSync(path.join(dir, "last_reserved_ip.0"), v4(BASE + 1 + k), { mode: 0o600 });
}

function median(xs) {
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 ? s[m] : (s[m - 1] + s[m]) / 2;
}

/**
 * Runs the IPAM benchmark. o: { sizes, runs, tether, hostLocal, out? } (out: where to write
 * ipam-<stamp>.json; none when null). Returns { sizes, runs, rows, lines, file }: rows hold the
 * medians (wall ms: add, del; cpu ms: addCpu, delCpu) and samples per K and contender.
 */
export function ipamBench(o) {
  for (const f of [o.tether, o.hostLocal, ...(o.versus ? [o.versus] : [])]) if (!fs.existsSync(f)) throw new Error(`${f} is missing (run scripts/build.sh; apt install containernetworking-plugins)`);
  const scratch = fs.mkdtempSync(path.join(os.tmpdir(), "tether-bench-ipam-"));
  // Under scripts/bench.sh, a name its clean-up trap removes if we are interrupted.
  const netns = process.env.TETHER_BENCH_TAG ? `tb${process.env.TETHER_BENCH_TAG}-ipam` : `tether-bench-ipam-${process.pid}`;
  const cleanup = () => {
    spawnSync("ip", ["netns", "del", netns]);
    fs.rmSync(scratch, { recursive: true, force: true });
  };
  try {
    const ns = spawnSync("ip", ["netns", "add", netns], { encoding: "utf8" });
    if (ns.status !== 0) throw new Error(`ip netns add: ${ns.stderr} (run as root)`);
    const bin = path.join(scratch, "bin");
    fs.mkdirSync(bin);
    fs.symlinkSync(o.tether, path.join(bin, "tether-ipam"));
    const dataDir = path.join(scratch, "data");
    const contenders = [
      { name: "tether-ipam", cmd: path.join(bin, "tether-ipam"), type: "tether-ipam" },
      { name: "host-local", cmd: o.hostLocal, type: "host-local" },
    ];
    const conf = (c, k) =>
      JSON.stringify({
        cniVersion: "1.0.0",
        name: `bench-${c.type}-${k}`,
        type: "bridge",
        ipam: { type: c.type, dataDir, ranges: [[{ subnet: "10.200.0.0/16" }]] },
      });
    const env = (cmd, id) => ({ CNI_COMMAND: cmd, CNI_CONTAINERID: id, CNI_NETNS: `/var/run/netns/${netns}`, CNI_IFNAME: "eth0", CNI_PATH: bin });
    const rows = [];
    for (const k of o.sizes) {
      for (const c of contenders) prefill(path.join(dataDir, `bench-${c.type}-${k}`), k);
      const samples = new Map(contenders.map((c) => [c.name, { add: [], del: [], addCpu: [], delCpu: [] }]));
      // tether's first calls on the prefilled store: the index is built from the directory.
      const rebuild = [];
      const t = contenders[0];
      for (let i = 0; i < 3; i++) {
        fs.rmSync(path.join(dataDir, ".tether-index", `bench-${t.type}-${k}`), { force: true });
        rebuild.push(timed(scratch, t.cmd, env("ADD", `rebuild-${i}`), conf(t, k)).wall);
        timed(scratch, t.cmd, env("DEL", `rebuild-${i}`), conf(t, k));
      }
      for (let i = -2; i < o.runs; i++) {
        const order = i % 2 ? [...contenders].reverse() : contenders;
        for (const c of order) {
          const id = `bench-${k}-${i + 2}`;
          const add = timed(scratch, c.cmd, env("ADD", id), conf(c, k));
          const ip = JSON.parse(add.stdout).ips?.[0]?.address;
          if (!ip) throw new Error(`${c.name} ADD gave no address: ${add.stdout}`);
          const del = timed(scratch, c.cmd, env("DEL", id), conf(c, k));
          if (i < 0) continue; // warm-up
          const s = samples.get(c.name);
          s.add.push(add.wall);
          s.del.push(del.wall);
          s.addCpu.push(add.cpu);
          s.delCpu.push(del.cpu);
        }
      }
      for (const c of contenders) {
        const count = fs.readdirSync(path.join(dataDir, `bench-${c.type}-${k}`)).length - (k > 0 ? 2 : 2);
        if (count !== k) throw new Error(`${c.name} store holds ${count} addresses after the run, expected ${k}`);
        const s = samples.get(c.name);
        rows.push({ k, name: c.name, add: median(s.add), del: median(s.del), addCpu: median(s.addCpu), delCpu: median(s.delCpu), samples: s });
      }
      rows.push({ k, name: "tether-ipam rebuild", add: median(rebuild), samples: { add: rebuild } });
      for (const c of contenders) fs.rmSync(path.join(dataDir, `bench-${c.type}-${k}`), { recursive: true, force: true });
      fs.rmSync(path.join(dataDir, ".tether-index"), { recursive: true, force: true });
    }
    // Shared store: one network, both plugins, host-local writing between every two tether calls.
    const shared = [];
    for (const k of o.sharedSizes ?? []) {
      const name = `bench-shared-${k}`;
      prefill(path.join(dataDir, name), k);
      const sconf = (c) => JSON.stringify({ cniVersion: "1.0.0", name, type: "bridge", ipam: { type: c.type, dataDir, ranges: [[{ subnet: "10.200.0.0/16" }]] } });
      const [t, h] = contenders;
      const v = o.versus ? { name: "versus", cmd: path.join(scratch, "versus", "tether-ipam"), type: "tether-ipam" } : undefined;
      if (v && !fs.existsSync(v.cmd)) {
        fs.mkdirSync(path.dirname(v.cmd), { recursive: true });
        fs.symlinkSync(o.versus, v.cmd);
      }
      // tether's first call builds the index from the directory (not timed: the cost of the first call only).
      timed(scratch, t.cmd, env("ADD", "shared-first"), sconf(t));
      timed(scratch, t.cmd, env("DEL", "shared-first"), sconf(t));
      const who = ["tether", "host-local", ...(v ? ["versus"] : [])];
      const s = Object.fromEntries(who.map((w) => [w, { add: [], del: [], addCpu: [], delCpu: [], rss: [] }]));
      for (let i = -2; i < o.runs; i++) {
        // Every tether call follows a change by host-local (the versus build gets its own pair).
        const steps = [];
        for (const [c, w] of [[t, "tether"], ...(v ? [[v, "versus"]] : [])]) {
          const ht = `h${w[0]}-${k}-${i + 2}`;
          const tt = `${w[0]}-${k}-${i + 2}`;
          steps.push([h, "ADD", ht, "host-local", "add"], [c, "ADD", tt, w, "add"], [h, "DEL", ht, "host-local", "del"], [c, "DEL", tt, w, "del"]);
        }
        for (const [c, cmd, id, w, what] of steps) {
          const r = timedRss(scratch, c.cmd, env(cmd, id), sconf(c));
          if (cmd === "ADD" && !JSON.parse(r.stdout).ips?.[0]?.address) throw new Error(`${c.name} ADD gave no address: ${r.stdout}`);
          if (i < 0) continue;
          s[w][what].push(r.wall);
          s[w][`${what}Cpu`].push(r.cpu);
          s[w].rss.push(r.rssKiB);
        }
      }
      const count = fs.readdirSync(path.join(dataDir, name)).length - 2;
      if (count !== k) throw new Error(`shared store holds ${count} addresses after the run, expected ${k}`);
      const sum = (x) => ({ add: median(x.add), del: median(x.del), addCpu: median(x.addCpu), delCpu: median(x.delCpu), peakRssKiB: Math.max(...x.rss), samples: x });
      shared.push({ k, tether: sum(s.tether), hostLocal: sum(s["host-local"]), ...(v ? { versus: { file: o.versus, ...sum(s.versus) } } : {}) });
      fs.rmSync(path.join(dataDir, name), { recursive: true, force: true });
      fs.rmSync(path.join(dataDir, ".tether-index"), { recursive: true, force: true });
    }
    const f = (n) => (n === undefined ? "-" : n.toFixed(1));
    const at0 = (name) => rows.find((r) => r.k === o.sizes[0] && r.name === name);
    const lines = [`ipam: ADD then DEL of a new id on a /16 store holding K addresses (n=${o.runs}, medians, wall ms; cpu in brackets)`];
    lines.push(`  ${"K".padStart(6)}  ${"contender".padEnd(20)} ${"ADD".padStart(14)} ${"DEL".padStart(14)}  ${"ADD/ADD@0".padStart(9)} ${"DEL/DEL@0".padStart(9)}`);
    for (const r of rows) {
      const base = at0(r.name.replace(" rebuild", ""));
      const ra = base && r.name !== "tether-ipam rebuild" ? (r.add / base.add).toFixed(2) : "";
      const rd = base && r.del !== undefined ? (r.del / base.del).toFixed(2) : "";
      const cell = (w, c) => (c === undefined ? f(w) : `${f(w)} (${f(c)})`);
      lines.push(`  ${String(r.k).padStart(6)}  ${r.name.padEnd(20)} ${cell(r.add, r.addCpu).padStart(14)} ${(r.del === undefined ? "" : cell(r.del, r.delCpu)).padStart(14)}  ${ra.padStart(9)} ${rd.padStart(9)}`);
    }
    for (const k of o.sizes) {
      const t = rows.find((r) => r.k === k && r.name === "tether-ipam");
      const h = rows.find((r) => r.k === k && r.name === "host-local");
      lines.push(`  K=${k}: tether-ipam / host-local: ADD ${(t.add / h.add).toFixed(2)}, DEL ${(t.del / h.del).toFixed(2)}`);
    }
    const last = o.sizes[o.sizes.length - 1];
    const t0 = at0("tether-ipam");
    const tk = rows.find((r) => r.k === last && r.name === "tether-ipam");
    lines.push(`  goal: tether-ipam at K=${last} within 1.2x of K=${o.sizes[0]}: ADD ${(tk.add / t0.add).toFixed(2)}, DEL ${(tk.del / t0.del).toFixed(2)}`);
    for (const x of shared) {
      const mib = (kib) => (kib / 1024).toFixed(1);
      const one = (n, r) => `${n} ADD ${f(r.add)} (${f(r.addCpu)}) DEL ${f(r.del)} (${f(r.delCpu)}) ms, peak RSS ${mib(r.peakRssKiB)} MiB`;
      const ratio = (r) => `ADD ${(r.add / x.hostLocal.add).toFixed(2)}, DEL ${(r.del / x.hostLocal.del).toFixed(2)} (cpu ${(r.addCpu / x.hostLocal.addCpu).toFixed(2)}, ${(r.delCpu / x.hostLocal.delCpu).toFixed(2)})`;
      lines.push(`  shared store of K=${x.k}, host-local writing between tether calls (n=${o.runs}, medians, wall ms (cpu)):`);
      lines.push(`    ${one("tether-ipam", x.tether)}; ${one("host-local", x.hostLocal)}`);
      lines.push(`    tether-ipam / host-local: ${ratio(x.tether)} (goal <= 0.5, RSS <= 55 MiB)`);
      if (x.versus) {
        lines.push(`    ${one(`versus ${path.basename(x.versus.file)}`, x.versus)}`);
        lines.push(`    versus / host-local: ${ratio(x.versus)}; tether-ipam / versus: ADD ${(x.tether.add / x.versus.add).toFixed(2)}, DEL ${(x.tether.del / x.versus.del).toFixed(2)} (cpu ${(x.tether.addCpu / x.versus.addCpu).toFixed(2)}, ${(x.tether.delCpu / x.versus.delCpu).toFixed(2)})`);
      }
    }
    let file = null;
    if (o.out) {
      fs.mkdirSync(o.out, { recursive: true });
      file = path.join(o.out, `ipam-${new Date().toISOString().replace(/[:.]/g, "-")}.json`);
      fs.writeFileSync(file, JSON.stringify({ date: new Date().toISOString(), host: { kernel: os.release(), cpus: os.cpus().length, loadavg: os.loadavg() }, runs: o.runs, rows, shared }, null, 1) + "\n");
      lines.push(`wrote ${path.relative(process.cwd(), file) || file}`);
    }
    return { sizes: o.sizes, runs: o.runs, rows, shared, lines, file };
  } finally {
    cleanup();
  }
}

if (process.argv[1] && import.meta.url === pathToFileURL(path.resolve(process.argv[1])).href) {
  try {
    process.stdout.write(ipamBench(parseArgs(process.argv.slice(2))).lines.join("\n") + "\n");
  } catch (err) {
    process.stderr.write(`bench-ipam: ${err instanceof Error ? err.message : String(err)}\n`);
    process.exitCode = 1;
  }
}
