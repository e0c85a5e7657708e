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
  const r = (dataDir) => ({
    cniVersion: CNI_VERSION,
    name: "bench-ref",
    type: mode,
    ...(mode === "bridge" ? { bridge: "rbench0", isGateway: true } : {}),
    ipam: { type: "host-local", dataDir, ranges: [[{ subnet: "10.251.0.0/16" }]] },
  });
  return [tetherPlugin(tether, mode, "t", `tether ${mode}`, 0), { key: "r", name: `reference ${mode}+host-local`, cmd: ref, conf: r }];
}

/**
 * A tether contender of an attach workload. `slot` 0 is the build under test; --versus builds get
 * 1, 2, ...: each its own network, bridge and subnet, so no two contenders share any state.
 */
export function tetherPlugin(cmd, mode, key, name, slot) {
  const conf = (dataDir) => ({
    cniVersion: CNI_VERSION,
    name: slot === 0 ? "bench-tether" : `bench-tether-v${slot}`,
    type: "tether",
    mode,
    ...(mode === "bridge" ? { bridge: slot === 0 ? "tbench0" : `vbench${slot}`, isGateway: true } : {}),
    ipam: { type: "tether-ipam", dataDir, ranges: [[{ subnet: slot === 0 ? "10.250.0.0/16" : `10.${240 + slot}.0.0/16` }]] },
  });
  return { key, name, cmd, conf, bridge: mode === "bridge" ? (slot === 0 ? "tbench0" : `vbench${slot}`) : undefined };
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
    for (const link of ["tbench0", "rbench0", ...contenders.flatMap((c) => (c.bridge ? [c.bridge] : []))]) spawnSync("ip", ["link", "del", link]);
  };
  const byName = (c) => contenders.find((x) => x.name === c.name);
  /** The timed call of plugin `p` in a workload whose command is `command`. */
  const timed = (p, command) => ({
    name: p.name,
    cmd: p.cmd,
    args: [],
    env: (ctx, i) => cniEnv(command, p.key, i),
    stdin: (ctx) => ctx.stdin[p.key],
    check: command === "ADD" ? checkResult : checkEmpty,
  });
  const workload = (command, name, description, beforeEach, afterEach) => ({
    name,
    description,
    command,
    ratios: [[contenders[0].name, contenders[1].name], [contenders[0].name, "node -e 0"]],
    contenders: [...contenders.map((c) => timed(c, command)), nodeFloor(node)],
    setup,
    teardown,
    beforeEach,
    afterEach,
  });
  const add = workload("ADD", `${mode}-add`, `${mode} ADD, a fresh container namespace per call (cniVersion ${CNI_VERSION})`,
    (ctx, i, c) => {
      const p = byName(c);
      if (p) sh("ip", ["netns", "add", netnsName(p.key, i)]);
    },
    (ctx, i, c) => {
      const p = byName(c);
      if (!p) return;
      try {
        call(p.cmd, cniEnv("DEL", p.key, i), ctx.stdin[p.key]);
      } finally {
        spawnSync("ip", ["netns", "del", netnsName(p.key, i)]);
      }
    },
  );
  const del = workload("DEL", `${mode}-del`, `${mode} DEL of an attachment made just before (untimed ADD)`,
    (ctx, i, c) => {
      const p = byName(c);
      if (!p) return;
      sh("ip", ["netns", "add", netnsName(p.key, i)]);
      call(p.cmd, cniEnv("ADD", p.key, i), ctx.stdin[p.key]);
    },
    (ctx, i, c) => {
      const p = byName(c);
      if (p) spawnSync("ip", ["netns", "del", netnsName(p.key, i)]);
    },
  );
  // --versus FILE: another tether build as one more contender of both workloads (A/B of builds).
  let slots = 0;
  const addVersus = (file, label = path.basename(file)) => {
    slots += 1;
    const p = tetherPlugin(file, mode, `v${slots}`, `tether ${label} ${mode}`, slots);
    contenders.push(p);
    for (const w of [add, del]) {
      w.contenders.splice(w.contenders.length - 1, 0, timed(p, w.command));
      w.ratios.push([p.name, "node -e 0"], [contenders[0].name, p.name]);
    }
  };
  add.addVersus = addVersus;
  del.addVersus = addVersus;
  return [add, del];
}
