/**
 * The quick configuration checks (src/config/quick) against the zod schemas they stand in for. For
 * every input: either the quick check returns exactly what zod returns (deep, with the same key
 * order, prototypes, and sharing of the input's objects) or it says NO and zod decides; never does it
 * accept what zod refuses. And it says NO only where zod refuses too (or on a key named __proto__),
 * so the common path really skips zod. Inputs: generated configurations (fast-check: valid and
 * invalid, every CNI version, both modes, pools, static addresses, routes, dns, runtimeConfig and
 * args in the cases runtimes send, unknown keys, wrong types, NUL bytes, huge values), the example
 * configurations in conf/, and every config the unit tests of the configuration pass through a
 * quick check (they are run again below with an observer on the checks). The loaders (loadNetConf,
 * the IPAM loaders) are compared with the quick checks on and off: same value or the same error.
 */
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { readdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { after, before, describe, test } from "node:test";
import fc from "fast-check";
import { SUPPORTED_VERSIONS } from "../../src/cni/version";
import { loadIpamConfig, loadIpamStoreConfig, loadStaticIpamConfig, type IpamNetConf } from "../../src/config/ipam";
import { loadNetConf } from "../../src/config/netconf";
import { NO, quickChecks } from "../../src/config/quick/check";
import { quickIpamArgs, quickIpamRuntimeConfig, quickTetherIpam } from "../../src/config/quick/ipam";
import { quickNetConf } from "../../src/config/quick/netconf";
import { normalizeKeys } from "../../src/config/runtimeConfig";
import { IpamArgsSchema, IpamRuntimeConfigSchema, TetherIpamSchema } from "../../src/config/schemas/ipam";
import { NetConfSchema } from "../../src/config/schemas/netconf";

const RUNS = Number(process.env["TETHER_FUZZ_RUNS"] ?? 3000);

interface Pair {
  quick: (v: unknown) => unknown;
  zod: (v: unknown) => { success: true; data: unknown } | { success: false };
}

const PAIRS: Record<string, Pair> = {
  netconf: { quick: quickNetConf, zod: (v) => NetConfSchema.safeParse(v) },
  ipam: { quick: quickTetherIpam, zod: (v) => TetherIpamSchema.safeParse(v) },
  ipamRuntimeConfig: { quick: quickIpamRuntimeConfig, zod: (v) => IpamRuntimeConfigSchema.safeParse(v) },
  ipamArgs: { quick: quickIpamArgs, zod: (v) => IpamArgsSchema.safeParse(v) },
};

function objectsOf(v: unknown, into = new Set<object>()): Set<object> {
  if (typeof v === "object" && v !== null && !into.has(v)) {
    into.add(v);
    for (const k of Reflect.ownKeys(v)) objectsOf((v as Record<PropertyKey, unknown>)[k], into);
  }
  return into;
}

/** a and b are the same value: primitives by Object.is, objects by prototype, keys in order, and which of the input's objects they share. */
function sameValue(a: unknown, b: unknown, inputObjects: Set<object>, path = "$"): void {
  if (typeof a !== "object" || a === null || typeof b !== "object" || b === null) {
    assert.ok(Object.is(a, b), `${path}: ${String(a)} vs ${String(b)}`);
    return;
  }
  assert.equal(Object.getPrototypeOf(a), Object.getPrototypeOf(b), `${path}: prototype`);
  assert.equal(Array.isArray(a), Array.isArray(b), `${path}: array or not`);
  assert.equal(inputObjects.has(a), inputObjects.has(b), `${path}: one is the input's own object, the other a copy`);
  assert.deepEqual(Reflect.ownKeys(a), Reflect.ownKeys(b), `${path}: keys or their order`);
  for (const k of Reflect.ownKeys(a)) {
    sameValue((a as Record<PropertyKey, unknown>)[k], (b as Record<PropertyKey, unknown>)[k], inputObjects, `${path}.${String(k)}`);
  }
}

function hasProtoKey(v: unknown): boolean {
  if (typeof v !== "object" || v === null) return false;
  return Object.keys(v).some((k) => k === "__proto__" || hasProtoKey((v as Record<string, unknown>)[k]));
}

/** Per check: inputs both accepted (same value), both refused, refused by the quick check only (__proto__). */
const tally: Record<string, { both: number; refused: number; zodOnly: number }> = {};
const count = (name: string) => (tally[name] ??= { both: 0, refused: 0, zodOnly: 0 });

/** The property for one input: throws on a difference. */
function agree(name: string, input: unknown, quickOut: unknown = PAIRS[name]!.quick(input)): void {
  const z = PAIRS[name]!.zod(input);
  if (quickOut !== NO) {
    assert.ok(z.success, `${name}: the quick check accepted what zod refuses: ${JSON.stringify(input)}`);
    sameValue(quickOut, z.data, objectsOf(input), name);
    count(name).both++;
  } else if (z.success) {
    assert.ok(hasProtoKey(input), `${name}: the quick check refused what zod accepts: ${JSON.stringify(input)}`);
    count(name).zodOnly++;
  } else {
    count(name).refused++;
  }
}

type Outcome = { ok: true; value: unknown } | { ok: false; error: unknown };

function run(fn: () => unknown): Outcome {
  try {
    return { ok: true, value: fn() };
  } catch (error) {
    return { ok: false, error };
  }
}

function withQuick<T>(enabled: boolean, fn: () => T): T {
  const before = quickChecks.enabled;
  quickChecks.enabled = enabled;
  try {
    return fn();
  } finally {
    quickChecks.enabled = before;
  }
}

/** A loader gives the same value, or throws the same error (class, message, details, field, kind), with the quick checks on and off. */
function loadersAgree(label: string, fn: () => unknown, input: unknown): void {
  const fast = withQuick(true, () => run(fn));
  const slow = withQuick(false, () => run(fn));
  const where = `${label} of ${JSON.stringify(input)}`;
  assert.equal(fast.ok, slow.ok, `${where}: ${fast.ok ? "accepted" : "refused"} with the quick checks, ${slow.ok ? "accepted" : "refused"} by zod`);
  if (fast.ok && slow.ok) {
    sameValue(fast.value, slow.value, objectsOf(input), label);
  } else if (!fast.ok && !slow.ok) {
    const e = (x: unknown) => {
      const o = x as Record<string, unknown> & Error;
      return { cls: o.constructor, message: o.message, details: o["details"], field: o["field"], kind: o["kind"] };
    };
    assert.deepEqual(e(fast.error), e(slow.error), `${where}: the error`);
  }
}

/** Every check and loader on one request config, as loadNetConf and the IPAM loaders see it. */
function compareAll(raw: Record<string, unknown>): void {
  const input = { ...raw };
  if (input["runtimeConfig"] !== undefined) input["runtimeConfig"] = normalizeKeys(input["runtimeConfig"]);
  agree("netconf", input);
  if (raw["ipam"] !== undefined) agree("ipam", raw["ipam"]);
  if (raw["runtimeConfig"] !== undefined) agree("ipamRuntimeConfig", raw["runtimeConfig"]);
  if (raw["args"] !== undefined) agree("ipamArgs", raw["args"]);
  loadersAgree("loadNetConf", () => loadNetConf(raw), raw);
  const nc: IpamNetConf = { name: raw["name"], cniVersion: raw["cniVersion"], ipam: raw["ipam"], runtimeConfig: raw["runtimeConfig"], args: raw["args"] };
  loadersAgree("loadIpamConfig", () => loadIpamConfig(nc, ["10.9.0.7"]), raw);
  loadersAgree("loadIpamStoreConfig", () => loadIpamStoreConfig(nc), raw);
  loadersAgree("loadStaticIpamConfig", () => loadStaticIpamConfig(nc, { ips: ["10.9.0.7/24"], gateways: ["10.9.0.1"] }), raw);
}

// ---- generation ---------------------------------------------------------------------------------

/** A key as sent, or in another case (containerd's Go structs: Subnet, RangeStart, IPRanges). */
const cased = (key: string): fc.Arbitrary<string> =>
  fc.oneof({ weight: 6, arbitrary: fc.constant(key) }, fc.constant(key.toUpperCase()), fc.constant(key[0]!.toUpperCase() + key.slice(1)), fc.constant(key.toLowerCase()));

/** A record with some of `fields` (each under a key in some case), plus sometimes unknown keys. */
function someOf(fields: Record<string, fc.Arbitrary<unknown>>, opts: { caseless?: boolean; unknown?: boolean; required?: readonly string[] } = {}): fc.Arbitrary<Record<string, unknown>> {
  const entries = Object.entries(fields).map(([k, arb]) =>
    fc.option(fc.tuple(opts.caseless === true ? cased(k) : fc.constant(k), arb), { nil: undefined, freq: opts.required?.includes(k) === true ? 30 : 2 }),
  );
  const extra = opts.unknown === false ? fc.constant([]) : fc.array(fc.tuple(fc.constantFrom("x", "foo", "Subnet", "plugins", "cniVersions", "disableCheck", "constructor", "toString", "0", "9"), fc.jsonValue({ maxDepth: 2 })), { maxLength: 2 });
  return fc.tuple(fc.tuple(...entries), extra, fc.boolean()).map(([picked, more, extraFirst]) => {
    const out: Record<string, unknown> = {};
    const add = (pairs: readonly (readonly [string, unknown] | undefined)[]) => {
      for (const p of pairs) if (p !== undefined) out[p[0]] = p[1];
    };
    if (extraFirst) add(more);
    add(picked);
    if (!extraFirst) add(more);
    return out;
  });
}

const NUL = "a\u0000b";
const HUGE = "x".repeat(70_000);
const junk: fc.Arbitrary<unknown> = fc.oneof(
  fc.constantFrom(null, true, false, 0, -1, 1.5, 2 ** 53, 2 ** 32, -(2 ** 63), 1e308, "", NUL, HUGE, "true", "false", "yes", [], {}, [null], ["x"]),
  fc.jsonValue({ maxDepth: 2 }),
);
/**
 * A request config. With `clean`, each value is valid but for one in about 25 (so that every check
 * sees whole valid configs); otherwise one in about 4 is invalid or junk of another type.
 */
function requestConfig(clean: boolean): fc.Arbitrary<Record<string, unknown>> {
  const c = (...values: unknown[]): fc.Arbitrary<unknown> => fc.constantFrom<unknown>(...values);
  /** Mostly a valid value, sometimes an invalid one of the right type, sometimes (not clean) junk. */
  const v = (good: fc.Arbitrary<unknown>, bad?: fc.Arbitrary<unknown>): fc.Arbitrary<unknown> =>
    fc.oneof(
      { weight: clean ? 50 : 6, arbitrary: good },
      { weight: bad === undefined ? 0 : 2, arbitrary: bad ?? junk },
      { weight: clean ? 0 : 1, arbitrary: junk },
    );

  const ip4 = c("10.1.0.1", "10.1.0.10", "10.1.0.200", "10.1.1.1", "192.168.0.1", "0.0.0.0", "255.255.255.255");
  const ip6 = c("fd00::1", "fd00::a", "fd00:1::ffff", "::", "::1", "::ffff:10.1.0.1", "1:2:3:4:5:6:7:8");
  const ip = fc.oneof({ weight: 4, arbitrary: fc.oneof(ip4, ip6) }, fc.ipV4(), fc.ipV6());
  const badIp = c("010.1.0.1", "10.1.0", "1.2.3.4.5", "fd00::1%eth0", "fd00:::1", "10.1.0.1/24", NUL, HUGE, "");
  const cidr = fc.oneof(
    { weight: 4, arbitrary: c("10.1.0.0/24", "10.2.0.0/16", "10.1.0.0/28", "fd00::/64", "fd00:1::/120", "0.0.0.0/0", "::/0", "10.1.0.5/24", "::ffff:10.1.0.0/120") },
    fc.tuple(fc.oneof(ip4, ip6, fc.ipV4()), fc.constantFrom(0, 8, 16, 24, 30, 32)).map(([x, n]) => `${String(x)}/${n}`),
  );
  const badCidr = fc.oneof(c("10.1.0.0/33", "fd00::/129", "10.1.0.0/", "/24", "10.1.0.0/024", "10.1.0.0/ 24", "10.1.0.1", NUL), fc.tuple(fc.ipV4(), fc.integer({ min: -3, max: 200 })).map(([x, n]) => `${x}/${n}`));
  const mac = v(c("0a:58:0a:01:00:05", "AA:BB:CC:DD:EE:FF", "aA:bB:cC:dD:eE:fF"), c("aa:bb:cc:dd:ee", "aa-bb-cc-dd-ee-ff", "zz:bb:cc:dd:ee:ff", ""));
  const strings = v(fc.array(c("8.8.8.8", "example.com", "ndots:5", "", NUL, HUGE), { maxLength: 3 }), fc.array(junk, { minLength: 1, maxLength: 2 }));
  const int = (min: number, max: number) =>
    v(fc.oneof(c(min, max, -0 + min), fc.integer({ min, max })), c(min - 1, max + 1, 1.5, 2 ** 53, 1e308, `${max}`));
  const optIp = v(fc.oneof({ weight: 4, arbitrary: ip }, c("")), badIp);

  const range = someOf({ subnet: v(cidr, badCidr), rangeStart: optIp, rangeEnd: optIp, gateway: optIp }, { caseless: true, required: ["subnet"] });
  const rangeSets = v(fc.array(v(fc.array(v(range), { minLength: 1, maxLength: 3 })), { maxLength: 3 }));
  const route = someOf({ dst: v(cidr, badCidr), gw: v(ip, badIp), mtu: int(0, 4294967295), advmss: int(0, 4294967295), priority: int(0, 4294967295), table: int(0, 4294967295), scope: int(0, 255) }, { required: ["dst"] });
  const dns = v(someOf({ nameservers: strings, domain: v(c("example.com", "", NUL)), search: strings, options: strings }));
  const staticAddress = someOf({ address: v(cidr, badCidr), gateway: optIp }, { caseless: true, required: ["address"] });

  const ipam = v(
    someOf(
      {
        type: v(c("tether-ipam"), c("host-local", "Tether-ipam", "")),
        ranges: rangeSets,
        subnet: v(cidr, badCidr),
        rangeStart: optIp,
        rangeEnd: optIp,
        gateway: optIp,
        routes: v(fc.array(v(route), { maxLength: 3 })),
        dataDir: v(c("/var/lib/cni/networks", "/tmp/tether-quick-test", "/a/../b", `/x${NUL}`, ""), c("relative/dir", NUL)),
        resolvConf: v(c("/etc/resolv.conf", "")),
        addresses: fc.oneof({ weight: 4, arbitrary: fc.constant(undefined) }, v(fc.array(v(staticAddress), { maxLength: 3 }))),
        dns,
      },
      { caseless: true, required: ["type"] },
    ).map((o) => {
      if (o["addresses"] === undefined) delete o["addresses"];
      return o;
    }),
  );

  const portMapping = someOf({ hostPort: int(0, 65535), containerPort: int(0, 65535), protocol: v(c("tcp", "udp")), hostIP: v(fc.oneof(ip, c(""))) }, { caseless: true });
  const runtimeConfig = v(
    someOf(
      {
        portMappings: v(fc.array(portMapping, { maxLength: 2 })),
        ipRanges: rangeSets,
        ips: v(fc.array(v(fc.oneof(ip, cidr), badCidr), { maxLength: 3 })),
        mac,
        dns: v(someOf({ servers: strings, searches: strings, options: strings }, { caseless: true })),
        bandwidth: v(someOf({ ingressRate: fc.nat(), egressBurst: fc.nat() }, { caseless: true })),
        cgroupPath: v(c("/kubepods/pod1")),
        "io.kubernetes.cri.pod-annotations": v(fc.dictionary(fc.constantFrom("a", "B", "Ips"), fc.string())),
      },
      { caseless: true },
    ),
  );

  const args = v(someOf({ cni: v(someOf({ ips: v(fc.array(v(fc.oneof(ip, cidr), badIp), { maxLength: 2 })), mac }, { caseless: true })) }, { caseless: true }));
  const flag = v(c(true, false, "true", "false"), c("True", "yes", 1, 0, null));
  const attachments = v(fc.array(v(someOf({ containerID: v(c("c1", "")), ifname: v(c("eth0", "net1")) }, { required: ["containerID", "ifname"] })), { maxLength: 2 }));

  return someOf({
    cniVersion: v(c(...SUPPORTED_VERSIONS, ""), c("9.9.9", "1.0", NUL)),
    cniVersions: v(fc.array(c(...SUPPORTED_VERSIONS), { maxLength: 3 })),
    name: v(c("tether-net", "k8s-pod-network", "n", "a.b_c-d", "N1"), c("-bad", "bad name", NUL, "x".repeat(200), "")),
    type: v(c("tether", "bridge"), c("")),
    mode: v(c("bridge", "ptp"), c("macvlan", "Bridge")),
    capabilities: v(fc.dictionary(fc.constantFrom("portMappings", "ips", "mac", "dns", "ipRanges", "io.kubernetes.cri.pod-annotations"), v(fc.boolean()))),
    runtimeConfig,
    args,
    prevResult: fc.oneof(fc.jsonValue({ maxDepth: 3 }), c({ cniVersion: "1.0.0", interfaces: [{ name: "eth0" }], ips: [{ address: "10.1.0.5/24", interface: 0 }] })),
    ipam,
    dns,
    log: v(someOf({ file: v(c("/var/log/tether.log"), c("tether.log")), level: v(c("debug", "info", "silent"), c("verbose")) }, { unknown: false }), someOf({ file: c("/l"), x: c(1) }, { unknown: false })),
    bridge: v(c("cni0", "tether0", "br-0123456789ab"), c("br-with-a-long-name", "a/b", "", ".", "bad name", NUL)),
    isGateway: flag,
    isDefaultGateway: flag,
    forceAddress: flag,
    ipMasq: flag,
    ipMasqBackend: v(c("nftables", "iptables"), c("ipvs")),
    mtu: v(c(0, 68, 1500, 9000, 65535, -0), c(67, 65536, 1500.5, "1500")),
    hairpinMode: flag,
    promiscMode: flag,
    vlan: int(0, 4094),
    enabledad: flag,
    disableContainerInterface: flag,
    portIsolation: flag,
    macspoofchk: flag,
    ipspoofchk: flag,
    "cni.dev/valid-attachments": attachments,
    "cni.dev/attachments": attachments,
  }, { required: ["name", "type"] });
}

/** As it comes from stdin: through JSON text, sometimes with a __proto__ key somewhere. */
const request = fc.tuple(fc.oneof(requestConfig(true), requestConfig(false)), fc.nat(20)).map(([conf, proto]) => {
  let text = JSON.stringify(conf);
  if (proto === 0) text = text.replace(/\{(?=")/, '{"__proto__":{"x":1},');
  return JSON.parse(text) as Record<string, unknown>;
});

function conflistPlugins(): Record<string, unknown>[] {
  const dir = join(__dirname, "..", "..", "..", "conf");
  const out: Record<string, unknown>[] = [];
  for (const f of readdirSync(dir)) {
    const list = JSON.parse(readFileSync(join(dir, f), "utf8")) as Record<string, unknown>;
    const plugins = Array.isArray(list["plugins"]) ? (list["plugins"] as Record<string, unknown>[]) : [list];
    for (const p of plugins) {
      if (p["type"] !== "tether") continue;
      // As a runtime sends it: the list's name and version, the capabilities' values in runtimeConfig.
      out.push({ cniVersion: list["cniVersion"], name: list["name"], ...p });
      out.push({
        cniVersion: list["cniVersion"],
        name: list["name"],
        ...p,
        runtimeConfig: { PortMappings: [{ HostPort: 8080, ContainerPort: 80, Protocol: "tcp", HostIP: "" }], IPRanges: [[{ Subnet: "10.7.0.0/24", RangeStart: "", RangeEnd: "", Gateway: "" }]], Mac: "0a:58:0a:01:00:05", IPs: ["10.7.0.9/24"], DNS: { Servers: ["10.96.0.10"], Searches: ["svc.cluster.local"], Options: ["ndots:5"] } },
        args: { cni: { ips: ["10.7.0.9"] } },
        prevResult: { cniVersion: "1.0.0", interfaces: [{ name: "eth0" }], ips: [{ address: "10.7.0.9/24", interface: 0 }] },
      });
    }
  }
  return out;
}

describe("quick configuration checks against zod", () => {
  test("the example configurations (conf/) as runtimes send them: the quick checks accept them and agree", () => {
    const confs = conflistPlugins();
    assert.ok(confs.length >= 8, `found ${confs.length} tether configurations in conf/`);
    for (const c of confs) {
      assert.notEqual(quickNetConf(c), NO, `quick check refused ${JSON.stringify(c)}`);
      compareAll(c);
    }
  });

  test(`generated configurations (${RUNS}): agree with zod, and skip it for most`, (t) => {
    for (const k of Object.keys(tally)) delete tally[k];
    fc.assert(fc.property(request, (raw) => compareAll(raw)), { numRuns: RUNS });
    t.diagnostic(JSON.stringify(tally));
    // Both halves must be exercised for each check for the comparison to mean anything. The bounds
    // sit well below the usual counts (ipamArgs refuses 150-190 of 3,000): a random run never trips them.
    for (const name of Object.keys(PAIRS)) {
      const { both, refused } = count(name);
      assert.ok(both > RUNS / 10 && refused > RUNS / 40, `${name}: accepted ${both}, refused ${refused} of ${RUNS} runs`);
    }
  });

  test("the comparison can fail: a check that keeps a wrong default, drops a key or reorders keys is caught", () => {
    const input = { cniVersion: "1.0.0", name: "n", type: "tether", mtu: 1500 };
    const z = NetConfSchema.safeParse(input);
    assert.ok(z.success);
    assert.throws(() => agree("netconf", input, { ...z.data, vlan: 1 }));
    const { mtu: _mtu, ...dropped } = z.data;
    assert.throws(() => agree("netconf", input, dropped));
    assert.throws(() => agree("netconf", input, { mtu: 1500, ...z.data }));
    assert.throws(() => agree("netconf", { ...input, mtu: 65536 }, { ...z.data, mtu: 65536 }));
    assert.throws(() => agree("netconf", input, NO), /refused what zod accepts/);
    assert.throws(() => loadersAgree("loadNetConf", () => (quickChecks.enabled ? 1 : 2), input));
  });

  test("a valid config loads no zod; an invalid one does (a fresh process each)", () => {
    const loads = (raw: unknown): boolean => {
      const script = `
        const { loadNetConf } = require(${JSON.stringify(join(__dirname, "..", "..", "src", "config", "netconf.js"))});
        const { validateBuiltinIpam } = require(${JSON.stringify(join(__dirname, "..", "..", "src", "ipam", "plugin", "builtin.js"))});
        const raw = ${JSON.stringify(raw)};
        try { loadNetConf(raw); validateBuiltinIpam(raw, "ADD"); } catch {}
        process.stdout.write(String(Object.keys(require.cache).some((f) => f.includes("/node_modules/zod/"))));`;
      const r = spawnSync(process.execPath, ["-e", script], { encoding: "utf8" });
      assert.equal(r.status, 0, r.stderr);
      return r.stdout === "true";
    };
    const valid = { cniVersion: "1.1.0", name: "n", type: "tether", ipam: { type: "tether-ipam", dataDir: "/tmp/tether-quick-none", ranges: [[{ subnet: "10.1.0.0/24" }]] }, runtimeConfig: { IPRanges: [[{ Subnet: "10.2.0.0/24" }]] } };
    assert.equal(loads(valid), false);
    assert.equal(loads({ ...valid, vlan: 4095 }), true);
    assert.equal(loads({ ...valid, ipam: { ...valid.ipam, dataDir: "relative" } }), true);
  });

  test("a key named __proto__ goes to zod, whose result stands", () => {
    const raw = JSON.parse('{"cniVersion":"1.0.0","name":"n","type":"tether","__proto__":{"mode":"ptp"}}') as Record<string, unknown>;
    assert.equal(quickNetConf(raw), NO);
    compareAll(raw);
    assert.equal(loadNetConf(raw).mode, "bridge");
  });
});

// Every config the configuration's unit tests pass through a quick check, compared as they go: the
// files are run again here with an observer on the checks.
const mismatches: string[] = [];
let observed = 0;
const REPLAYED = ["config-netconf", "config-foreign", "ipam-config", "ipam-static", "ipam-runtime-ranges", "ipam-allocator", "dispatch", "cli-network", "firewall-bridge-fake", "bridge-fake", "ptp-fake", "status-logic"];
describe("replayed unit tests (observed)", () => {
  before(() => {
    quickChecks.observe = (name, input, out) => {
      observed++;
      try {
        agree(name, input, out);
      } catch (e) {
        mismatches.push((e as Error).message);
      }
    };
  });
  after(() => delete quickChecks.observe);
  for (const f of REPLAYED) require(`./${f}.test.js`);
  require("../reliability/fuzz-units.test.js");
});

test("replayed unit tests: every config they used agrees with zod", () => {
  assert.deepEqual(mismatches, []);
  assert.ok(observed > 500, `only ${observed} configs observed`);
});
