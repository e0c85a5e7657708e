// Workloads of issue 7's benchmark beyond single calls, and the summary of its targets:
//   bridge-250  ADD and DEL with a population already on the bridge (250; --population N), the timed
//               call using the population's IPAM store ("same store") or a store of its own ("separate
//               store", same bridge and subnet, addresses from the upper half), tether vs reference;
//   burst       16 and 64 (--bursts) concurrent ADDs, then as many concurrent DELs, tether and the
//               reference alternating (--burst-reps times): total time per burst, successes, unique
//               addresses, and nothing left (veth, store file, namespace);
//   ipam        scripts/bench-ipam.mjs in-process (tether-ipam vs host-local at 0/1k/10k/50k);
//   summarize   each target of issue 7 with the value measured in this run, PASS or MISS.
// All kernel work happens in the node namespace scripts/bench.sh runs us in, and in container
// namespaces named tb<tag>-* (the name its clean-up trap removes after an interruption).
import { spawnSync } from "node:child_process";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { call, checkEmpty, checkResult, cniEnv, netnsName, plugins, sh, tetherPlugin } from "./bench-cni.mjs";
import { IPAM_DEFAULTS, ipamBench } from "./bench-ipam.mjs";

const PATH_ENV = process.env.PATH ?? "/usr/sbin:/usr/bin:/sbin:/bin";
const BRIDGES = ["tbench0", "rbench0"]; // the bridges plugins() configures
const sleep = (ms) => Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, ms);

/** Adds or deletes many network namespaces with one `ip -batch` (one process instead of N). */
function netnsBatch(op, names) {
  if (!names.length) return;
  const r = spawnSync("ip", ["-force", "-batch", "-"], { input: names.map((n) => `netns ${op} ${n}\n`).join(""), encoding: "utf8" });
  if (r.status !== 0 && op === "add") throw new Error(`ip netns add: ${r.stderr}`);
}

function netnsList() {
  return sh("ip", ["netns", "list"])
    .split("\n")
    .map((l) => l.split(" ")[0])
    .filter(Boolean);
}

/** veth links in the (node) namespace we run in. */
function vethCount() {
  return sh("ip", ["-o", "link", "show", "type", "veth"]).split("\n").filter(Boolean).length;
}

/** Address files in a host-local style store directory (not lock, last_reserved_ip.N, index). */
function storeAddresses(dir) {
  try {
    return fs.readdirSync(dir).filter((f) => /^[0-9.]+$/.test(f) || f.includes(":")).length;
  } catch {
    return 0;
  }
}

function waitNoVeth(timeoutMs) {
  const end = Date.now() + timeoutMs;
  while (vethCount() > 0 && Date.now() < end) sleep(100);
}

function median(xs) {
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length === 0 ? NaN : s.length % 2 ? s[m] : (s[m - 1] + s[m]) / 2;
}
const f1 = (n) => (Number.isFinite(n) ? n.toFixed(1) : "-");

/** The config of `p` (from plugins()) with its store in `dir`; upper: addresses from the upper half of the /16. */
function confOf(p, dir, upper = false) {
  const conf = p.conf(dir);
  if (upper) {
    const r0 = conf.ipam.ranges[0][0];
    conf.ipam.ranges = [[{ ...r0, rangeStart: r0.subnet.replace(/\.0\.0\/16$/, ".128.2") }]];
  }
  return conf;
}

// ---------------------------------------------------------------------------------------------
// 250 containers already on the bridge

