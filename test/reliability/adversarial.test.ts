/**
 * What an adversarial run found (issue 18), each as a case against the executable (dist/tether,
 * else the compiled sources) in namespaces the test creates: long container ids, file descriptors
 * running out, bytes that are not UTF-8, a renamed container interface, a pre-existing CNI_IFNAME, a
 * killed ADD, parallel ADD and DEL of one attachment, two ptp networks on one subnet, and hostile
 * store content in messages and listings.
 */
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { mkdirSync, readdirSync, writeFileSync, existsSync, symlinkSync } from "node:fs";
import { join } from "node:path";
import { describe, test, type TestContext } from "node:test";
import { cniWorld, errorJson, successEmpty, successJson, tetherCommand, RUNTIME_PATH, REPO_ROOT, type CniOutcome, type CniWorld } from "../helpers/binary";
import { netnsUnavailable, type TestNetns } from "../helpers/netns";
import { ATTACHMENT_LOCK_ROOT, lockName } from "../../src/plugins/attachmentLock";
import { containerLeftovers, faultsCommand, footprint, footprintDiff, report, stableFootprint } from "../helpers/reliability";

const skip = netnsUnavailable();
const TIMEOUT = 600_000;
const tether = tetherCommand();

/** A tether CLI command in the node namespace. */
function cli(w: CniWorld, ...args: string[]): { status: number | null; stdout: string; stderr: string } {
  const r = spawnSync("ip", ["netns", "exec", w.node.name, tether.cmd, ...tether.args, ...args], { encoding: "utf8", env: { PATH: RUNTIME_PATH } });
  return { status: r.status, stdout: r.stdout, stderr: r.stderr };
}

/**
 * One CNI call through bash, so the environment can carry bytes Node cannot put there (`raw` is
 * bash $'...' text for CNI_IFNAME), or a `ulimit -n`.
 */
function bashCni(w: CniWorld, command: string, c: TestNetns, conf: object, opts: { ifnameRaw?: string; ulimit?: number; containerId?: string }): CniOutcome {
  const ifname = opts.ifnameRaw !== undefined ? `$'${opts.ifnameRaw}'` : "eth0";
  const limit = opts.ulimit !== undefined ? `ulimit -n ${opts.ulimit}; ` : "";
  const script = `${limit}CNI_IFNAME=${ifname} exec "$@"`;
  const r = spawnSync("ip", ["netns", "exec", w.node.name, "bash", "-c", script, "bash", tether.cmd, ...tether.args], {
    env: {
      PATH: RUNTIME_PATH,
      CNI_COMMAND: command,
      CNI_CONTAINERID: opts.containerId ?? w.containerId(c),
      CNI_NETNS: c.path,
      CNI_PATH: join(REPO_ROOT, "dist"),
    },
    input: JSON.stringify(conf),
    cwd: "/",
    timeout: 120_000,
  });
  if (r.error) throw r.error;
  return { status: r.status, signal: r.signal, stdout: r.stdout.toString("utf8"), stderr: r.stderr.toString("utf8") };
}

/** One CNI call through bash with `assignments` (bash text, $'...' allowed) before the executable. */
function bashRaw(w: CniWorld, command: string, c: TestNetns, conf: object, assignments: string): CniOutcome {
  const r = spawnSync("ip", ["netns", "exec", w.node.name, "bash", "-c", `${assignments} exec "$@"`, "bash", tether.cmd, ...tether.args], {
    env: { PATH: RUNTIME_PATH, CNI_COMMAND: command, CNI_CONTAINERID: w.containerId(c), CNI_NETNS: c.path, CNI_IFNAME: "eth0", CNI_PATH: join(REPO_ROOT, "dist") },
    input: JSON.stringify(conf),
    cwd: "/",
    timeout: 120_000,
  });
  if (r.error) throw r.error;
  return { status: r.status, signal: r.signal, stdout: r.stdout.toString("utf8"), stderr: r.stderr.toString("utf8") };
}

