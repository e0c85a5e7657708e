#!/usr/bin/env node
// The `agent` workload: `tether agent` (dist/tether) against the fake API server (test/helpers, its
// process form; an API-compatible fake, not a real API server) holding --nodes Nodes, all in a
// network namespace of the bench's own (a veth pair carries the nodes' network, so every node's
// address is a directly connected next hop). Measures, with `ip monitor route` watching the kernel:
//   - time from the end of the agent's first list (its log) to all 2 x N routes in the kernel, and
//     from the agent's start;
//   - time from a node event (a new Node upserted) to both its routes in the kernel (--events times);
//   - the agent's RSS (VmRSS) and peak (VmHWM) after all of it.
// Targets (issue 14): 1,000 nodes' routes within 1 s, one event within 50 ms (medians), RSS <= 80 MiB.
//
//   node scripts/bench-agent.mjs [--nodes 1000] [--events 30] [--rounds 3] [--real-nodes] [--json]
// --real-nodes: Nodes of a kubelet's size (~13 KB of JSON: images, conditions, managedFields) instead
// of only what the agent reads; the agent's list and parse then cost what they would in a cluster.
// bench.mjs runs it as its `agent` workload (a child process: this part is asynchronous).
import { spawn, spawnSync } from "node:child_process";
import * as fs from "node:fs";
import { createRequire } from "node:module";
import * as os from "node:os";
import * as path from "node:path";
import { fileURLToPath, pathToFileURL } from "node:url";

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "..");
const self = fileURLToPath(import.meta.url);
const TARGETS = { allMs: 1000, eventMs: 50, rssMiB: 80 };

const median = (xs) => {
  const s = [...xs].sort((a, b) => a - b);
  return s.length === 0 ? NaN : s.length % 2 ? s[(s.length - 1) / 2] : (s[s.length / 2 - 1] + s[s.length / 2]) / 2;
};
const now = () => performance.timeOrigin + performance.now();
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

function sh(argv) {
  const r = spawnSync(argv[0], argv.slice(1), { encoding: "utf8" });
  if (r.status !== 0) throw new Error(`${argv.join(" ")}: ${r.stderr}`);
  return r.stdout;
}

/** --real-nodes: Nodes as a kubelet reports them (images, conditions, node info, managedFields), ~13 KB of JSON each. */
let realNodes = false;

function realNode(n) {
  const t = "2026-12-01T10:00:00Z";
  const sha = (k) => k.toString(16).padStart(8, "0").repeat(8);
  n.metadata.uid = `6c1f${sha(n.metadata.name.length).slice(0, 28)}`;
  n.metadata.labels = { "kubernetes.io/arch": "amd64", "kubernetes.io/os": "linux", "kubernetes.io/hostname": n.metadata.name, "node.kubernetes.io/instance-type": "m5.2xlarge", "topology.kubernetes.io/region": "eu-west-1", "topology.kubernetes.io/zone": "eu-west-1a", "beta.kubernetes.io/arch": "amd64", "beta.kubernetes.io/os": "linux" };
  n.metadata.annotations = { "node.alpha.kubernetes.io/ttl": "0", "volumes.kubernetes.io/controller-managed-attach-detach": "true", "kubeadm.alpha.kubernetes.io/cri-socket": "unix:///run/containerd/containerd.sock" };
  const fields = (keys) => Object.fromEntries(keys.map((k) => [`f:${k}`, {}]));
  n.metadata.managedFields = [
    { manager: "kubelet", operation: "Update", apiVersion: "v1", time: t, fieldsType: "FieldsV1", fieldsV1: { "f:metadata": { "f:annotations": fields(["node.alpha.kubernetes.io/ttl", "volumes.kubernetes.io/controller-managed-attach-detach"]), "f:labels": fields(Object.keys(n.metadata.labels)) } } },
    { manager: "kube-controller-manager", operation: "Update", apiVersion: "v1", time: t, fieldsType: "FieldsV1", fieldsV1: { "f:spec": { "f:podCIDR": {}, "f:podCIDRs": { ".": {}, 'v:"10.0.0.0/24"': {} } } } },
    { manager: "kubelet", operation: "Update", apiVersion: "v1", time: t, subresource: "status", fieldsType: "FieldsV1", fieldsV1: { "f:status": { "f:conditions": fields(["DiskPressure", "MemoryPressure", "PIDPressure", "Ready"]), "f:images": {}, "f:nodeInfo": fields(["bootID", "kernelVersion", "osImage"]) } } },
  ];
  const cond = (type, status, reason, message) => ({ type, status, lastHeartbeatTime: t, lastTransitionTime: t, reason, message });
  n.status.capacity = { cpu: "8", "ephemeral-storage": "101430960Ki", "hugepages-1Gi": "0", "hugepages-2Mi": "0", memory: "32475500Ki", pods: "110" };
  n.status.allocatable = { ...n.status.capacity, "ephemeral-storage": "93478772582", memory: "32373100Ki" };
  n.status.conditions = [
    cond("MemoryPressure", "False", "KubeletHasSufficientMemory", "kubelet has sufficient memory available"),
    cond("DiskPressure", "False", "KubeletHasNoDiskPressure", "kubelet has no disk pressure"),
    cond("PIDPressure", "False", "KubeletHasSufficientPID", "kubelet has sufficient PID available"),
    cond("Ready", "True", "KubeletReady", "kubelet is posting ready status"),
  ];
  n.status.daemonEndpoints = { kubeletEndpoint: { Port: 10250 } };
  n.status.nodeInfo = { machineID: sha(7).slice(0, 32), systemUUID: "ec2" + sha(3).slice(0, 29), bootID: sha(5).slice(0, 36), kernelVersion: "6.1.0-28-cloud-amd64", osImage: "Debian GNU/Linux 12 (bookworm)", containerRuntimeVersion: "containerd://1.7.24", kubeletVersion: "v1.31.4", kubeProxyVersion: "v1.31.4", operatingSystem: "linux", architecture: "amd64" };
  n.status.images = Array.from({ length: 40 }, (_, k) => ({ names: [`registry.example.com/team-${k % 7}/service-${k}@sha256:${sha(k + 11)}`, `registry.example.com/team-${k % 7}/service-${k}:v1.${k}.0`], sizeBytes: 10_000_000 + k * 1_234_567 }));
  return n;
}

