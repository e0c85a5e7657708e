#!/usr/bin/env node
// NetworkPolicy workload (issue 16): 5,000 pods (300 on this node), 1,000 policies, in a network
// namespace of its own (the script re-runs itself inside it; nothing touches the root namespace).
//
//   node scripts/bench-policy.mjs [--pods 5000] [--local 300] [--policies 1000] [--changes 15]
//                                 [--rate-seconds 0.5] [--rate-reps 12] [--json]
//
// Figures: time to the first full ruleset (compile + one `nft -f` transaction), time from one
// change to enforcement (recompile + the delta transaction; medians over --changes of a pod label
// change and of a policy change), the same two through the fake API server and the agent's policy
// loop on real informers (test/helpers/fakeApiServer.ts), ruleset size, and the cost of a packet: new TCP connections per
// second between two pods of this node with 0 policies and with all policies in (the two pods
// selected and allowed), measured back to back in each repetition (order alternating); the
// figure is the median of the per-repetition ratios, which must stay within 1.1x.
// src/policy is bundled with esbuild on the fly (no tsc build needed).
import { spawn, spawnSync } from "node:child_process";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { createRequire } from "node:module";
import { fileURLToPath } from "node:url";
import { parseFlags } from "./bench-args.mjs";

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "..");
const require = createRequire(import.meta.url);

export function parsePolicyFlags(argv) {
  const o = { pods: 5000, local: 300, policies: 1000, changes: 15, rateSeconds: 0.5, rateReps: 12, json: false, inner: false };
  parseFlags(argv, {
    "--pods": (v) => (o.pods = Number(v)),
    "--local": (v) => (o.local = Number(v)),
    "--policies": (v) => (o.policies = Number(v)),
    "--changes": (v) => (o.changes = Number(v)),
    "--rate-seconds": (v) => (o.rateSeconds = Number(v)),
    "--rate-reps": (v) => (o.rateReps = Number(v)),
    "--json": () => (o.json = true),
    "--inner": () => (o.inner = true),
  });
  return o;
}

let bundled;
function bundle() {
  bundled ??= buildBundle();
  return bundled;
}

function buildBundle() {
  const out = path.join(fs.mkdtempSync(path.join(os.tmpdir(), "tether-bench-policy-")), "policy.cjs");
  const entry = path.join(path.dirname(out), "entry.ts");
  fs.writeFileSync(entry, `export { PolicyCompiler } from ${JSON.stringify(path.join(root, "src/policy/compile"))};\nexport { PolicyApplier } from ${JSON.stringify(path.join(root, "src/policy/apply"))};\nexport { renderFull } from ${JSON.stringify(path.join(root, "src/policy/nft"))};\nexport { PolicyController } from ${JSON.stringify(path.join(root, "src/agent/policy"))};\nexport { Informer } from ${JSON.stringify(path.join(root, "src/k8s/informer"))};\nexport { KubeClient } from ${JSON.stringify(path.join(root, "src/k8s/client"))};\nexport { slimPod, slimNamespace, slimNetworkPolicy } from ${JSON.stringify(path.join(root, "src/k8s/types"))};\nexport { startFakeApiServer } from ${JSON.stringify(path.join(root, "test/helpers/fakeApiServer"))};\n`);
  require("esbuild").buildSync({ entryPoints: [entry], bundle: true, platform: "node", format: "cjs", target: "node20", outfile: out, logLevel: "error" });
  return require(out);
}