/** ADD and DEL (bridge) with `--population` containers (default 250; 50 with --quick) already attached. */
export function populationWorkload({ tether }) {
  const ps = plugins(tether, "bridge");
  const variants = [];
  for (const store of ["same", "separate"]) for (const p of ps) variants.push({ p, store, key: `${p.key}${store[0]}` });
  const label = (v, op) => `${v.p.key === "t" ? "tether" : "reference"} ${op}, ${v.store} store`;
  const contenders = [];
  for (const op of ["ADD", "DEL"]) {
    for (const v of variants) {
      const key = `${v.key}${op === "ADD" ? "a" : "d"}`;
      contenders.push({
        name: label(v, op),
        cmd: v.p.cmd,
        args: [],
        env: (ctx, i) => cniEnv(op, key, i),
        stdin: (ctx) => ctx.stdin[v.key],
        check: op === "ADD" ? checkResult : checkEmpty,
        bench: { v, op, key },
      });
    }
  }
  const ratios = [];
  for (const op of ["ADD", "DEL"]) for (const store of ["same", "separate"]) ratios.push([`tether ${op}, ${store} store`, `reference ${op}, ${store} store`]);
  const popKey = (p) => `${p.key}p`;
  return {
    name: "bridge-250",
    description: "bridge ADD and DEL with 250 containers already on the bridge (--population), same or separate IPAM store",
    runs: (o) => Math.min(o.runs, 20), // 8 contenders: 20 keeps the default run within its time
    ratios,
    contenders,
    setup(ctx) {
      const n = ctx.options?.population ?? 250;
      ctx.population = n;
      ctx.dirs = {};
      ctx.stdin = {};
      for (const p of ps) {
        ctx.dirs[p.key] = fs.mkdtempSync(path.join(os.tmpdir(), `tether-bench-pop-${p.key}-`));
        ctx.dirs[`${p.key}sep`] = fs.mkdtempSync(path.join(os.tmpdir(), `tether-bench-sep-${p.key}-`));
      }
      for (const v of variants) {
        const sep = v.store === "separate";
        ctx.stdin[v.key] = JSON.stringify(confOf(v.p, ctx.dirs[sep ? `${v.p.key}sep` : v.p.key], sep));
      }
      const t0 = Date.now();
      const scratch = fs.mkdtempSync(path.join(os.tmpdir(), "tether-bench-popout-"));
      for (const p of ps) {
        const names = Array.from({ length: n }, (_, j) => netnsName(popKey(p), j));
        netnsBatch("add", names);
        const stdin = JSON.stringify(confOf(p, ctx.dirs[p.key]));
        // 8 at a time (untimed): the set-up of 2 x 250 serial calls would dominate the run.
        for (let j = 0; j < n; j += 8) {
          const b = runBurst(p, stdin, popKey(p), Math.min(8, n - j), "ADD", scratch, j);
          const bad = b.calls.find((c) => !c.ok);
          if (bad) throw new Error(`${p.name}: population ADD failed: ${bad.error}`);
        }
        const held = storeAddresses(path.join(ctx.dirs[p.key], p.conf("").name));
        if (held !== n) throw new Error(`${p.name}: population store holds ${held} addresses, expected ${n}`);
      }
      fs.rmSync(scratch, { recursive: true, force: true });
      process.stderr.write(`bench: bridge-250: ${n} containers on each bridge in ${((Date.now() - t0) / 1000).toFixed(1)} s\n`);
    },
    teardown(ctx) {
      // Deleting a namespace deletes its end of the veth, and the kernel then deletes the bridge end.
      netnsBatch("del", netnsList().filter((name) => ps.some((p) => name.startsWith(netnsName(popKey(p), 0).slice(0, -1)))));
      waitNoVeth(30000);
      for (const link of BRIDGES) spawnSync("ip", ["link", "del", link]);
      for (const d of Object.values(ctx.dirs ?? {})) fs.rmSync(d, { recursive: true, force: true });
    },
    beforeEach(ctx, i, c) {
      const { v, op, key } = c.bench;
      sh("ip", ["netns", "add", netnsName(key, i)]);
      if (op === "DEL") call(v.p.cmd, cniEnv("ADD", key, i), ctx.stdin[v.key]);
    },
    afterEach(ctx, i, c) {
      const { v, op, key } = c.bench;
      try {
        if (op === "ADD") call(v.p.cmd, cniEnv("DEL", key, i), ctx.stdin[v.key]);
      } finally {
        spawnSync("ip", ["netns", "del", netnsName(key, i)]);
      }
    },
  };
}

// ---------------------------------------------------------------------------------------------
// Concurrent bursts

