/**
 * Process-level fuzzing: the executable (dist/tether, else the compiled sources) exec'd as a
 * runtime would, in a node namespace the test creates, with malformed stdin (broken JSON, wrong
 * types, huge values, missing fields, unknown versions) or a malformed environment (missing or bad
 * variables, unknown commands, bad CNI_ARGS, CNI_NETNS not a namespace). Every run must end with
 * exit 1 and exactly one CNI error object on stdout, no stack trace on stderr, and no change to the
 * node namespace (links, addresses, routes, nft and iptables rules) or to the IPAM store, which
 * holds a live attachment made before the runs.
 */
import assert from "node:assert/strict";
import { writeFileSync } from "node:fs";
import { join } from "node:path";
import { describe, test } from "node:test";
import fc from "fast-check";
import { cniWorld, errorJson, successEmpty, successJson, tetherCommand, type CniInvocation } from "../helpers/binary";
import { netnsUnavailable } from "../helpers/netns";
import { requestVersion } from "../../src/cni/version";
import { tetherPlugin } from "../../src/plugins/tether";
import { footprint, footprintDiff, report, Semaphore, stableFootprint, treeDiff, treeSnapshot } from "../helpers/reliability";

const skip = netnsUnavailable();
const RUNS = Number(process.env["TETHER_FUZZ_PROCESS_RUNS"] ?? 300);
const SEED = Number(process.env["TETHER_FUZZ_SEED"] ?? Date.now() % 2 ** 31);
const KERNEL_CHECK_EVERY = 20;

/** Config edits that make any request invalid, whatever the command (each alone must fail). */
const BAD_EDITS: [string[], unknown][] = [
  [["name"], "../escape"],
  [["name"], "a/b"],
  [["name"], ""],
  [["name"], 42],
  [["name"], "n".repeat(300_000)],
  [["name"], "né"],
  [["name"], "a\u0000b"],
  [["name"], null],
  [["cniVersion"], "2.0.0"],
  [["cniVersion"], "0.0.1"],
  [["cniVersion"], "1.1"],
  [["cniVersion"], 110],
  [["cniVersion"], ["1.1.0"]],
  [["cniVersion"], "1.1.0".repeat(100_000)],
  [["mtu"], "1500"],
  [["mtu"], -1],
  [["mtu"], 1e308],
  [["mtu"], 2 ** 53],
  [["vlan"], 5000],
  [["vlan"], 1.5],
  [["mode"], "macvlan"],
  [["mode"], {}],
  [["ipMasqBackend"], "pf"],
  [["isGateway"], "yes"],
  [["log"], { level: "loud" }],
  [["log"], { file: "relative.log" }],
  [["runtimeConfig"], { mac: "zz:zz" }],
  [["runtimeConfig"], { ips: ["300.1.1.1"] }],
  [["ipam"], { type: "tether-ipam" }],
  [["ipam"], { type: "tether-ipam", ranges: "10.0.0.0/24" }],
  [["ipam"], { type: "tether-ipam", ranges: [[{ subnet: "10.0.0.0/33" }]] }],
  [["ipam"], { type: "tether-ipam", ranges: [[{ subnet: "10.0.0.0/24" }]], dataDir: "relative/dir" }],
  [["ipam"], { type: "tether-ipam", ranges: [[{ subnet: "1".repeat(200_000) }]] }],
  [["ipam"], { type: "tether-ipam", ranges: Array.from({ length: 5000 }, () => [{ subnet: "10.0.0.0/40" }]) }],
  [["ipam"], { type: "tether-ipam", ranges: [[{ subnet: "10.0.0.0/24", gateway: "10.9.9.9", rangeStart: "10.0.0.200", rangeEnd: "10.0.0.100" }]] }],
  [["ipam"], 7],
  [["mode"], "ptp"], // with the ipam removed below: ptp needs one
];

