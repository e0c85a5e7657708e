// The `cri` workload of scripts/bench.mjs: what kubelet waits for. Two private containerds (Debian's,
// test/helpers/cri), one per contender, each on a node namespace and mount namespace of its own:
//   tether      conf/k8s-bridge.conflist (tether bridge + tether-ipam, then portmap)
//   reference   the same with the reference bridge + host-local (containernetworking-plugins), then portmap
// Timed from the CRI client, contenders interleaved (A B B A ...): RunPodSandbox of a pod with a host
// port (pause container + network), then StopPodSandbox + RemovePodSandbox (kubelet's two DELs);
// then 16 pods started at once and removed at once (--cri-burst N, 3 rounds each).
// Plugins get PATH and CNI_* alone (containerd runs with PATH only; libcni adds CNI_*).
// Needs the compiled test helpers (build/): runs `tsc` first.
import { spawnSync } from "node:child_process";
import * as fs from "node:fs";
import { createRequire } from "node:module";
import * as os from "node:os";
import * as path from "node:path";
import { fileURLToPath } from "node:url";

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "..");
const require = createRequire(import.meta.url);
const NETWORK = "k8s-pod-network";

function median(xs) {
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length === 0 ? NaN : s.length % 2 ? s[m] : (s[m - 1] + s[m]) / 2;
}
const f1 = (x) => x.toFixed(1);
const stat = (xs) => ({ median: median(xs), min: Math.min(...xs), max: Math.max(...xs), n: xs.length });
const show = (s) => `${f1(s.median).padStart(7)} ms (${f1(s.min)}-${f1(s.max)})`;

function compileHelpers() {
  const r = spawnSync(process.execPath, [path.join(root, "node_modules/typescript/bin/tsc"), "-p", path.join(root, "tsconfig.json")], { encoding: "utf8" });
  if (r.status !== 0) throw new Error(`tsc: ${r.stdout}${r.stderr}`);
}

function conflist(kind, dataDir) {
  const list = JSON.parse(fs.readFileSync(path.join(root, "conf/k8s-bridge.conflist"), "utf8"));
  const main = list.plugins[0];
  main.ipam.dataDir = dataDir;
  if (kind === "reference") {
    main.type = "bridge";
    main.ipam.type = "host-local";
    delete main.mode;
    list.cniVersions = undefined;
  }
  return JSON.parse(JSON.stringify(list));
}

