/**
 * Property-based tests (fast-check) of what parses untrusted input: the network configuration
 * (loadNetConf), the tether-ipam configuration (loadIpamConfig, loadStaticIpamConfig, and
 * validateBuiltinIpam as dispatch calls it), CNI_ARGS beyond test/unit/cni-args.test.ts (full
 * unicode and huge values in strict mode) and results (parseResult -> convertResult, beyond
 * test/unit/cni-result.test.ts: arbitrary documents). Each must return or throw a CniError with a
 * documented code, never anything else, never hang.
 */
import assert from "node:assert/strict";
import { isAbsolute } from "node:path";
import { describe, test } from "node:test";
import fc from "fast-check";
import { parseCniArgs } from "../../src/cni/args";
import { CniError } from "../../src/cni/errors";
import { toCniError } from "../../src/cni/mapError";
import { convertResult, parseResult } from "../../src/cni/result";
import { SUPPORTED_VERSIONS } from "../../src/cni/version";
import { loadIpamConfig, loadStaticIpamConfig } from "../../src/config/ipam";
import { isNetworkName } from "../../src/util/ids";
import { loadNetConf } from "../../src/config/netconf";
import { validateBuiltinIpam } from "../../src/ipam/plugin/builtin";
import { report } from "../helpers/reliability";

const RUNS = Number(process.env["TETHER_FUZZ_RUNS"] ?? 1500);

/** Calls fn; a throw must map to a CniError with one of `codes`. Returns "ok" or the code. */
function outcome(fn: () => unknown, codes: readonly number[]): string {
  try {
    fn();
    return "ok";
  } catch (thrown) {
    const e = toCniError(thrown);
    if (!(e instanceof CniError)) throw new Error(`threw a non-CniError: ${e instanceof Error ? (e.stack ?? e.message) : String(e)}`);
    assert.ok(codes.includes(e.code), `code ${e.code} (${e.message}) not in ${codes.join(",")}`);
    assert.equal(typeof e.message, "string");
    assert.ok(e.message.length > 0);
    return String(e.code);
  }
}

const tally = (m: Map<string, number>, k: string): void => void m.set(k, (m.get(k) ?? 0) + 1);
const figures = (m: Map<string, number>): Record<string, number> => Object.fromEntries([...m].map(([k, v]) => [`outcome_${k}`, v]));

// Values a hostile or buggy runtime could put anywhere.
const hostileString = fc.oneof(
  fc.string(),
  fc.string({ unit: "binary" }),
  fc.constantFrom("", "../", "../../etc", "/", "a/b", "a\u0000b", "\u0000", ".", "..", "x".repeat(5000), "é😀", "10.0.0.0/33", "::/129", "1.1.0", "9.9.9"),
  fc.ipV4(),
  fc.ipV6(),
  fc.tuple(fc.oneof(fc.ipV4(), fc.ipV6()), fc.integer({ min: -5, max: 200 })).map(([ip, n]) => `${ip}/${n}`),
);
const hostileValue: fc.Arbitrary<unknown> = fc.oneof(
  { weight: 3, arbitrary: hostileString },
  { weight: 1, arbitrary: fc.constantFrom(null, true, false, 0, -1, 1.5, 2 ** 53, -(2 ** 63), Number.MAX_VALUE, 1e308, 65536, 4095) },
  { weight: 1, arbitrary: fc.jsonValue({ maxDepth: 3 }) },
  { weight: 1, arbitrary: fc.array(hostileString, { maxLength: 4 }) },
);