/** The fake cluster: 50 namespaces of 100 pods; `local` of them on n1; policies of the usual shapes. */
export function makeWorld(o) {
  const nsCount = Math.max(1, Math.round(o.pods / 100));
  const namespaces = [];
  for (let n = 0; n < nsCount; n++) namespaces.push({ metadata: { name: `ns${n}`, labels: { ns: `ns${n}`, team: `t${n % 5}` } } });
  const pods = [];
  const localEvery = Math.max(1, Math.floor(o.pods / o.local));
  for (let i = 0; i < o.pods; i++) {
    const n = i % nsCount;
    const local = i % localEvery === 0 && Math.floor(i / localEvery) < o.local;
    pods.push({
      metadata: { namespace: `ns${n}`, name: `p${i}`, labels: { app: `app${i % 20}`, tier: i % 3 === 0 ? "front" : "back" } },
      spec: { nodeName: local ? "n1" : `n${2 + (i % 40)}`, containers: [{ name: "c", ports: [{ name: "http", containerPort: 8000 + (i % 7) }] }] },
      status: { phase: "Running", podIPs: [{ ip: `10.${64 + Math.floor(i / 65536)}.${Math.floor(i / 256) % 256}.${i % 256}` }, { ip: `fd00::${i.toString(16)}` }] },
    });
  }
  const policies = [];
  for (let k = 0; k < o.policies; k++) {
    const n = k % nsCount;
    const shape = k % 5;
    const spec = { podSelector: { matchLabels: { app: `app${k % 20}` } } };
    if (shape === 0) spec.ingress = [{ from: [{ podSelector: { matchLabels: { tier: "front" } } }], ports: [{ port: 80 + (k % 3) }] }];
    else if (shape === 1) spec.ingress = [{ from: [{ namespaceSelector: { matchLabels: { team: `t${k % 5}` } }, podSelector: { matchExpressions: [{ key: "app", operator: "In", values: [`app${(k + 1) % 20}`, `app${(k + 2) % 20}`] }] } }], ports: [{ port: "http" }] }];
    else if (shape === 2) spec.ingress = [{ from: [{ ipBlock: { cidr: `172.${16 + (k % 16)}.0.0/16`, except: [`172.${16 + (k % 16)}.${k % 256}.0/24`] } }] }];
    else if (shape === 3) {
      spec.policyTypes = ["Ingress", "Egress"];
      spec.ingress = [{ from: [{ namespaceSelector: { matchLabels: { ns: `ns${(k + 3) % nsCount}` } } }] }];
      spec.egress = [{ to: [{ podSelector: {} }], ports: [{ port: 53, protocol: "UDP" }, { port: 8000, endPort: 8010 }] }];
    } else spec.ingress = [{ ports: [{ port: 443 }, { port: 9000, endPort: 9100, protocol: "UDP" }] }];
    policies.push({ metadata: { namespace: `ns${n}`, name: `pol${k}` }, spec });
  }
  return { pods, namespaces, policies };
}

const median = (xs) => {
  const s = [...xs].sort((a, b) => a - b);
  return s.length % 2 ? s[(s.length - 1) / 2] : (s[s.length / 2 - 1] + s[s.length / 2]) / 2;
};
const sh = (argv) => {
  const r = spawnSync(argv[0], argv.slice(1), { encoding: "utf8" });
  if (r.status !== 0) throw new Error(`${argv.join(" ")}: ${r.stderr}`);
  return r.stdout;
};

const RATE_SERVER = `require("node:net").createServer((s) => { s.on("error", () => {}); s.destroy(); }).listen(80, "0.0.0.0", () => process.stdout.write("ready\\n"));`;
const RATE_CLIENT = `
const net = require("node:net"); const [ip, secs] = [process.argv[1], Number(process.argv[2])];
let n = 0, fails = 0; const end = Date.now() + secs * 1000; const cpu0 = process.cpuUsage();
const one = () => { if (Date.now() >= end) { const c = process.cpuUsage(cpu0); return process.stdout.write(JSON.stringify({ n, fails, secs, cpuUs: c.user + c.system })); } const s = net.connect(80, ip); s.on("connect", () => { n++; s.destroy(); one(); }); s.on("error", () => { fails++; one(); }); };
one();`;