function storeFiles(w: CniWorld): string[] {
  try {
    return readdirSync(join(w.dataDir, w.network)).filter((n) => n !== "lock" && !n.startsWith("last_reserved_ip.") && !n.startsWith("."));
  } catch {
    return [];
  }
}

function world(t: TestContext, label: string, ranges?: unknown[][]): CniWorld {
  return cniWorld(t, ranges ? { label, ranges } : { label });
}

describe("reliability: issue 18, what an adversarial run found", { skip, timeout: TIMEOUT }, () => {
  test("1. container ids of any length a runtime can pass: ADD, CHECK and DEL agree; the limit is the same everywhere", (t) => {
    const w = world(t, "aid");
    const cf = w.conf("1.1.0");
    let calls = 0;
    for (const len of [4090, 4091, 5000, 70_000]) {
      const c = w.container("aid");
      const id = "x".repeat(len);
      const result = successJson<{ ips: unknown[] }>(w.cni("ADD", c, cf, { tether, containerId: id }));
      assert.equal(result.ips.length, 2);
      assert.equal(storeFiles(w).length, 2);
      successEmpty(w.cni("CHECK", c, { ...cf, prevResult: result }, { tether, containerId: id }));
      successEmpty(w.cni("DEL", c, cf, { tether, containerId: id }));
      assert.deepEqual(storeFiles(w), [], `id of ${len} characters: DEL left reservations`);
      assert.deepEqual(containerLeftovers(c), []);
      calls += 3;
    }
    report(t, { calls, idLengths: "4090,4091,5000,70000" });
  });

  test("2. file descriptors running out at any point of an ADD: it works, or fails with code 11 leaving nothing; nft is never taken for broken", (t) => {
    const w = world(t, "afd");
    const cf = w.conf("1.1.0", { mode: "ptp", ipMasq: true });
    const base = stableFootprint(footprint(w.node));
    const limits = (process.env["TETHER_FD_LIMITS"] ?? "20,24,28,32,36,38,40,42,44,46,48,50,52,54,56,58,60,64").split(",").map(Number);
    const outcomes: string[] = [];
    for (const limit of limits) {
      const c = w.container("afd");
      const o = bashCni(w, "ADD", c, cf, { ulimit: limit });
      if (o.status === 0) {
        outcomes.push(`${limit}:ok`);
        successJson(o);
        assert.doesNotMatch(w.node.tryExec(["iptables-save", "-t", "nat"]).stdout, /TETHER-/, `ulimit ${limit}: masquerade fell back to iptables`);
        successEmpty(w.cni("DEL", c, cf, { tether }));
      } else {
        const err = errorJson(o);
        // "before": refused before anything was made; "during": failed half way and undone.
        outcomes.push(`${limit}:${err.code}${/before the ADD began/.test(err.msg) ? "before" : "during"}`);
        assert.equal(err.code, 11, `ulimit ${limit}: ${JSON.stringify(err)}`);
        assert.match(err.msg, /file descriptors/);
        assert.doesNotMatch(err.msg, /could not be undone/, `ulimit ${limit}: ${err.msg}`);
      }
      assert.deepEqual(containerLeftovers(c), [], `ulimit ${limit}: container`);
      assert.deepEqual(storeFiles(w), [], `ulimit ${limit}: reservations`);
      assert.deepEqual(footprintDiff(base, stableFootprint(footprint(w.node))), [], `ulimit ${limit}: node`);
    }
    report(t, { outcomes: outcomes.join(",") });
    // Every path was taken: refused at once, undone half way, done.
    for (const kind of [":11before", ":11during", ":ok"]) assert.ok(outcomes.some((o) => o.endsWith(kind)), `no ${kind} among ${outcomes.join(",")}`);
  });

  test("3. an interface name that is not UTF-8 is refused with code 4 naming CNI_IFNAME, nothing made", (t) => {
    const w = world(t, "autf");
    const c = w.container("autf");
    const cf = w.conf("1.1.0");
    for (const raw of ["e\\xff0", "\\xc3", "a\\xed\\xa0\\x80b"]) {
      const err = errorJson(bashCni(w, "ADD", c, cf, { ifnameRaw: raw }));
      assert.equal(err.code, 4, JSON.stringify(err));
      assert.match(err.msg, /CNI_IFNAME/);
      assert.match(err.msg, /UTF-8/);
      assert.deepEqual(containerLeftovers(c), []);
      assert.deepEqual(storeFiles(w), []);
    }
    // A valid non-ASCII name still works, byte for byte.
    const ok = successJson<{ interfaces: { name: string; sandbox?: string }[] }>(bashCni(w, "ADD", c, cf, { ifnameRaw: "e\\xc3\\xa90" }));
    assert.equal(ok.interfaces.find((i) => i.sandbox !== undefined)?.name, "e\u00e90");
    assert.ok(c.hasLink("e\u00e90"));
    successEmpty(bashCni(w, "DEL", c, cf, { ifnameRaw: "e\\xc3\\xa90" }));
    assert.deepEqual(containerLeftovers(c), []);
    report(t, { refused: 3 });
  });

  for (const mode of ["bridge", "ptp"] as const) {
    test(`4. ${mode}: a renamed container interface: DEL removes the host veth (and its routes) by its label; doctor finds one a DEL missed`, (t) => {
      const w = world(t, `aren${mode[0]}`);
      const cf = w.conf("1.1.0", mode === "ptp" ? { mode: "ptp" } : { isGateway: true });
      const veths0 = w.nodeVeths();
      const c = w.container("aren");
      const result = successJson<{ interfaces: { name: string; sandbox?: string }[]; ips: { address: string }[] }>(w.cni("ADD", c, cf, { tether }));
      const hostVeth = result.interfaces.find((i) => i.sandbox === undefined && i.name.startsWith("veth"))!.name;
      c.exec(["ip", "link", "set", "eth0", "down"]);
      c.exec(["ip", "link", "set", "eth0", "name", "renamed0"]);
      successEmpty(w.cni("DEL", c, cf, { tether }));
      assert.deepEqual(w.nodeVeths(), veths0, "the host veth stayed");
      assert.equal(c.hasLink("renamed0"), false);
      const v4 = result.ips[0]!.address.split("/")[0]!;
      assert.ok(!w.node.routes(4).some((r) => r.dst === v4), `host route to ${v4} stayed`);
      assert.deepEqual(storeFiles(w), []);

      // The same leftover as a DEL that missed it leaves it (record and reservations gone, veth kept): doctor sees it by its label.
      const c2 = w.container("aren");
      const r2 = successJson<{ interfaces: { name: string; sandbox?: string }[] }>(w.cni("ADD", c2, cf, { tether }));
      const hv2 = r2.interfaces.find((i) => i.sandbox === undefined && i.name.startsWith("veth"))!.name;
      for (const f of storeFiles(w)) spawnSync("rm", ["-f", join(w.dataDir, w.network, f)]);
      spawnSync("sh", ["-c", `rm -f ${join(w.dataDir, ".tether-attachments", w.network)}/*.json`]);
      w.node.exec(["nft", "flush", "ruleset"]);
      const found = cli(w, "doctor", "--data-dir", w.dataDir, "--json");
      assert.equal(found.status, 1, found.stdout + found.stderr);
      assert.deepEqual((JSON.parse(found.stdout) as { kind: string; subject: string }[]).map((f) => [f.kind, f.subject]), [["orphan-veth", hv2]]);
      const fixed = cli(w, "doctor", "--data-dir", w.dataDir, "--fix");
      assert.equal(fixed.status, 0, fixed.stdout + fixed.stderr);
      assert.deepEqual(w.nodeVeths(), veths0);
      void hostVeth;
      report(t, { mode, calls: 4 });
    });
  }

  test("5. DEL after an ADD refused for an existing CNI_IFNAME leaves that interface alone", (t) => {
    const w = world(t, "aexist");
    const cf = w.conf("1.1.0", { isGateway: true });
    const c = w.container("aexist");
    let kept = 0;
    // A bridge, a veth whose peer is in the container too, and one whose peer sits unlabelled in the node (another plugin's).
    for (const setup of [
      () => c.exec(["ip", "link", "add", "eth0", "type", "bridge"]),
      () => c.exec(["ip", "link", "add", "eth0", "type", "veth", "peer", "name", "eth0p"]),
      () => {
        w.node.exec(["ip", "link", "add", "othr0", "type", "veth", "peer", "name", "eth0", "netns", c.path]);
      },
    ]) {
      setup();
      const err = errorJson(w.cni("ADD", c, cf, { tether }));
      assert.equal(err.code, 100);
      successEmpty(w.cni("DEL", c, cf, { tether }));
      assert.ok(c.hasLink("eth0"), "DEL deleted an eth0 tether never made");
      assert.deepEqual(storeFiles(w), []);
      c.exec(["ip", "link", "del", "eth0"]);
      kept++;
    }
    report(t, { kept });
  });

  test("6. an ADD killed at each point, its namespace then removed: doctor reports whatever it holds and --fix removes it", (t) => {
    const w = world(t, "akill");
    const faults = faultsCommand();
    const cf = w.conf("1.1.0", { mode: "ptp", ipMasq: true });
    const base = stableFootprint(footprint(w.node));
    // How many fault points a whole ADD passes.
    const probe = w.container("akill");
    const traced = w.cni("ADD", probe, cf, { tether: faults, env: { TETHER_FAULT_TRACE: "1" } });
    successJson(traced);
    const points = traced.stderr.split("\n").filter((l) => l.startsWith("tether-fault: #")).length;
    successEmpty(w.cni("DEL", probe, cf, { tether: faults }));
    assert.ok(points > 5, `only ${points} fault points`);
    let withLeftovers = 0;
    let reported = 0;
    for (let n = 1; n <= points; n++) {
      const c = w.container("akill");
      const o = w.cni("ADD", c, cf, { tether: faults, env: { TETHER_FAULT_AT: String(n), TETHER_FAULT_KILL: "1" } });
      assert.equal(o.signal, "SIGKILL", `point ${n}: ${o.stdout}${o.stderr}`);
      c.remove();
      const held = storeFiles(w);
      const doctor = cli(w, "doctor", "--data-dir", w.dataDir, "--json");
      const findings = JSON.parse(doctor.stdout || "[]") as { kind: string; detail: string }[];
      if (held.length > 0) {
        withLeftovers++;
        const leak = findings.find((f) => f.kind === "leaked-attachment");
        assert.ok(leak, `point ${n}: ${held.join(", ")} held, doctor says ${doctor.stdout}`);
        for (const ip of held) assert.ok(leak.detail.includes(ip), `point ${n}: doctor does not name ${ip}: ${leak.detail}`);
        reported++;
      }
      const fix = cli(w, "doctor", "--data-dir", w.dataDir, "--fix");
      assert.equal(fix.status, 0, `point ${n}: ${fix.stdout}${fix.stderr}`);
      assert.deepEqual(storeFiles(w), [], `point ${n}: reservations after doctor --fix`);
      assert.deepEqual(footprintDiff(base, stableFootprint(footprint(w.node))), [], `point ${n}: node after doctor --fix`);
    }
    report(t, { points, withLeftovers, reported });
    assert.equal(reported, withLeftovers);
  });

  test("7. parallel ADDs and DELs of one attachment: serialised, every round ends consistent, the last DEL leaves nothing", async (t) => {
    const w = world(t, "apar");
    const rounds = Number(process.env["TETHER_PARALLEL_ROUNDS"] ?? "4");
    const perKind = Number(process.env["TETHER_PARALLEL_CALLS"] ?? "12");
    const cf = w.conf("1.1.0", { mode: "ptp", ipMasq: true });
    const base = stableFootprint(footprint(w.node));
    const c = w.container("apar");
    const tag = (): string[] => w.node.exec(["nft", "list", "ruleset"]).split("\n").filter((l) => l.includes("tether:"));
    let calls = 0;
    const codes = new Map<string, number>();
    for (let round = 0; round < rounds; round++) {
      const jobs: Promise<CniOutcome>[] = [];
      for (let i = 0; i < perKind; i++) {
        jobs.push(w.cniAsync("ADD", c, cf, { tether }));
        jobs.push(w.cniAsync("DEL", c, cf, { tether }));
      }
      for (const o of await Promise.all(jobs)) {
        calls++;
        const code = o.status === 0 ? "0" : String((JSON.parse(o.stdout) as { code: number }).code);
        codes.set(code, (codes.get(code) ?? 0) + 1);
        assert.ok(["0", "11", "100", "102"].includes(code), `unexpected outcome: ${o.stdout} ${o.stderr.slice(-500)}`);
      }
      const attached = c.hasLink("eth0");
      const held = storeFiles(w).length;
      const rules = tag().length;
      const veths = w.nodeVeths().length;
      const state = `round ${round}: eth0 ${attached}, reservations ${held}, rules ${rules}, host veths ${veths}`;
      if (attached) assert.ok(held === 2 && rules > 0 && veths === 1, state);
      else assert.ok(held === 0 && rules === 0 && veths === 0, state);
      successEmpty(w.cni("DEL", c, cf, { tether }));
      assert.deepEqual(containerLeftovers(c), [], `round ${round}: after the last DEL`);
      assert.deepEqual(storeFiles(w), [], `round ${round}: reservations after the last DEL`);
      assert.deepEqual(footprintDiff(base, stableFootprint(footprint(w.node))), [], `round ${round}: node after the last DEL`);
    }
    // The lock files went with the last DEL, and the network's lock directory with them.
    assert.equal(existsSync(join(ATTACHMENT_LOCK_ROOT, lockName(`network\0${w.network}`))), false, "the network's lock directory stayed");
    report(t, { rounds, calls, outcomes: [...codes].map(([k, v]) => `${k}:${v}`).join(",") });
  });

  test("3b. the other variables: not UTF-8 or 100 KB long, refused with code 4 naming the variable, quoted and cut; nothing made", (t) => {
    const w = world(t, "aenv");
    const c = w.container("aenv");
    const cf = w.conf("1.1.0");
    const huge = "q".repeat(100_000);
    // A namespace path whose bytes are not UTF-8, pointing at the real namespace: Node would open another path.
    const odd = join(w.dataDir, "ns-link");
    symlinkSync(c.path, Buffer.concat([Buffer.from(odd), Buffer.from([0xff])]));
    const cases: [string, string, RegExp][] = [
      ["CNI_NETNS not UTF-8", `CNI_NETNS=$'${odd}\\xff'`, /^CNI_NETNS: .*UTF-8/],
      ["CNI_NETNS relative, huge", `CNI_NETNS=${huge}`, /^CNI_NETNS: /],
      ["CNI_NETNS absolute, huge", `CNI_NETNS=/${huge}`, /^CNI_NETNS: /],
      ["CNI_COMMAND huge", `CNI_COMMAND=${huge}`, /CNI_COMMAND/],
      ["CNI_ARGS IP= huge", `CNI_ARGS=IP=${huge}`, /^CNI_ARGS: IP=/],
      ["CNI_ARGS IP= not UTF-8", `CNI_ARGS=$'IP=10.88.0.9\\xff'`, /^CNI_ARGS: IP=/],
      ["CNI_ARGS no pair, huge", `CNI_ARGS=${huge}`, /^CNI_ARGS: /],
      ["CNI_ARGS MAC= huge", `CNI_ARGS=MAC=${huge}`, /^CNI_ARGS: MAC=/],
    ];
    for (const [what, assignment, names] of cases) {
      const err = errorJson(bashRaw(w, "ADD", c, cf, assignment));
      assert.equal(err.code, 4, `${what}: ${JSON.stringify(err).slice(0, 300)}`);
      assert.match(err.msg, names, what);
      assert.ok(JSON.stringify(err).length < 600, `${what}: the error carries ${JSON.stringify(err).length} characters`);
      // eslint-disable-next-line no-control-regex
      assert.doesNotMatch(err.msg, /[\x00-\x1f\x7f\ufffd]/, `${what}: ${err.msg}`);
    }
    assert.deepEqual(containerLeftovers(c), []);
    assert.deepEqual(storeFiles(w), []);
    report(t, { refused: cases.length });
  });

  test("7b. ptp: a second CNI_IFNAME of one container on one network is refused (102) naming the interface that routes the gateway; the first keeps working", (t) => {
    const w = world(t, "a2if", [[{ subnet: "10.91.0.0/24" }]]);
    const cf = w.conf("1.1.0", { mode: "ptp" });
    const c = w.container("a2if");
    successJson(w.cni("ADD", c, cf, { tether }));
    const err = errorJson(w.cni("ADD", c, cf, { tether, ifname: "eth1" }));
    assert.equal(err.code, 102, JSON.stringify(err));
    assert.match(err.msg, /gateway 10\.91\.0\.1 through interface "eth0"/);
    assert.equal(c.hasLink("eth1"), false);
    assert.equal(storeFiles(w).length, 1);
    assert.ok(c.ping("10.91.0.1", 5), "the first interface lost its gateway");
    successEmpty(w.cni("DEL", c, cf, { tether, ifname: "eth1" }));
    assert.ok(c.hasLink("eth0"), "DEL of the refused eth1 removed eth0");
    successEmpty(w.cni("DEL", c, cf, { tether }));
    assert.deepEqual(containerLeftovers(c), []);
    assert.deepEqual(storeFiles(w), []);
    report(t, { refused: 1 });
  });

  test("9. ptp: a second network on the same subnet is refused naming the attachment whose route it would take; the first keeps its route", (t) => {
    const w = world(t, "asub", [[{ subnet: "10.90.0.0/24" }]]);
    const first = w.conf("1.1.0", { mode: "ptp" });
    const second = { ...w.conf("1.1.0", { mode: "ptp" }), name: `${w.network}-2` };
    const c1 = w.container("asub");
    const r1 = successJson<{ interfaces: { name: string; sandbox?: string }[]; ips: { address: string }[] }>(w.cni("ADD", c1, first, { tether }));
    const ip = r1.ips[0]!.address.split("/")[0]!;
    const hv1 = r1.interfaces.find((i) => i.sandbox === undefined)!.name;
    const c2 = w.container("asub");
    const err = errorJson(w.cni("ADD", c2, second, { tether }));
    assert.equal(err.code, 102, JSON.stringify(err));
    assert.ok(err.msg.includes(`${w.containerId(c1)}/eth0 of network ${w.network}`), err.msg);
    assert.deepEqual(w.node.routes(4).filter((r) => r.dst === ip).map((r) => r.dev), [hv1], "the first attachment's route");
    assert.deepEqual(containerLeftovers(c2), []);
    assert.ok(c1.ping("10.90.0.1", 5), "the first container lost its gateway");
    successEmpty(w.cni("DEL", c2, second, { tether }));
    successEmpty(w.cni("DEL", c1, first, { tether }));
    report(t, { refused: 1 });
  });

  test("9b. ptp on the subnet of a bridge network is refused naming the bridge; the bridge's container keeps its address", (t) => {
    const w = world(t, "aovl", [[{ subnet: "10.90.0.0/24" }]]);
    const bridged = w.conf("1.1.0", { isGateway: true });
    const ptp = { ...w.conf("1.1.0", { mode: "ptp" }), name: `${w.network}-p` };
    const c1 = w.container("aovl");
    const r1 = successJson<{ ips: { address: string }[] }>(w.cni("ADD", c1, bridged, { tether }));
    const ip = r1.ips[0]!.address.split("/")[0]!;
    const c2 = w.container("aovl");
    // Its own store gives the ptp network the same first address.
    const err = errorJson(w.cni("ADD", c2, ptp, { tether }));
    assert.equal(err.code, 102, JSON.stringify(err));
    assert.match(err.msg, new RegExp(`reaches ${ip.replace(/\./g, "\\.")} on bridge "${w.bridge}"`));
    assert.deepEqual(containerLeftovers(c2), []);
    assert.ok(!w.node.routes(4).some((r) => r.dst === ip), "a host route took the bridge container's address");
    assert.ok(c1.ping("10.90.0.1", 5), "the bridge container lost the node");
    successEmpty(w.cni("DEL", c2, ptp, { tether }));
    successEmpty(w.cni("DEL", c1, bridged, { tether }));
    report(t, { refused: 1 });
  });

  test("10. hostile store content: quoted and cut in the 102 error and in `tether ipam list`; doctor --fix handles a planted directory", (t) => {
    const w = world(t, "ahost", [[{ subnet: "10.89.0.0/24" }]]);
    const c = w.container("ahost");
    const cf = w.conf("1.1.0");
    const dir = join(w.dataDir, w.network);
    mkdirSync(dir, { recursive: true, mode: 0o755 });
    // 10 MB of garbage with NULs and escapes, named like an address.
    const junk = Buffer.alloc(10 << 20);
    for (let i = 0; i < junk.length; i++) junk[i] = [0, 27, 65, 10, 7][i % 5]!;
    writeFileSync(join(dir, "10.89.0.50"), junk, { mode: 0o600 });
    // A control-byte owner of a plausible size.
    writeFileSync(join(dir, "10.89.0.51"), "evil\x1b[31mred\x07\r\neth0", { mode: 0o600 });
    const long = "z".repeat(3000) + "\x00\x1b";
    writeFileSync(join(dir, "10.89.0.52"), long, { mode: 0o600 });
    for (const ip of ["10.89.0.50", "10.89.0.51", "10.89.0.52"]) {
      const err = errorJson(w.cni("ADD", c, cf, { tether, args: `IP=${ip}` }));
      assert.equal(err.code, 102, JSON.stringify(err).slice(0, 500));
      const text = JSON.stringify(err);
      assert.ok(text.length < 600, `the error carries ${text.length} characters: ${text.slice(0, 300)}`);
      // eslint-disable-next-line no-control-regex
      assert.doesNotMatch(err.msg + (err.details ?? ""), /[\x00-\x08\x0b-\x1f\x7f]/, "control bytes in the error");
    }
    assert.deepEqual(containerLeftovers(c), []);
    const list = cli(w, "ipam", "list", "--data-dir", w.dataDir);
    assert.equal(list.status, 0, list.stderr);
    // eslint-disable-next-line no-control-regex
    assert.doesNotMatch(list.stdout, /[\x00-\x09\x0b-\x1f\x7f]/, "control bytes in the listing");
    assert.ok(list.stdout.length < 2000, `listing of ${list.stdout.length} characters`);
    assert.match(list.stdout, /10\.89\.0\.51 +"evil\\u001b\[31mred\\u0007"/);
    const listJson = cli(w, "ipam", "list", "--data-dir", w.dataDir, "--json");
    assert.equal(listJson.status, 0, listJson.stderr);
    assert.ok(listJson.stdout.length < 4000, `JSON listing of ${listJson.stdout.length} characters`);
    // Directories planted where reservations go: an empty one is removed, a full one explained.
    mkdirSync(join(dir, "10.89.0.60"));
    mkdirSync(join(dir, "10.89.0.61"));
    writeFileSync(join(dir, "10.89.0.61", "keep"), "x");
    const fix = cli(w, "doctor", "--data-dir", w.dataDir, "--fix");
    assert.equal(existsSync(join(dir, "10.89.0.60")), false, `empty directory not removed: ${fix.stdout}${fix.stderr}`);
    assert.equal(existsSync(join(dir, "10.89.0.61", "keep")), true, "a directory with content must not be removed");
    assert.doesNotMatch(fix.stdout, /EISDIR/);
    assert.match(fix.stdout, /10\.89\.0\.61[^\n]*\n[^\n]*(rm -r|not empty)/);
    assert.equal(fix.status, 1);
    // eslint-disable-next-line no-control-regex
    assert.doesNotMatch(fix.stdout, /[\x00-\x09\x0b-\x1f\x7f]/, "control bytes in doctor's report");
    report(t, { errors: 3, listings: 2 });
  });
});