/** A valid config, then some of its fields (at any depth we know of) replaced by hostile values. */
const baseConf = (): Record<string, unknown> => ({
  cniVersion: "1.1.0",
  name: "fuzz-net",
  type: "tether",
  mode: "bridge",
  bridge: "tbr0",
  isGateway: true,
  ipMasq: true,
  mtu: 1500,
  vlan: 0,
  runtimeConfig: { mac: "02:00:00:00:00:01", ips: ["10.1.0.9/24"], dns: { servers: ["10.0.0.53"] }, ipRanges: [[{ subnet: "10.2.0.0/24" }]] },
  args: { cni: { ips: ["10.1.0.8"], mac: "02:00:00:00:00:02" } },
  dns: { nameservers: ["1.1.1.1"], search: ["a"], options: ["ndots:2"] },
  log: { level: "warn" },
  capabilities: { mac: true, ips: true },
  ipam: {
    type: "tether-ipam",
    dataDir: "/var/lib/cni/networks",
    ranges: [[{ subnet: "10.1.0.0/24", rangeStart: "10.1.0.10", rangeEnd: "10.1.0.20", gateway: "10.1.0.1" }], [{ subnet: "fd00::/64" }]],
    routes: [{ dst: "0.0.0.0/0" }, { dst: "::/0", gw: "fd00::1" }],
  },
});
const PATHS: string[][] = [
  ["cniVersion"], ["name"], ["type"], ["mode"], ["bridge"], ["isGateway"], ["isDefaultGateway"], ["ipMasq"], ["ipMasqBackend"], ["mtu"], ["vlan"],
  ["hairpinMode"], ["promiscMode"], ["macspoofchk"], ["ipspoofchk"], ["forceAddress"], ["enabledad"], ["disableContainerInterface"], ["portIsolation"],
  ["runtimeConfig"], ["runtimeConfig", "mac"], ["runtimeConfig", "ips"], ["runtimeConfig", "dns"], ["runtimeConfig", "ipRanges"],
  ["args"], ["args", "cni"], ["args", "cni", "ips"], ["args", "cni", "mac"], ["dns"], ["dns", "nameservers"], ["log"], ["log", "level"], ["log", "file"],
  ["capabilities"], ["ipam"], ["ipam", "type"], ["ipam", "dataDir"], ["ipam", "ranges"], ["ipam", "subnet"], ["ipam", "routes"], ["ipam", "resolvConf"],
  ["ipam", "addresses"], ["ipam", "ranges", "0"], ["ipam", "ranges", "0", "0"], ["ipam", "ranges", "0", "0", "subnet"],
  ["ipam", "ranges", "0", "0", "rangeStart"], ["ipam", "ranges", "0", "0", "gateway"], ["ipam", "routes", "0", "dst"], ["ipam", "routes", "1", "gw"],
  ["prevResult"], ["cni.dev/valid-attachments"],
];

function setPath(obj: Record<string, unknown>, path: readonly string[], value: unknown): void {
  let cur: unknown = obj;
  for (const key of path.slice(0, -1)) {
    if (typeof cur !== "object" || cur === null) return;
    cur = (cur as Record<string, unknown>)[key];
  }
  if (typeof cur === "object" && cur !== null) (cur as Record<string, unknown>)[path[path.length - 1]!] = value;
}

const mutatedConf = fc
  .array(fc.tuple(fc.constantFrom(...PATHS), hostileValue, fc.boolean()), { minLength: 1, maxLength: 5 })
  .map((edits) => {
    const c = baseConf();
    for (const [path, value, remove] of edits) {
      if (remove) setPath(c, path, undefined);
      else setPath(c, path, value);
    }
    return JSON.parse(JSON.stringify(c)) as Record<string, unknown>; // as the wire carries it
  });