async function inner(o) {
  const { PolicyCompiler, PolicyApplier } = bundle();
  const world = makeWorld(o);
  const compiler = new PolicyCompiler("n1");
  const applier = new PolicyApplier();
  const result = { pods: o.pods, localPods: o.local, policies: o.policies };

  // First full ruleset.
  let t0 = performance.now();
  let c = compiler.compileRuleset(world);
  const tCompile = performance.now() - t0;
  const first = await applier.apply(c.ruleset);
  result.firstRulesetMs = performance.now() - t0;
  result.firstCompileMs = tCompile;
  result.rulesetBytes = Buffer.byteLength(c.text);
  result.stats = c.stats;
  result.firstMode = first.mode;
  result.warnings = c.warnings.length;

  // One change: a local pod's label flips (it joins/leaves peer sets, its chain changes), or one
  // policy is added/removed; alternating, so each change has a real delta.
  const label = [];
  const pol = [];
  const at = world.pods.findIndex((p) => p.spec.nodeName === "n1");
  for (let i = 0; i < o.changes; i++) {
    // A changed object is a new object, as an informer gives it.
    const old = world.pods[at];
    world.pods[at] = { ...old, metadata: { ...old.metadata, labels: { ...old.metadata.labels, tier: i % 2 === 0 ? "gate" : "front", app: i % 2 === 0 ? "app19" : old.metadata.labels.app } } };
    const localPod = world.pods[at];
    t0 = performance.now();
    c = compiler.compileRuleset(world);
    let ta = performance.now();
    const r = await applier.apply(c.ruleset);
    label.push({ ms: performance.now() - t0, applyMs: performance.now() - ta, bytes: r.bytes, mode: r.mode });
    if (i % 2 === 0) world.policies.push({ metadata: { namespace: localPod.metadata.namespace, name: "extra" }, spec: { podSelector: { matchLabels: { app: "app19" } }, ingress: [{ from: [{ podSelector: { matchLabels: { app: "app3" } } }], ports: [{ port: 8443 }] }] } });
    else world.policies.pop();
    t0 = performance.now();
    c = compiler.compileRuleset(world);
    ta = performance.now();
    const r2 = await applier.apply(c.ruleset);
    pol.push({ ms: performance.now() - t0, applyMs: performance.now() - ta, bytes: r2.bytes, mode: r2.mode });
  }
  result.labelChangeMs = median(label.map((x) => x.ms));
  result.policyChangeMs = median(pol.map((x) => x.ms));
  result.changeMs = median([...label, ...pol].map((x) => x.ms));
  result.applyMs = median([...label, ...pol].map((x) => x.applyMs));
  result.changeBytes = median([...label, ...pol].map((x) => x.bytes));
  result.changeModes = [...new Set([...label, ...pol].map((x) => x.mode))];
  // Compile alone, to split a change's time.
  t0 = performance.now();
  compiler.compileRuleset(world);
  result.compileMs = performance.now() - t0;

  // The agent's path: the same cluster in the fake API server, the agent's policy loop on real
  // informers (list + watch over TLS); from the loop's start to the first ruleset in, and from one
  // object written to the API to its ruleset in (watch event, recompile, delta).
  Object.assign(result, await agentPath(world, o));

  // Packet cost: two pods of this node on veths, new TCP connections per second.
  const tag = `tbp${process.pid}`;
  const [client, server] = [`${tag}-c`, `${tag}-s`];
  const ips = { [client]: localPods(world)[1], [server]: localPods(world)[2] };
  const made = [];
  const children = [];
  try {
    sh(["sysctl", "-qw", "net.ipv4.ip_forward=1"]);
    for (const [i, name] of [client, server].entries()) {
      sh(["ip", "netns", "add", name]);
      made.push(name);
      const host = `${tag}h${i}`;
      sh(["ip", "link", "add", host, "type", "veth", "peer", "name", "eth0", "netns", name]);
      sh(["ip", "link", "set", host, "up"]);
      sh(["ip", "addr", "add", "169.254.1.1/32", "dev", host]);
      sh(["ip", "route", "add", `${ips[name].ip}/32`, "dev", host]);
      for (const cmd of [["ip", "link", "set", "lo", "up"], ["ip", "link", "set", "eth0", "up"], ["ip", "addr", "add", `${ips[name].ip}/32`, "dev", "eth0"], ["ip", "route", "add", "169.254.1.1", "dev", "eth0"], ["ip", "route", "add", "default", "via", "169.254.1.1", "dev", "eth0"], ["sysctl", "-qw", "net.ipv4.tcp_tw_reuse=1"]]) sh(["ip", "netns", "exec", name, ...cmd]);
    }
    const srv = spawn("ip", ["netns", "exec", server, process.execPath, "-e", RATE_SERVER], { stdio: ["ignore", "pipe", "inherit"] });
    children.push(srv);
    await new Promise((res) => srv.stdout.once("data", res));
    // The two pods: the client selected by an egress policy and the server by an ingress policy that allow them.
    const allow = [
      { metadata: { namespace: ips[server].ns, name: "bench-server" }, spec: { podSelector: { matchLabels: { bench: "server" } }, ingress: [{ from: [{ namespaceSelector: {}, podSelector: { matchLabels: { bench: "client" } } }], ports: [{ port: 80 }] }] } },
      { metadata: { namespace: ips[client].ns, name: "bench-client" }, spec: { podSelector: { matchLabels: { bench: "client" } }, policyTypes: ["Egress"], egress: [{ to: [{ namespaceSelector: {}, podSelector: { matchLabels: { bench: "server" } } }] }] } },
    ];
    for (const [name, role] of [[client, "client"], [server, "server"]]) {
      const old = ips[name].pod;
      world.pods[world.pods.indexOf(old)] = { ...old, metadata: { ...old.metadata, labels: { ...old.metadata.labels, bench: role } } };
    }
    const full = { ...world, policies: [...world.policies, ...allow] };
    const empty = { ...world, policies: [] };
    const rate = async () => {
      const r = spawnSync("ip", ["netns", "exec", client, process.execPath, "-e", RATE_CLIENT, ips[server].ip, String(o.rateSeconds)], { encoding: "utf8" });
      if (r.status !== 0) throw new Error(r.stderr);
      const j = JSON.parse(r.stdout);
      if (j.fails > 0 || j.n === 0) throw new Error(`rate run: ${r.stdout}`);
      return { rate: j.n / j.secs, cpuUs: j.cpuUs / j.n };
    };
    const rates = { 0: [], [o.policies]: [] };
    const cpu = { 0: [], [o.policies]: [] };
    for (let rep = 0; rep < o.rateReps; rep++) {
      for (const [k, w] of rep % 2 === 0 ? [[0, empty], [o.policies, full]] : [[o.policies, full], [0, empty]]) {
        await applier.apply(compiler.compileRuleset(w).ruleset);
        const m = await rate();
        rates[k].push(m.rate);
        cpu[k].push(m.cpuUs);
      }
    }
    result.connPerSec0 = median(rates[0]);
    result.connPerSecN = median(rates[o.policies]);
    // Each repetition measures both back to back: the median of the per-repetition ratios cancels
    // the load drifting between repetitions on a shared machine.
    result.packetCostRatio = median(rates[0].map((r0, i) => r0 / rates[o.policies][i]));
    result.packetCostRatioOfMedians = result.connPerSec0 / result.connPerSecN;
    result.rateSamples = rates;
    // The client's CPU per connection (its sys time holds the forward path of the packets it
    // sends, the SYN that walks the policy chains included): steadier than a rate on a busy machine.
    result.clientCpuUs0 = median(cpu[0]);
    result.clientCpuUsN = median(cpu[o.policies]);
    result.cpuCostRatio = median(cpu[o.policies].map((cN, i) => cN / cpu[0][i]));
  } finally {
    for (const ch of children) ch.kill();
    for (const n of made) spawnSync("ip", ["netns", "del", n]);
    await applier.remove().catch(() => undefined);
    applier.close();
  }
  return result;
}