function nodeObject(name, cidrs, v4, v6) {
  const n = {
    apiVersion: "v1",
    kind: "Node",
    metadata: { name },
    spec: { podCIDR: cidrs[0], podCIDRs: cidrs },
    status: { addresses: [{ type: "InternalIP", address: v4 }, { type: "InternalIP", address: v6 }, { type: "Hostname", address: name }] },
  };
  return realNodes ? realNode(n) : n;
}

async function measure({ nodes, events, tether }) {
  const require = createRequire(import.meta.url);
  const adminJs = path.join(root, "build/test/helpers/fakeApiServerAdmin.js");
  if (!fs.existsSync(adminJs)) sh(["npx", "--no-install", "tsc", "-p", path.join(root, "tsconfig.json")]);
  const { spawnFakeApiServer } = require(adminJs);
  if (nodes > 250 * 256) throw new Error("--nodes too large");

  const ns = `tether-bagent-${process.pid}`;
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), "tether-bench-agent-"));
  let api;
  let agent;
  let monitor;
  try {
    sh(["ip", "netns", "add", ns]);
    for (const cmd of [
      ["link", "set", "lo", "up"],
      ["link", "add", "nodes0", "type", "veth", "peer", "name", "nodes1"],
      ["addr", "add", "10.200.0.1/16", "dev", "nodes0"],
      ["addr", "add", "fd00:200::1/64", "dev", "nodes0", "nodad"],
      ["link", "set", "nodes1", "up"],
      ["link", "set", "nodes0", "up"],
    ])
      sh(["ip", "-n", ns, ...cmd]);
    api = await spawnFakeApiServer({ listen: "127.0.0.1:6443", stateDir: path.join(dir, "api"), netns: ns });
    const objs = [nodeObject("self", ["10.63.0.0/24", "fd00:63::/64"], "10.200.0.1", "fd00:200::1")];
    for (let i = 0; i < nodes; i++) {
      const host = i + 2;
      objs.push(nodeObject(`node-${i}`, [`10.${64 + (i >> 8)}.${i & 255}.0/24`, `fd00:244:${i.toString(16)}::/64`], `10.200.${host >> 8}.${host & 255}`, `fd00:200::${host.toString(16)}`));
    }
    await api.admin.upsertMany("nodes", objs);

    // Route additions of the agent's protocol, as the kernel announces them.
    const seen = new Map();
    monitor = spawn("ip", ["-n", ns, "monitor", "route"], { stdio: ["ignore", "pipe", "ignore"] });
    let buf = "";
    let waiter;
    monitor.stdout.on("data", (chunk) => {
      const t = now();
      buf += chunk.toString();
      const lines = buf.split("\n");
      buf = lines.pop() ?? "";
      for (const line of lines) {
        if (line.startsWith("Deleted") || !line.includes("proto 152")) continue;
        const dst = line.split(" ")[0];
        if (!seen.has(dst)) seen.set(dst, t);
      }
      waiter?.();
    });
    const until = async (cond, what, timeoutMs = 60_000) => {
      const deadline = now() + timeoutMs;
      while (!cond()) {
        if (now() > deadline) throw new Error(`agent bench: ${what} not reached within ${timeoutMs} ms`);
        await new Promise((r) => {
          waiter = r;
          setTimeout(r, 50);
        });
      }
    };
    await sleep(300); // ip monitor subscribed

    // As bench.mjs does: a file just written in one huge write (postject's output) sits in the page
    // cache as large folios and every process mapping it counts ~8 MiB more RSS; read it back plainly.
    spawnSync("dd", [`if=${tether}`, "iflag=nocache", "count=0", "status=none"]);
    let listedAt;
    let log = "";
    const tStart = now();
    agent = spawn(
      "ip",
      [
        "netns", "exec", ns, tether, "agent",
        "--kubeconfig", path.join(dir, "api", "kubeconfig"),
        "--node-name", "self",
        "--no-install",
        "--cni-bin-dir", path.join(dir, "bin"),
        "--cni-conf-dir", path.join(dir, "conf"),
        "--state-dir", path.join(dir, "state"),
        "--resync", "10m",
      ],
      { stdio: ["ignore", "ignore", "pipe"], env: { PATH: process.env.PATH ?? "/usr/sbin:/usr/bin:/sbin:/bin", TETHER_LOG_LEVEL: "debug", MALLOC_ARENA_MAX: "1" /* as deploy/tether.yaml */, ...Object.fromEntries((process.env.BENCH_AGENT_ENV ?? "").split(",").filter((kv) => kv.includes("=")).map((kv) => [kv.slice(0, kv.indexOf("=")), kv.slice(kv.indexOf("=") + 1)])) } },
    );
    agent.stderr.on("data", (chunk) => {
      log += chunk.toString();
      if (listedAt === undefined) {
        const m = log.match(/^.*"msg":"listed".*$/m);
        if (m) listedAt = JSON.parse(m[0]).time;
      }
    });
    const cpuMs = () => {
      // utime + stime of the agent, in clock ticks (100 per second on Linux)
      const f = fs.readFileSync(`/proc/${agent.pid}/stat`, "utf8").split(") ")[1].split(" ");
      return (Number(f[11]) + Number(f[12])) * 10;
    };
    const want = 2 * nodes;
    await until(() => seen.size >= want, `${want} routes (${seen.size} seen)\n${log.slice(-2000)}`);
    const tAll = Math.max(...seen.values());
    const convergeCpuMs = cpuMs();
    const inKernel = sh(["ip", "-n", ns, "-4", "route", "show", "proto", "152"]).trim().split("\n").length + sh(["ip", "-n", ns, "-6", "route", "show", "proto", "152"]).trim().split("\n").length;
    if (inKernel !== want) throw new Error(`agent bench: ${inKernel} routes of protocol 152 in the kernel, want ${want}`);
    await until(() => listedAt !== undefined, "the agent's 'listed' log line");

    const eventMs = [];
    const cpuBefore = cpuMs();
    for (let k = 0; k < events; k++) {
      await sleep(100);
      const v4 = `10.199.${k}.0/24`;
      const v6 = `fd00:199:${(k + 1).toString(16)}::/64`; // canonical, as `ip monitor` prints it
      const t0 = now();
      await api.admin.upsert("nodes", nodeObject(`event-${k}`, [v4, v6], `10.200.200.${k + 1}`, `fd00:200::c8:${(k + 1).toString(16)}`));
      await until(() => seen.has(v4) && seen.has(v6), `event ${k} routes`);
      eventMs.push(Math.max(seen.get(v4), seen.get(v6)) - t0);
    }
    await sleep(Number(process.env.BENCH_AGENT_SETTLE_MS ?? 500)); // the reconciles after the last event (state file, masquerade) finish
    const eventCpuMs = (cpuMs() - cpuBefore) / events;
    // The agent's own part of each event: from the informer's change to the routes applied (its debug log).
    const agentEventMs = [...log.matchAll(/^.*"msg":"routes applied".*$/gm)]
      .map((m) => JSON.parse(m[0]))
      .filter((e) => e.added === 2 && e.full === false)
      .map((e) => e.sinceChangeMs);

    // Status heartbeats (what most Node events are in a real cluster): nothing the agent uses changes.
    const beats = 50;
    const beatBefore = cpuMs();
    for (let k = 0; k < beats; k++) {
      const i = (k * 17) % nodes;
      const host = i + 2;
      const obj = nodeObject(`node-${i}`, [`10.${64 + (i >> 8)}.${i & 255}.0/24`, `fd00:244:${i.toString(16)}::/64`], `10.200.${host >> 8}.${host & 255}`, `fd00:200::${host.toString(16)}`);
      obj.status.conditions = [{ type: "Ready", status: "True", lastHeartbeatTime: new Date().toISOString() }];
      await api.admin.upsert("nodes", obj);
      await sleep(20);
    }
    await sleep(300);
    const heartbeatCpuMs = (cpuMs() - beatBefore) / beats;
    const routesAfter = sh(["ip", "-n", ns, "-4", "route", "show", "proto", "152"]).trim().split("\n").length;
    if (routesAfter !== nodes + events) throw new Error(`agent bench: ${routesAfter} IPv4 routes after the heartbeats, want ${nodes + events}`);
    if (process.env.BENCH_AGENT_LOG) fs.writeFileSync(process.env.BENCH_AGENT_LOG, log);
    if (process.env.BENCH_AGENT_BREAKDOWN) {
      // Where the RSS is (scripts/rss-breakdown.mjs), appended to the file named.
      const { breakdown, formatBreakdown } = await import("./rss-breakdown.mjs");
      fs.appendFileSync(process.env.BENCH_AGENT_BREAKDOWN, formatBreakdown(breakdown(agent.pid)) + "\n");
    }
    const status = fs.readFileSync(`/proc/${agent.pid}/status`, "utf8");
    // The executable's pages in the page cache (mapped or not): what a memory cgroup is charged for
    // it beside the anonymous memory, where RSS counts only the pages mapped.
    const cached = spawnSync("fincore", ["--bytes", "--noheadings", "--output", "RES", tether], { encoding: "utf8" });
    const pageCacheKiB = cached.status === 0 ? Number(cached.stdout.trim()) / 1024 : NaN;
    const kib = (key) => Number(new RegExp(`^${key}:\\s+(\\d+) kB`, "m").exec(status)?.[1] ?? NaN);
    return {
      nodes,
      routes: want,
      startToAllMs: tAll - tStart,
      listToAllMs: tAll - listedAt,
      eventMs: { median: median(eventMs), min: Math.min(...eventMs), max: Math.max(...eventMs), samples: eventMs },
      convergeCpuMs,
      eventCpuMs,
      heartbeatCpuMs,
      agentEventMs: { median: median(agentEventMs), n: agentEventMs.length },
      loadavg: os.loadavg(),
      rssKiB: kib("VmRSS"),
      peakRssKiB: kib("VmHWM"),
      rssAnonKiB: kib("RssAnon"),
      rssFileKiB: kib("RssFile"),
      exePageCacheKiB: pageCacheKiB,
    };
  } finally {
    if (agent && agent.exitCode === null) {
      const exited = new Promise((r) => agent.once("exit", r));
      agent.kill("SIGTERM");
      await exited;
    }
    monitor?.kill("SIGKILL");
    if (api) await api.stop().catch(() => undefined);
    spawnSync("ip", ["netns", "del", ns]);
    fs.rmSync(dir, { recursive: true, force: true });
  }
}