// One burst: n calls started at once from one bash (a fork each, as a runtime starting pods at once
// would), each `env -i PATH CNI_*` with the config on a real pipe; per-call exit status, start and
// end times to rc.<j>, stdout and stderr to out.<j> and err.<j>; the burst's start and end on stdout.
const BURST = `
cmd=$1 conf=$2 d=$3 n=$4 op=$5 cnipath=$6 path=$7; shift 7; a=("$@")
t0=$EPOCHREALTIME
for ((j = 0; j < n; j++)); do
  { s=$EPOCHREALTIME
    printf '%s' "$conf" | env -i PATH="$path" CNI_COMMAND="$op" CNI_CONTAINERID="\${a[2*j]}" CNI_NETNS="\${a[2*j+1]}" CNI_IFNAME=eth0 CNI_PATH="$cnipath" "$cmd" >"$d/out.$j" 2>"$d/err.$j"
    echo "$? $s $EPOCHREALTIME" >"$d/rc.$j"; } &
done
wait
echo "$t0 $EPOCHREALTIME"`;

/** n concurrent calls, of containers from..from+n-1 of `key`. */
function runBurst(p, stdin, key, n, op, scratch, from = 0) {
  const d = fs.mkdtempSync(path.join(scratch, `${key}-${op}-`));
  const ids = [];
  for (let j = from; j < from + n; j++) {
    const e = cniEnv(op, key, j);
    ids.push(e.CNI_CONTAINERID, e.CNI_NETNS);
  }
  const e0 = cniEnv(op, key, 0);
  const r = spawnSync("bash", ["--norc", "--noprofile", "-c", BURST, "bash", p.cmd, stdin, d, String(n), op, e0.CNI_PATH, PATH_ENV, ...ids], {
    env: { PATH: PATH_ENV },
    stdio: ["ignore", "pipe", "pipe"],
    encoding: "utf8",
  });
  if (r.status !== 0) throw new Error(`burst script: exit ${r.status}: ${r.stderr}`);
  const [t0, t1] = r.stdout.trim().split(/\s+/).map(Number);
  const calls = [];
  for (let j = 0; j < n; j++) {
    const [rc, s, e] = fs.readFileSync(path.join(d, `rc.${j}`), "utf8").trim().split(/\s+/).map(Number);
    const out = fs.readFileSync(path.join(d, `out.${j}`), "utf8");
    const err = fs.readFileSync(path.join(d, `err.${j}`), "utf8");
    let ok = rc === 0;
    let address = null;
    if (ok && op === "ADD") {
      try {
        address = JSON.parse(out).ips?.[0]?.address ?? null;
      } catch {}
      ok = address !== null;
    } else if (ok) ok = out.trim() === "";
    calls.push({ ok, rc, wallMs: (e - s) * 1000, address, error: ok ? undefined : (err || out).slice(0, 300) });
  }
  fs.rmSync(d, { recursive: true, force: true });
  return { totalMs: (t1 - t0) * 1000, calls };
}

/** n concurrent ADDs then n concurrent DELs of one plugin, with the leak checks. */
export function burstRound(p, stdin, storeDir, n, rep, scratch) {
  const key = `${p.key}b${n}r${rep}`;
  const names = Array.from({ length: n }, (_, j) => netnsName(key, j));
  netnsBatch("add", names);
  let add, del;
  const left = {};
  try {
    add = runBurst(p, stdin, key, n, "ADD", scratch);
    del = runBurst(p, stdin, key, n, "DEL", scratch);
    // Before the namespaces go (deleting one would delete a veth DEL left behind): every veth has
    // one end here in the node namespace.
    left.veth = vethCount();
    left.storeFiles = storeAddresses(storeDir);
  } finally {
    netnsBatch("del", names);
  }
  waitNoVeth(10000); // what DEL left (counted above) must not spill into the next round
  left.netns = netnsList().filter((x) => names.includes(x)).length;
  const addrs = add.calls.filter((c) => c.ok).map((c) => c.address);
  const errors = [...add.calls, ...del.calls].filter((c) => !c.ok).map((c) => c.error);
  return {
    plugin: p.name,
    n,
    rep,
    add: { totalMs: add.totalMs, ok: addrs.length, unique: new Set(addrs).size === addrs.length, callWallMs: add.calls.map((c) => c.wallMs) },
    del: { totalMs: del.totalMs, ok: del.calls.filter((c) => c.ok).length, callWallMs: del.calls.map((c) => c.wallMs) },
    left,
    clean: left.veth === 0 && left.storeFiles === 0 && left.netns === 0,
    errors: errors.slice(0, 5),
  };
}