async function agentPath(world, o) {
  const { PolicyController, PolicyApplier, Informer, KubeClient, startFakeApiServer, slimPod, slimNamespace, slimNetworkPolicy } = bundle();
  const api = await startFakeApiServer({ bookmarkIntervalMs: 0 });
  const out = {};
  let ctl;
  try {
    for (const n of world.namespaces) api.upsert("namespaces", n);
    for (const p of world.pods) api.upsert("pods", p);
    for (const p of world.policies) api.upsert("networkpolicies", p);
    const client = new KubeClient({ server: api.url, ca: Buffer.from(api.caPem), token: api.token });
    const sources = {
      pods: new Informer(client, "pods", { transform: slimPod }),
      namespaces: new Informer(client, "namespaces", { transform: slimNamespace }),
      policies: new Informer(client, "networkpolicies", { transform: slimNetworkPolicy }),
    };
    const applier = new PolicyApplier();
    ctl = new PolicyController("n1", sources, { resyncMs: 3_600_000, applier });
    const until = async (cond, what) => {
      const deadline = performance.now() + 30_000;
      while (!cond()) {
        if (performance.now() > deadline) throw new Error(`agent path: not reached within 30 s: ${what}`);
        await new Promise((r) => setTimeout(r, 1));
      }
    };
    let t0 = performance.now();
    ctl.start();
    await until(() => ctl.ready, "first ruleset");
    out.apiFirstRulesetMs = performance.now() - t0;
    const samples = [];
    const base = world.pods.find((p) => p.spec.nodeName === "n1");
    let tier = base.metadata.labels.tier;
    for (let i = 0; i < o.changes; i++) {
      await ctl.whenIdle();
      const before = ctl.metrics.policyApplies;
      t0 = performance.now();
      // Every change must change the ruleset: the pod's tier flips (it leaves or joins peer sets).
      if (i % 2 === 0) {
        tier = tier === "gate" ? "front" : "gate";
        api.upsert("pods", { ...base, metadata: { ...base.metadata, labels: { ...base.metadata.labels, app: "app19", tier } } });
      }
      else api.upsert("networkpolicies", { metadata: { namespace: base.metadata.namespace, name: `extra${i}` }, spec: { podSelector: { matchLabels: { app: "app19" } }, ingress: [{ ports: [{ port: 1000 + i }] }] } });
      await until(() => ctl.metrics.policyApplies > before, `change ${i} applied`);
      samples.push(performance.now() - t0);
    }
    out.apiChangeMs = median(samples);
    out.apiChangeMaxMs = Math.max(...samples);
  } finally {
    await ctl?.stop();
    await api.stop();
  }
  return out;
}