/** Several rounds (a fresh agent, namespace and fake each): medians of the timings, the worst RSS. */
function aggregate(rounds) {
  if (rounds.length === 1) return { ...rounds[0], rounds: 1 };
  const pick = (f) => median(rounds.map(f));
  const samples = rounds.flatMap((r) => r.eventMs.samples);
  return {
    ...rounds[0],
    rounds: rounds.length,
    startToAllMs: pick((r) => r.startToAllMs),
    listToAllMs: pick((r) => r.listToAllMs),
    listToAllRangeMs: [Math.min(...rounds.map((r) => r.listToAllMs)), Math.max(...rounds.map((r) => r.listToAllMs))],
    eventMs: { median: median(samples), min: Math.min(...samples), max: Math.max(...samples), samples },
    convergeCpuMs: pick((r) => r.convergeCpuMs),
    eventCpuMs: pick((r) => r.eventCpuMs),
    heartbeatCpuMs: pick((r) => r.heartbeatCpuMs),
    agentEventMs: { median: pick((r) => r.agentEventMs.median), n: rounds.reduce((n, r) => n + r.agentEventMs.n, 0) },
    rssKiB: Math.max(...rounds.map((r) => r.rssKiB)),
    peakRssKiB: Math.max(...rounds.map((r) => r.peakRssKiB)),
    rssAnonKiB: Math.max(...rounds.map((r) => r.rssAnonKiB)),
    rssFileKiB: Math.max(...rounds.map((r) => r.rssFileKiB)),
    exePageCacheKiB: Math.max(...rounds.map((r) => r.exePageCacheKiB)),
    loadavg: os.loadavg(),
  };
}