export function criWorkload({ tether }) {
  return {
    name: "cri",
    description: "containerd CRI: RunPodSandbox, Stop+RemovePodSandbox, 16 pods at once; tether vs reference bridge+host-local",
    async run(o) {
      compileHelpers();
      const { CriNode, containerdUnavailable } = require(path.join(root, "build/test/helpers/cri/containerd.js"));
      const { imagesUnavailable } = require(path.join(root, "build/test/helpers/cri/images.js"));
      const why = containerdUnavailable() ?? imagesUnavailable();
      if (why) return { name: "cri", skipped: why, lines: [`cri: skipped: ${why}`] };
      const runs = o.criRuns ?? (o.quick ? 8 : Math.min(o.runs, 30));
      const burst = o.criBurst ?? 16;
      const rounds = o.quick ? 1 : 3;
      const scratch = fs.mkdtempSync(path.join(os.tmpdir(), "tether-bench-cri-"));
      const kinds = ["tether", "reference"];
      const nodes = {};
      const samples = Object.fromEntries(kinds.map((k) => [k, { run: [], del: [], burstRun: [], burstDel: [] }]));
      try {
        for (const [i, kind] of kinds.entries()) {
          const n = new CriNode({ label: `bench-${kind}`, tether, plugins: ["loopback", "portmap", "bridge", "host-local"], nodeAddress: `192.168.${225 + i}.1/24` });
          nodes[kind] = n;
          await n.start();
          n.importImages(path.join(scratch, kind));
          n.writeConflist("10-net.conflist", conflist(kind, path.join(n.base, "ipam")));
          await n.restartContainerd();
        }
        let seq = 0;
        const pod = (kind, name) => ({ name, namespace: "bench", uid: `${kind}-${name}-${seq++}`, portMappings: [{ protocol: "TCP", containerPort: 8080, hostPort: 20000 + (seq % 20000) }] });
        const one = async (kind, i, keep) => {
          const n = nodes[kind];
          const t0 = performance.now();
          const id = await n.client.runPodSandbox(pod(kind, `p${i}`));
          const t1 = performance.now();
          await n.client.stopPodSandbox(id);
          await n.client.removePodSandbox(id);
          const t2 = performance.now();
          if (keep) {
            samples[kind].run.push(t1 - t0);
            samples[kind].del.push(t2 - t1);
          }
        };
        for (const kind of kinds) await one(kind, -1, false); // warm-up: bridge, images, caches
        for (let i = 0; i < runs; i++) for (const kind of i % 2 ? [...kinds].reverse() : kinds) await one(kind, i, true);
        for (let r = 0; r < rounds; r++) {
          for (const kind of r % 2 ? [...kinds].reverse() : kinds) {
            const n = nodes[kind];
            const t0 = performance.now();
            const ids = await Promise.all(Array.from({ length: burst }, (_, i) => n.client.runPodSandbox(pod(kind, `b${r}-${i}`))));
            const t1 = performance.now();
            const ips = await Promise.all(ids.map((id) => n.client.podSandboxStatus(id).then((s) => s.ip)));
            if (new Set(ips).size !== burst || ips.some((ip) => !ip)) throw new Error(`${kind}: ${burst} pods at once got addresses ${ips.join(",")}`);
            await Promise.all(ids.map((id) => n.client.stopPodSandbox(id)));
            await Promise.all(ids.map((id) => n.client.removePodSandbox(id)));
            const t2 = performance.now();
            samples[kind].burstRun.push(t1 - t0);
            samples[kind].burstDel.push(t2 - t1);
            const left = await n.client.listPodSandbox();
            if (left.length !== 0) throw new Error(`${kind}: ${left.length} pods left after the burst`);
          }
        }
      } finally {
        for (const n of Object.values(nodes)) await n.destroy();
        fs.rmSync(scratch, { recursive: true, force: true });
      }
      const results = kinds.map((k) => ({
        name: k === "tether" ? "tether (k8s-bridge.conflist)" : "reference bridge+host-local",
        runPodSandboxMs: stat(samples[k].run),
        stopRemoveMs: stat(samples[k].del),
        burst: { n: burst, runAllMs: stat(samples[k].burstRun), stopRemoveAllMs: stat(samples[k].burstDel) },
      }));
      const [t, r] = results;
      const ratios = {
        runPodSandbox: t.runPodSandboxMs.median / r.runPodSandboxMs.median,
        stopRemove: t.stopRemoveMs.median / r.stopRemoveMs.median,
        burstRun: t.burst.runAllMs.median / r.burst.runAllMs.median,
        burstStopRemove: t.burst.stopRemoveAllMs.median / r.burst.stopRemoveAllMs.median,
      };
      const w = Math.max(...results.map((x) => x.name.length));
      const lines = [`cri: containerd ${NETWORK} pods from the CRI client (n=${runs}, interleaved; ${burst} at once x ${rounds}), median (min-max)`];
      for (const x of results) {
        lines.push(`  ${x.name.padEnd(w)}  RunPodSandbox ${show(x.runPodSandboxMs)}  Stop+Remove ${show(x.stopRemoveMs)}`);
        lines.push(`  ${"".padEnd(w)}  ${burst} at once: run ${show(x.burst.runAllMs)}  stop+remove ${show(x.burst.stopRemoveAllMs)}`);
      }
      lines.push(
        `  tether / reference: RunPodSandbox ${ratios.runPodSandbox.toFixed(2)}, Stop+Remove ${ratios.stopRemove.toFixed(2)}, ` +
          `${burst} at once run ${ratios.burstRun.toFixed(2)}, stop+remove ${ratios.burstStopRemove.toFixed(2)} (medians)`,
      );
      return { name: "cri", description: this.description, results, ratios, lines };
    },
  };
}