describe("reliability: property-based parsing", () => {
  test("loadNetConf: any JSON value or mutated config -> a NetConf or CniError 7; names stay inside the store", (t) => {
    const seen = new Map<string, number>();
    fc.assert(
      fc.property(fc.oneof(mutatedConf, fc.jsonValue({ maxDepth: 4 }), fc.anything({ maxDepth: 3 })), (raw) => {
        let conf: ReturnType<typeof loadNetConf> | undefined;
        const r = outcome(() => (conf = loadNetConf(raw)), [7]);
        tally(seen, r);
        if (conf !== undefined) {
          assert.equal(typeof conf.name, "string");
          assert.ok(conf.mode === "bridge" || conf.mode === "ptp");
        }
      }),
      { numRuns: RUNS },
    );
    report(t, { runs: RUNS, ...figures(seen) });
  });

  test("the IPAM config (validateBuiltinIpam, loadIpamConfig, loadStaticIpamConfig) -> config or CniError 7; dataDir absolute, name safe", (t) => {
    const seen = new Map<string, number>();
    const cniArgsIps = fc.array(hostileString, { maxLength: 3 });
    fc.assert(
      fc.property(mutatedConf, cniArgsIps, (raw, ips) => {
        tally(seen, outcome(() => validateBuiltinIpam(raw, "ADD"), [7]));
        const netconf = { name: raw["name"], cniVersion: raw["cniVersion"], ipam: raw["ipam"], runtimeConfig: raw["runtimeConfig"], args: raw["args"] };
        outcome(() => {
          const cfg = loadIpamConfig(netconf, ips);
          assert.ok(isAbsolute(cfg.dataDir), cfg.dataDir);
          assert.ok(isNetworkName(cfg.network), cfg.network);
          assert.ok(!cfg.network.includes("/") && cfg.network !== "." && cfg.network !== "..");
          assert.ok(cfg.rangeSets.length > 0);
        }, [7]);
        outcome(() => loadStaticIpamConfig(netconf, { ips, gateways: ips }), [7]);
      }),
      { numRuns: RUNS },
    );
    report(t, { runs: RUNS, ...figures(seen) });
  });

  test("CNI_ARGS, strict, full unicode and huge values: only CniError 4; lenient never throws", (t) => {
    const huge = fc.tuple(fc.constantFrom("IP=", "MAC=", "K8S_POD_NAME=", "IgnoreUnknown=1;X=", ""), fc.integer({ min: 1000, max: 200_000 }), fc.string({ unit: "grapheme", maxLength: 3 }))
      .map(([k, n, s]) => k + (s === "" ? "x" : s).repeat(Math.ceil(n / Math.max(1, s.length))));
    let errors = 0;
    fc.assert(
      fc.property(fc.oneof(fc.string({ unit: "grapheme" }), fc.string({ unit: "binary" }), huge), (text) => {
        if (outcome(() => parseCniArgs(text, false), [4]) !== "ok") errors++;
        parseCniArgs(text, true);
      }),
      { numRuns: 300 },
    );
    report(t, { runs: 300, strictErrors: errors });
  });

  test("results: any document -> parseResult gives a Result or CniError 6; converting it to any version gives JSON or CniError 1", (t) => {
    const ipish = fc.oneof(hostileString, fc.tuple(fc.oneof(fc.ipV4(), fc.ipV6()), fc.integer({ min: 0, max: 128 })).map(([a, n]) => `${a}/${n}`));
    const resultLike = fc.record(
      {
        cniVersion: fc.oneof(fc.constantFrom(...SUPPORTED_VERSIONS), hostileValue),
        interfaces: fc.oneof(fc.array(fc.record({ name: hostileValue, mac: hostileValue, sandbox: hostileValue }, { requiredKeys: [] }), { maxLength: 3 }), hostileValue),
        ips: fc.oneof(
          fc.array(fc.record({ address: ipish, gateway: fc.oneof(fc.ipV4(), fc.ipV6(), hostileValue), interface: fc.oneof(fc.integer({ min: -2, max: 4 }), hostileValue), version: hostileValue }, { requiredKeys: [] }), { maxLength: 3 }),
          hostileValue,
        ),
        ip4: fc.oneof(fc.record({ ip: ipish, gateway: hostileValue, routes: hostileValue }, { requiredKeys: [] }), hostileValue),
        ip6: fc.oneof(fc.record({ ip: ipish, gateway: hostileValue }, { requiredKeys: [] }), hostileValue),
        routes: fc.oneof(fc.array(fc.record({ dst: ipish, gw: hostileValue }, { requiredKeys: [] }), { maxLength: 3 }), hostileValue),
        dns: fc.oneof(fc.record({ nameservers: hostileValue, domain: hostileValue, search: hostileValue, options: hostileValue }, { requiredKeys: [] }), hostileValue),
      },
      { requiredKeys: [] },
    );
    const seen = new Map<string, number>();
    fc.assert(
      fc.property(fc.oneof(resultLike, fc.jsonValue({ maxDepth: 4 })), fc.constantFrom(...SUPPORTED_VERSIONS), fc.constantFrom(...SUPPORTED_VERSIONS), (raw, from, to) => {
        const doc = JSON.parse(JSON.stringify(raw ?? null)) as unknown;
        let parsed: ReturnType<typeof parseResult> | undefined;
        tally(seen, `parse_${outcome(() => (parsed = parseResult(doc, from)), [6])}`);
        if (parsed === undefined) return;
        tally(
          seen,
          `convert_${outcome(() => {
            const json = JSON.stringify(convertResult(parsed!, to));
            assert.equal((JSON.parse(json) as { cniVersion?: unknown }).cniVersion, to);
          }, [1])}`,
        );
      }),
      { numRuns: RUNS },
    );
    report(t, { runs: RUNS, ...figures(seen) });
  });
});