export function formatAgent(r) {
  const pass = (ok) => (ok ? "PASS" : "MISS");
  const mib = (k) => (k / 1024).toFixed(1);
  return [
    `agent: tether agent against the fake API server (not a real one), ${r.nodes} nodes, ${r.routes} routes, ${r.rounds ?? 1} round(s): medians, worst RSS`,
    `  first list -> all routes in the kernel ${r.listToAllMs.toFixed(0)} ms${r.listToAllRangeMs ? ` (${r.listToAllRangeMs.map((x) => x.toFixed(0)).join("-")})` : ""} (agent start -> all: ${r.startToAllMs.toFixed(0)} ms)`,
    `  node event -> its routes: median ${r.eventMs.median.toFixed(1)} ms (${r.eventMs.min.toFixed(1)}-${r.eventMs.max.toFixed(1)}, n=${r.eventMs.samples.length}); the agent's part (watch event in -> routes applied): median ${r.agentEventMs.median.toFixed(1)} ms (n=${r.agentEventMs.n})`,
    `  agent CPU: ${r.convergeCpuMs} ms from start to all routes, ${r.eventCpuMs.toFixed(1)} ms per node added, ${r.heartbeatCpuMs.toFixed(1)} ms per status heartbeat (nothing to change)`,
    `  agent RSS ${mib(r.rssKiB)} MiB (anonymous ${mib(r.rssAnonKiB)}, file ${mib(r.rssFileKiB)}; peak ${mib(r.peakRssKiB)} MiB); the executable in the page cache ${mib(r.exePageCacheKiB)} MiB; load average during the run ${r.loadavg.map((x) => x.toFixed(1)).join(" ")} on ${os.cpus().length} CPUs`,
    `  target: all routes <= ${TARGETS.allMs} ms: ${pass(r.listToAllMs <= TARGETS.allMs)}; event <= ${TARGETS.eventMs} ms: ${pass(r.eventMs.median <= TARGETS.eventMs)}; peak RSS <= ${TARGETS.rssMiB} MiB: ${pass(r.peakRssKiB / 1024 <= TARGETS.rssMiB)}`,
  ];
}