/** 16 and 64 (--bursts) concurrent ADDs then DELs on the bridge, tether and the reference alternating. */
export function burstWorkload({ tether }) {
  // --versus / --versus-node: other tether builds burst too, each on its own bridge and subnet.
  const versus = [];
  return {
    addVersus: (file, label) => versus.push(tetherPlugin(file, "bridge", `v${versus.length + 1}`, `tether ${label} bridge`, versus.length + 1)),
    name: "burst",
    description: "concurrent bridge ADDs then DELs (--bursts 16,64, --burst-reps): total per burst, successes, unique, nothing left",
    run(o) {
      const sizes = o.bursts ?? [16, 64];
      const reps = o.burstReps ?? 5;
      const ps = [...plugins(tether, "bridge"), ...versus];
      const scratch = fs.mkdtempSync(path.join(os.tmpdir(), "tether-bench-burst-"));
      const rounds = [];
      try {
        const dirs = Object.fromEntries(ps.map((p) => [p.key, path.join(scratch, `store-${p.key}`)]));
        const stdin = Object.fromEntries(ps.map((p) => [p.key, JSON.stringify(confOf(p, dirs[p.key]))]));
        const storeDir = (p) => path.join(dirs[p.key], p.conf("").name);
        // Warm-up (untimed): creates the bridge, so the bursts do not race to create it.
        for (const p of ps) {
          const key = `${p.key}bw`;
          sh("ip", ["netns", "add", netnsName(key, 0)]);
          try {
            call(p.cmd, cniEnv("ADD", key, 0), stdin[p.key]);
            call(p.cmd, cniEnv("DEL", key, 0), stdin[p.key]);
          } finally {
            spawnSync("ip", ["netns", "del", netnsName(key, 0)]);
          }
        }
        for (const n of sizes) {
          for (let rep = 0; rep < reps; rep++) {
            for (const p of rep % 2 ? [...ps].reverse() : ps) {
              rounds.push(burstRound(p, stdin[p.key], storeDir(p), n, rep, scratch));
              sleep(300); // let the kernel finish tearing the namespaces down
            }
          }
        }
      } finally {
        for (const link of [...BRIDGES, ...versus.map((p) => p.bridge)]) spawnSync("ip", ["link", "del", link]);
        fs.rmSync(scratch, { recursive: true, force: true });
      }
      const results = [];
      const lines = [`burst: concurrent bridge ADDs then DELs, each plugin ${reps} time(s) per size, alternating (total wall ms, median (min-max))`];
      for (const n of sizes) {
        for (const p of ps) {
          const rs = rounds.filter((r) => r.n === n && r.plugin === p.name);
          const tot = (k) => rs.map((r) => r[k].totalMs);
          const res = {
            n,
            plugin: p.name,
            reps: rs.length,
            addTotalMs: { median: median(tot("add")), min: Math.min(...tot("add")), max: Math.max(...tot("add")) },
            delTotalMs: { median: median(tot("del")), min: Math.min(...tot("del")), max: Math.max(...tot("del")) },
            addCallMedianMs: median(rs.flatMap((r) => r.add.callWallMs)),
            delCallMedianMs: median(rs.flatMap((r) => r.del.callWallMs)),
            addOkMin: Math.min(...rs.map((r) => r.add.ok)),
            delOkMin: Math.min(...rs.map((r) => r.del.ok)),
            unique: rs.every((r) => r.add.unique),
            clean: rs.every((r) => r.clean),
          };
          res.pass = res.addOkMin === n && res.delOkMin === n && res.unique && res.clean;
          results.push(res);
          const t = (s) => `${f1(s.median).padStart(7)} (${f1(s.min)}-${f1(s.max)})`;
          lines.push(
            `  ${String(n).padStart(3)} x ${p.name.padEnd(27)} ADD ${t(res.addTotalMs)}  DEL ${t(res.delTotalMs)}` +
              `  ok ${res.addOkMin}/${n} + ${res.delOkMin}/${n}, ${res.unique ? "unique" : "DUPLICATE addresses"}, ${res.clean ? "nothing left" : "LEFT OVERS"}`,
          );
        }
        const [a, b] = ps.map((p) => results.find((r) => r.n === n && r.plugin === p.name));
        lines.push(`      ${ps[0].name} / ${ps[1].name}: ADD ${(a.addTotalMs.median / b.addTotalMs.median).toFixed(2)}, DEL ${(a.delTotalMs.median / b.delTotalMs.median).toFixed(2)} (medians of totals)`);
      }
      for (const r of rounds.filter((x) => x.errors.length)) lines.push(`  errors (${r.plugin}, ${r.n}, rep ${r.rep}): ${r.errors.join(" | ")}`);
      for (const r of rounds.filter((x) => !x.clean)) lines.push(`  left over (${r.plugin}, ${r.n}, rep ${r.rep}): ${JSON.stringify(r.left)}`);
      return { name: "burst", description: this.description, sizes, reps, results, rounds, lines };
    },
  };
}