function localPods(world) {
  return world.pods.filter((p) => p.spec.nodeName === "n1").map((p) => ({ pod: p, ip: p.status.podIPs[0].ip, ns: p.metadata.namespace }));
}

export function policyLines(r) {
  const f = (n) => n.toFixed(1);
  return [
    `policy: ${r.pods} pods (${r.localPods} on this node), ${r.policies} policies (in a namespace of its own; real nft)`,
    `  first full ruleset   ${f(r.firstRulesetMs)} ms (compile ${f(r.firstCompileMs)} ms), ${r.rulesetBytes} bytes: ${r.stats.sets} sets (${r.stats.setElements} elements), ${r.stats.chains} chains (${r.stats.rules} rules), ${r.stats.mapElements} map elements`,
    `  one change           ${f(r.changeMs)} ms median (pod label ${f(r.labelChangeMs)}, policy ${f(r.policyChangeMs)}; compile alone ${f(r.compileMs)} ms, the delta transaction ${f(r.applyMs)} ms; delta ${r.changeBytes} bytes; ${r.changeModes.join(",")})`,
    `  through the API      ${f(r.apiFirstRulesetMs)} ms from the informers' start to the first ruleset (list of every object over TLS); ${f(r.apiChangeMs)} ms median (max ${f(r.apiChangeMaxMs)}) from one object written to the fake API to its ruleset in`,
    `  packet cost          ${f(r.connPerSec0)} conn/s with 0 policies, ${f(r.connPerSecN)} with ${r.policies}: ${r.packetCostRatio.toFixed(3)} x (median of ${r.rateSamples[0].length} back-to-back pairs); client CPU per connection ${f(r.clientCpuUs0)} vs ${f(r.clientCpuUsN)} us: ${r.cpuCostRatio.toFixed(3)} x`,
  ];
}

/** For scripts/bench.mjs: runs this script (in its own namespace) and reports. */
export function policyWorkload() {
  return {
    name: "policy",
    description: "NetworkPolicy: 5,000 pods (300 here), 1,000 policies: first ruleset, one change, size, packet cost",
    run(o) {
      const r = spawnSync(process.execPath, [fileURLToPath(import.meta.url), "--json", ...(o.quick ? ["--changes", "5", "--rate-reps", "4"] : [])], { encoding: "utf8", stdio: ["ignore", "pipe", "inherit"] });
      if (r.status !== 0) throw new Error(`bench-policy exited ${r.status}`);
      const res = JSON.parse(r.stdout);
      return { name: "policy", description: this.description, result: res, lines: policyLines(res) };
    },
  };
}

async function main() {
  const argv = process.argv.slice(2);
  const o = parsePolicyFlags(argv);
  if (!o.inner) {
    const ns = `tether-bench-policy-${process.pid}`;
    sh(["ip", "netns", "add", ns]);
    try {
      sh(["ip", "-n", ns, "link", "set", "lo", "up"]);
      const r = spawnSync("nice", ["ip", "netns", "exec", ns, process.execPath, fileURLToPath(import.meta.url), "--inner", ...argv], { stdio: "inherit" });
      process.exitCode = r.status ?? 1;
    } finally {
      spawnSync("ip", ["netns", "del", ns]);
    }
    return;
  }
  const r = await inner(o);
  process.stdout.write(o.json ? JSON.stringify(r) + "\n" : policyLines(r).join("\n") + "\n");
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  main().catch((e) => {
    process.stderr.write(`bench-policy: ${e.stack ?? e}\n`);
    process.exit(1);
  });
}
