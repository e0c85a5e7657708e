// Kernel workloads of the benchmark: tether against the Debian reference plugins, one fresh
// container namespace per call, inside the node namespace that scripts/bench.sh runs us in.
import { spawnSync } from "node:child_process";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";

export const REFERENCE_DIR = "/usr/lib/cni";
// Debian's containernetworking-plugins 1.1.1 speaks up to 1.0.0: both contenders get the same version.
export const CNI_VERSION = "1.0.0";

export function sh(cmd, args, input) {
  const r = spawnSync(cmd, args, { input, encoding: "utf8", env: { PATH: process.env.PATH ?? "/usr/sbin:/usr/bin:/sbin:/bin" } });
  if (r.status !== 0) throw new Error(`${cmd} ${args.join(" ")}: exit ${r.status ?? r.signal}: ${r.stderr || r.stdout}`);
  return r.stdout;
}

export function netnsName(key, i) {
  return `tb${process.env.TETHER_BENCH_TAG ?? process.pid}-${key}-${i < 0 ? `w${-i}` : i}`;
}

export function cniEnv(command, key, i) {
  return {
    CNI_COMMAND: command,
    CNI_CONTAINERID: `bench-${key}-${i < 0 ? `w${-i}` : i}`,
    CNI_NETNS: `/var/run/netns/${netnsName(key, i)}`,
    CNI_IFNAME: "eth0",
    CNI_PATH: REFERENCE_DIR,
  };
}

/** Run one plugin call untimed (the set-up or clean-up half of a workload). */
export function call(cmd, env, stdin) {
  const r = spawnSync(cmd, [], { input: stdin, encoding: "utf8", env: { PATH: process.env.PATH ?? "/usr/bin:/bin", ...env } });
  if (r.status !== 0) throw new Error(`${path.basename(cmd)} ${env.CNI_COMMAND}: exit ${r.status}: ${r.stdout} ${r.stderr}`);
  return r.stdout;
}

export function plugins(tether, mode) {
  const ref = path.join(REFERENCE_DIR, mode);
  const t = (dataDir) => ({
    cniVersion: CNI_VERSION,
    name: "bench-tether",
    type: "tether",
    mode,
    ...(mode === "bridge" ? { bridge: "tbench0", isGateway: true } : {}),
    ipam: { type: "tether-ipam", dataDir, ranges: [[{ subnet: "10.250.0.0/16" }]] },
  });
  const r = (dataDir) => ({
    cniVersion: CNI_VERSION,
    name: "bench-ref",
    type: mode,
    ...(mode === "bridge" ? { bridge: "rbench0", isGateway: true } : {}),
    ipam: { type: "host-local", dataDir, ranges: [[{ subnet: "10.251.0.0/16" }]] },
  });
  return [
    { key: "t", name: `tether ${mode}`, cmd: tether, conf: t },
    { key: "r", name: `reference ${mode}+host-local`, cmd: ref, conf: r },
  ];
}

export function checkResult(r) {
  if (r.status !== 0) throw new Error(`exit ${r.status}: ${r.stdout} ${r.stderr.slice(0, 300)}`);
  const out = JSON.parse(r.stdout);
  if (!out.ips?.length) throw new Error(`no ips in ${r.stdout}`);
}

export function checkEmpty(r) {
  if (r.status !== 0 || r.stdout.trim() !== "") throw new Error(`exit ${r.status}: ${r.stdout} ${r.stderr.slice(0, 300)}`);
}

function nodeFloor(node) {
  return { name: "node -e 0", cmd: node, args: ["-e", "0"], env: () => ({}), stdin: () => "{}", check: (r) => checkEmpty(r) };
}

/** ADD and DEL of one attachment in `mode` ("bridge" or "ptp"), tether vs the reference, with node -e 0 as the floor. */
export function attachWorkloads({ tether, node, mode }) {
  const contenders = plugins(tether, mode);
  const setup = (ctx) => {
    ctx.dirs = Object.fromEntries(contenders.map((c) => [c.key, fs.mkdtempSync(path.join(os.tmpdir(), `tether-bench-${c.key}-`))]));
    ctx.stdin = Object.fromEntries(contenders.map((c) => [c.key, JSON.stringify(c.conf(ctx.dirs[c.key]))]));
  };
  const teardown = (ctx) => {
    for (const d of Object.values(ctx.dirs ?? {})) fs.rmSync(d, { recursive: true, force: true });
    for (const link of ["tbench0", "rbench0"]) spawnSync("ip", ["link", "del", link]);
  };
  const byName = (c) => contenders.find((x) => x.name === c.name);
  const add = {
    name: `${mode}-add`,
    description: `${mode} ADD, a fresh container namespace per call (cniVersion ${CNI_VERSION})`,
    ratios: [[contenders[0].name, contenders[1].name], [contenders[0].name, "node -e 0"]],
    contenders: [
      ...contenders.map((c) => ({
        name: c.name,
        cmd: c.cmd,
        args: [],
        env: (ctx, i) => cniEnv("ADD", c.key, i),
        stdin: (ctx) => ctx.stdin[c.key],
        check: checkResult,
      })),
      nodeFloor(node),
    ],
    setup,
    teardown,
    beforeEach(ctx, i, c) {
      const p = byName(c);
      if (p) sh("ip", ["netns", "add", netnsName(p.key, i)]);
    },
    afterEach(ctx, i, c) {
      const p = byName(c);
      if (!p) return;
      try {
        call(p.cmd, cniEnv("DEL", p.key, i), ctx.stdin[p.key]);
      } finally {
        spawnSync("ip", ["netns", "del", netnsName(p.key, i)]);
      }
    },
  };
  const del = {
    name: `${mode}-del`,
    description: `${mode} DEL of an attachment made just before (untimed ADD)`,
    ratios: [[contenders[0].name, contenders[1].name], [contenders[0].name, "node -e 0"]],
    contenders: [
      ...contenders.map((c) => ({
        name: c.name,
        cmd: c.cmd,
        args: [],
        env: (ctx, i) => cniEnv("DEL", c.key, i),
        stdin: (ctx) => ctx.stdin[c.key],
        check: checkEmpty,
      })),
      nodeFloor(node),
    ],
    setup,
    teardown,
    beforeEach(ctx, i, c) {
      const p = byName(c);
      if (!p) return;
      sh("ip", ["netns", "add", netnsName(p.key, i)]);
      call(p.cmd, cniEnv("ADD", p.key, i), ctx.stdin[p.key]);
    },
    afterEach(ctx, i, c) {
      const p = byName(c);
      if (p) spawnSync("ip", ["netns", "del", netnsName(p.key, i)]);
    },
  };
  return [add, del];
}