describe("reliability: process-level fuzzing", { skip, timeout: 3_600_000 }, () => {
  test(`${RUNS} runs of malformed stdin and environment: one CNI error, exit 1, no stack trace, no change`, async (t) => {
    const tether = tetherCommand();
    const w = cniWorld(t, { label: "fuzz" });
    const live = w.container("live");
    const good = w.conf("1.1.0", { isGateway: true, ipMasq: true });
    successJson(w.cni("ADD", live, good, { tether }));
    const regularFile = join(w.dataDir, "not-a-netns");
    writeFileSync(regularFile, "x");
    const kernelBefore = stableFootprint(footprint(w.node));
    const liveBefore = footprint(live);
    const storeBefore = treeSnapshot(w.dataDir);

    const commands = ["ADD", "DEL", "CHECK", "GC", "STATUS"] as const;
    const goodEnv = (command: string): Partial<CniInvocation> => ({ command, containerId: "fuzz-c", netns: live.path, ifname: "eth1" });

    // stdin that no command accepts
    const brokenJson = fc.oneof(
      fc.integer({ min: 1, max: 400 }).map((n) => JSON.stringify(good).slice(0, n)),
      fc.string({ unit: "binary", maxLength: 200 }).map((s) => `{${s}`),
      fc.constantFrom("", " ", "null", "[]", "42", '"x"', "{", '{"cniVersion":"1.1.0",}', "\u0000", "{}".repeat(1000), "[".repeat(100_000)),
      fc.uint8Array({ maxLength: 300 }).map((b) => Buffer.from(b).toString("latin1")).filter((s) => !/^\s*[{[]/.test(s)),
    );
    const badFields = fc.array(fc.constantFrom(...BAD_EDITS.keys()), { minLength: 1, maxLength: 3 }).map((idx) => {
      const c = JSON.parse(JSON.stringify(good)) as Record<string, unknown>;
      for (const i of idx) {
        const [[key], value] = BAD_EDITS[i]!;
        c[key!] = value;
        if (key === "mode" && value === "ptp") delete c["ipam"];
      }
      return JSON.stringify(c);
    });
    const missing = fc.constantFrom("name", "type", "ipam", "cniVersion").map((key) => {
      const c = JSON.parse(JSON.stringify(good)) as Record<string, unknown>;
      if (key === "type" || key === "cniVersion") {
        // a missing type alone is fine for tether; missing cniVersion is 0.1.0: pair them with a bad name
        delete c[key];
        c["name"] = "../x";
      } else if (key === "ipam") {
        delete c["ipam"];
        c["mode"] = "ptp";
      } else delete c[key];
      return JSON.stringify(c);
    });
    const badStdin = fc.record({
      kind: fc.constant("stdin"),
      command: fc.constantFrom(...commands),
      stdin: fc.oneof(brokenJson, badFields, missing),
    });
    // a good config and an environment no ADD accepts (CHECK for the namespace checks)
    const badEnvValue = fc.oneof(
      fc.record({ containerId: fc.constantFrom("", "../../etc", "a/b", "x".repeat(10_000) + "!", "é", "-x", ".") }),
      fc.record({ ifname: fc.constantFrom("", ".", "..", "a/b", "a b", "x".repeat(16), "ééééééééé", "eth:0") }),
      fc.record({ netns: fc.constantFrom("", "relative/ns", "/nonexistent/ns", regularFile, w.dataDir, "/proc/self/ns/net") }),
      fc.record({ args: fc.constantFrom("Unknown=1", "IP=10.88.0.999", "MAC=zz", "K8S_POD_NAME", "=x", "IP=" + "1".repeat(100_000)) }),
    );
    const badEnv = fc.record({ kind: fc.constant("env"), command: fc.constantFrom("ADD", "CHECK"), env: badEnvValue });
    const badCommand = fc.record({
      kind: fc.constant("command"),
      command: fc.oneof(fc.constantFrom("add", "ADD ", "DELETE", "version", "\u00e9"), fc.stringMatching(/^[A-Z]{1,12}$/).filter((s) => !["ADD", "DEL", "CHECK", "GC", "STATUS", "VERSION"].includes(s))),
    });
    const cases = fc.sample(fc.oneof({ weight: 5, arbitrary: badStdin }, { weight: 3, arbitrary: badEnv }, { weight: 1, arbitrary: badCommand }), { numRuns: RUNS, seed: SEED });

    // A field edit that the command's own config loading accepts (DEL, GC and STATUS need less than
    // ADD; some values are merely unusual) is not malformed input: such a case becomes broken JSON.
    let acceptedEdits = 0;
    const malformed = (command: string, stdin: string): boolean => {
      try {
        const raw = JSON.parse(stdin) as Record<string, unknown>;
        requestVersion(raw);
        if (command !== "STATUS") tetherPlugin.loadConfig(raw, command as "ADD");
        return command === "STATUS" ? !(typeof raw["name"] === "string" && raw["name"] !== "") : false;
      } catch {
        return true;
      }
    };
    for (const c of cases) {
      if (c.kind === "stdin" && !malformed(c.command, (c as { stdin: string }).stdin)) {
        (c as { stdin: string }).stdin = "{";
        acceptedEdits++;
      }
    }
    const problems: string[] = [];
    const codes = new Map<number, number>();
    let runs = 0;
    const sem = new Semaphore(4);
    const check = (where: string): void => {
      const diff = [...footprintDiff(kernelBefore, stableFootprint(footprint(w.node))), ...footprintDiff(liveBefore, footprint(live)).map((d) => `container: ${d}`)];
      if (diff.length > 0) problems.push(`kernel changed (${where}): ${diff.join("; ")}`);
    };
    await Promise.all(
      cases.map((c, i) =>
        sem.run(async () => {
          const inv: Partial<CniInvocation> = { ...goodEnv(c.command), tether, timeoutMs: 120_000 };
          if (c.kind === "env") Object.assign(inv, (c as { env: Partial<CniInvocation> }).env);
          const stdin = c.kind === "stdin" ? (c as { stdin: string }).stdin : JSON.stringify(good);
          const o = await w.cniAsync(c.command, inv.netns ?? "", {}, { ...inv, config: stdin });
          runs++;
          const label = `run ${i} (${c.kind} ${JSON.stringify(c).slice(0, 200)})`;
          try {
            const e = errorJson(o);
            codes.set(e.code, (codes.get(e.code) ?? 0) + 1);
            assert.ok(e.code !== 999, `internal error: ${e.msg} ${e.details ?? ""}`);
          } catch (err) {
            problems.push(`${label}: ${(err as Error).message.slice(0, 600)}`);
          }
          if (/\n\s+at .+:\d+:\d+|\\n\s+at .+:\d+:\d+/.test(o.stderr)) problems.push(`${label}: stack trace on stderr: ${o.stderr.slice(0, 600)}`);
          const storeDiff = treeDiff(storeBefore, treeSnapshot(w.dataDir));
          if (storeDiff.length > 0) problems.push(`${label}: store changed: ${storeDiff.join(", ")}`);
          if (i % KERNEL_CHECK_EVERY === 0) check(`by run ${i}`);
        }),
      ),
    );
    check("at the end");
    report(t, { binary: tether.label, seed: SEED, runs, editsAcceptedAsValid: acceptedEdits, problems: problems.length, ...Object.fromEntries([...codes].sort((a, b) => a[0] - b[0]).map(([k, v]) => [`code_${k}`, v])) });
    assert.deepEqual(problems.slice(0, 10), [], `${problems.length} problems (seed ${SEED}; TETHER_FUZZ_SEED reproduces)`);
    successEmpty(w.cni("DEL", live, good, { tether }));
  });
});