/** bench.mjs's `agent` workload: runs this file as a child (its measurement is asynchronous). */
export function agentWorkload({ tether }) {
  return {
    name: "agent",
    description: "tether agent: 1,000 nodes in the fake API server -> routes in the kernel, event -> route, RSS",
    run(o) {
      const args = [self, "--json", "--tether", tether];
      if (o.quick) args.push("--events", "10", "--rounds", "1");
      const r = spawnSync(process.execPath, args, { encoding: "utf8", timeout: 600_000 });
      if (r.status !== 0) throw new Error(`agent workload failed: ${r.stderr}`);
      const result = JSON.parse(r.stdout);
      return { name: "agent", description: this.description, result, targets: TARGETS, lines: formatAgent(result) };
    },
  };
}

async function main() {
  const o = { nodes: 1000, events: 30, rounds: 3, json: false, tether: path.join(root, "dist/tether") };
  const argv = process.argv.slice(2);
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    if (a === "--json") o.json = true;
    else if (a === "--nodes") o.nodes = Number(argv[++i]);
    else if (a === "--real-nodes") realNodes = true;
    else if (a === "--events") o.events = Number(argv[++i]);
    else if (a === "--rounds") o.rounds = Number(argv[++i]);
    else if (a === "--tether") o.tether = argv[++i];
    else throw new Error(`unknown argument ${a}`);
  }
  if (!fs.existsSync(o.tether)) throw new Error(`${o.tether} is missing: run scripts/build.sh first`);
  const rounds = [];
  for (let i = 0; i < o.rounds; i++) rounds.push(await measure(o));
  const r = aggregate(rounds);
  process.stdout.write(o.json ? JSON.stringify(r) + "\n" : formatAgent(r).join("\n") + "\n");
}

if (process.argv[1] && pathToFileURL(process.argv[1]).href === import.meta.url) {
  main().catch((e) => {
    process.stderr.write(`bench-agent: ${e instanceof Error ? e.message : String(e)}\n`);
    process.exitCode = 1;
  });
}