// ---------------------------------------------------------------------------------------------
// IPAM at scale (scripts/bench-ipam.mjs)

export function ipamWorkload({ tether }) {
  return {
    name: "ipam",
    description: "tether-ipam vs host-local on a /16 store holding K addresses (--ipam-sizes, --ipam-runs)",
    run(o) {
      const sharedSizes = o.ipamSharedSizes ?? IPAM_DEFAULTS.sharedSizes;
      // --versus: the first other build also runs on the shared store, interleaved (bench-ipam.mjs --versus).
      const versus = o.versus?.[0]?.file;
      const r = ipamBench({ sizes: o.ipamSizes ?? IPAM_DEFAULTS.sizes, runs: o.ipamRuns ?? IPAM_DEFAULTS.runs, sharedSizes, tether, hostLocal: "/usr/lib/cni/host-local", out: null, ...(versus ? { versus } : {}) });
      return { name: "ipam", description: this.description, sizes: r.sizes, runs: r.runs, rows: r.rows, shared: r.shared, lines: r.lines };
    },
  };
}

// ---------------------------------------------------------------------------------------------
// Targets

/** Issue 7's targets against this run's figures: { targets: [{ target, value, pass, ... }], lines }. */
export function summarize(report) {
  const wl = (name) => report.workloads.find((w) => w.name === name);
  const res = (w, name) => w?.results?.find((r) => r.name === name);
  const targets = [];
  const add = (target, pass, value, extra = {}) => targets.push({ target, pass, value, ...extra });

  for (const mode of ["bridge", "ptp"]) {
    const w = wl(`${mode}-add`);
    const t = res(w, `tether ${mode}`);
    const n = res(w, "node -e 0");
    const target = `${mode} ADD <= 1.3 x node -e 0`;
    if (!t || !n) add(target, null, "not run");
    else {
      const ratio = t.wallMs.median / n.wallMs.median;
      add(target, ratio <= 1.3, `${ratio.toFixed(2)} x (${f1(t.wallMs.median)} vs ${f1(n.wallMs.median)} ms; stretch 1.15: ${ratio <= 1.15 ? "met" : "not met"})`, { ratio, limit: 1.3 });
    }
  }
  for (const mode of ["bridge", "ptp"]) {
    const w = wl(`${mode}-del`);
    const t = res(w, `tether ${mode}`);
    const r = res(w, `reference ${mode}+host-local`);
    const n = res(w, "node -e 0");
    const target = `${mode} DEL <= node -e 0 + reference DEL x 1.1`;
    if (!t || !r || !n) add(target, null, "not run");
    else {
      const limit = n.wallMs.median + 1.1 * r.wallMs.median;
      add(target, t.wallMs.median <= limit, `${f1(t.wallMs.median)} ms vs limit ${f1(limit)} (= ${f1(n.wallMs.median)} + 1.1 x ${f1(r.wallMs.median)})`, {
        valueMs: t.wallMs.median,
        limitMs: limit,
      });
    }
  }
  const cri = wl("cri");
  const criTarget = "cri RunPodSandbox <= 1.15 x reference bridge+host-local";
  if (!cri || !cri.ratios) add(criTarget, null, cri?.skipped ? `skipped: ${cri.skipped}` : "not run");
  else {
    const [t, r] = cri.results;
    add(criTarget, cri.ratios.runPodSandbox <= 1.15, `${cri.ratios.runPodSandbox.toFixed(2)} x (${f1(t.runPodSandboxMs.median)} vs ${f1(r.runPodSandboxMs.median)} ms)`, {
      ratio: cri.ratios.runPodSandbox,
      limit: 1.15,
    });
  }
  const ipam = wl("ipam");
  if (!ipam) {
    add("IPAM ADD and DEL at 50k <= 0.2 x reference", null, "not run");
    add("IPAM flat from 0 to 50k (at K / at 0 <= 1.2)", null, "not run");
  } else {
    const k = Math.max(...ipam.sizes);
    const k0 = Math.min(...ipam.sizes);
    const row = (kk, name) => ipam.rows.find((x) => x.k === kk && x.name === name);
    const [t, h, t0] = [row(k, "tether-ipam"), row(k, "host-local"), row(k0, "tether-ipam")];
    const note = k === 50000 ? "" : ` (largest K run: ${k}, not 50k)`;
    const ra = t.add / h.add;
    const rd = t.del / h.del;
    add(`IPAM ADD and DEL at 50k <= 0.2 x reference${note}`, ra <= 0.2 && rd <= 0.2, `ADD ${ra.toFixed(3)} x (${f1(t.add)} vs ${f1(h.add)} ms), DEL ${rd.toFixed(3)} x (${f1(t.del)} vs ${f1(h.del)} ms)`, {
      k,
      addRatio: ra,
      delRatio: rd,
      limit: 0.2,
    });
    const fa = t.add / t0.add;
    const fd = t.del / t0.del;
    add(`IPAM flat from ${k0} to 50k (at K / at ${k0} <= 1.2)${note}`, fa <= 1.2 && fd <= 1.2, `ADD ${fa.toFixed(2)} x (${f1(t0.add)} -> ${f1(t.add)} ms), DEL ${fd.toFixed(2)} x (${f1(t0.del)} -> ${f1(t.del)} ms)`, {
      k,
      addFlat: fa,
      delFlat: fd,
      limit: 1.2,
    });
  }
  const burst = wl("burst");
  const b64 = burst?.results?.find((r) => r.n === 64 && r.plugin.startsWith("tether"));
  if (!b64) add("64 concurrent ADDs: 64 succeed, unique, no leak", null, "not run");
  else
    add(
      "64 concurrent ADDs: 64 succeed, unique, no leak",
      b64.pass,
      `${b64.reps} burst(s): ADD ok >= ${b64.addOkMin}/64, DEL ok >= ${b64.delOkMin}/64, ${b64.unique ? "unique" : "duplicates"}, ${b64.clean ? "nothing left" : "left overs"}; ADD total ${f1(b64.addTotalMs.median)} ms, DEL total ${f1(b64.delTotalMs.median)} ms`,
    );
  let worst = null;
  for (const w of report.workloads) {
    for (const r of w.results ?? []) {
      if (!r.name?.startsWith("tether") || !r.peakRssKiB) continue;
      if (!worst || r.peakRssKiB > worst.kib) worst = { kib: r.peakRssKiB, where: `${w.name}: ${r.name}` };
    }
  }
  if (!worst) add("peak RSS per call <= 55 MiB", null, "not measured");
  else add("peak RSS per call <= 55 MiB", worst.kib / 1024 <= 55, `largest ${f1(worst.kib / 1024)} MiB (${worst.where})`, { peakRssMiB: worst.kib / 1024, limit: 55 });

  // Issue 16 (NetworkPolicy), when the policy workload ran (scripts/bench-policy.mjs).
  const pol = wl("policy")?.result;
  if (pol) {
    add("policy: first full ruleset <= 2 s (5,000 pods, 1,000 policies)", pol.firstRulesetMs <= 2000, `${f1(pol.firstRulesetMs)} ms`, { limit: 2000 });
    add("policy: one change to enforcement <= 100 ms (median)", pol.changeMs <= 100, `${f1(pol.changeMs)} ms`, { limit: 100 });
    add("policy: connection rate with 0 vs 1,000 policies within 1.1 x", pol.packetCostRatio <= 1.1, `${pol.packetCostRatio.toFixed(3)} x (client CPU per connection ${pol.cpuCostRatio.toFixed(3)} x)`, { limit: 1.1 });
  }
  const lines = ["issue-7 targets (this run's medians):"];
  for (const x of targets) lines.push(`  ${x.pass === null ? "n/a " : x.pass ? "PASS" : "MISS"}  ${x.target}: ${x.value}`);
  return { targets, lines };
}
