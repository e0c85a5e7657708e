/**
 * tether-ipam when the ranges come only from runtimeConfig.ipRanges (capability ipRanges): ADD and
 * CHECK need them, DEL, GC and STATUS work from the network name and dataDir alone (GC and STATUS
 * never get runtimeConfig; DEL may lack it).
 */
import assert from "node:assert/strict";
import * as fs from "node:fs";
import { join } from "node:path";
import { after, describe, it } from "node:test";
import { dispatch, type Io } from "../../src/cni/dispatch";
import { ErrorCode } from "../../src/cni/errors";
import { loadIpamConfig, loadIpamStoreConfig } from "../../src/config/ipam";
import { builtinIpam, validateBuiltinIpam } from "../../src/ipam/plugin/builtin";
import { ipamPlugin, loadIpamPluginConfig } from "../../src/ipam/plugin/pluginMode";
import { builtinIpamProblems } from "../../src/ipam/plugin/status";
import { invocation } from "../helpers/invocation";
import { addressFiles, removeDir, tempDir } from "../helpers/ipamFixtures";
import { refusedWith } from "../helpers/refusal";

const root = tempDir("tether-rtranges-");
after(() => removeDir(root));
let n = 0;
const dataDir = (): string => fs.mkdtempSync(join(root, `d${n++}-`));

const code7 = refusedWith(ErrorCode.InvalidConfig);
const IP_RANGES = [[{ subnet: "10.77.0.0/24" }]];

/** A tether config whose ipam section names no range. */
function raw(dd: string, extra: Record<string, unknown> = {}): Record<string, unknown> {
  return { cniVersion: "1.1.0", name: "rtnet", type: "tether", ipam: { type: "tether-ipam", dataDir: dd }, ...extra };
}

describe("loadIpamStoreConfig", () => {
  it("validates the name, the ipam section and dataDir only: no ranges needed", () => {
    assert.deepEqual(loadIpamStoreConfig({ name: "n1", ipam: { type: "tether-ipam", dataDir: "/x/../d" } }), { network: "n1", dataDir: "/d" });
    assert.deepEqual(loadIpamStoreConfig({ name: "n1", ipam: { type: "tether-ipam" } }), { network: "n1", dataDir: "/var/lib/cni/networks" });
    assert.throws(() => loadIpamStoreConfig({ name: "../x", ipam: { type: "tether-ipam" } }), code7);
    assert.throws(() => loadIpamStoreConfig({ name: "n1", ipam: { type: "tether-ipam", dataDir: "rel" } }), code7);
    assert.throws(() => loadIpamStoreConfig({ name: "n1", ipam: undefined }), code7);
    assert.throws(() => loadIpamStoreConfig({ name: "n1", ipam: { type: "host-local" } }), code7);
  });

  it("loadIpamConfig still needs ranges, unless told not to", () => {
    assert.throws(() => loadIpamConfig({ name: "n1", ipam: { type: "tether-ipam" } }), /no IP ranges specified/);
    assert.deepEqual(loadIpamConfig({ name: "n1", ipam: { type: "tether-ipam" } }, [], { requireRanges: false }).rangeSets, []);
    const cfg = loadIpamConfig({ name: "n1", ipam: { type: "tether-ipam" }, runtimeConfig: { ipRanges: IP_RANGES } });
    assert.equal(cfg.rangeSets.length, 1);
  });
});

describe("validateBuiltinIpam", () => {
  it("needs ranges for ADD and CHECK only", () => {
    const r = raw("/d");
    for (const cmd of ["DEL", "GC", "STATUS"]) assert.doesNotThrow(() => validateBuiltinIpam(r, cmd), cmd);
    for (const cmd of ["ADD", "CHECK"]) assert.throws(() => validateBuiltinIpam(r, cmd), code7, cmd);
    assert.doesNotThrow(() => validateBuiltinIpam(raw("/d", { runtimeConfig: { ipRanges: IP_RANGES } }), "ADD"));
    assert.throws(() => validateBuiltinIpam({ ...r, name: "-bad" }, "DEL"), code7);
    assert.doesNotThrow(() => loadIpamPluginConfig(r, "GC"));
    assert.throws(() => loadIpamPluginConfig(r, "ADD"), code7);
  });
});

describe("builtin IPAM with runtimeConfig.ipRanges only", () => {
  it("ADD with ipRanges; DEL without runtimeConfig releases it", async () => {
    const dd = dataDir();
    const withRanges = raw(dd, { runtimeConfig: { ipRanges: IP_RANGES } });
    const add = await builtinIpam(invocation("ADD", withRanges, { containerId: "c1" })).add();
    assert.deepEqual(add.ips, [{ address: "10.77.0.2/24", gateway: "10.77.0.1" }]);
    assert.deepEqual([...addressFiles(dd, "rtnet").keys()], ["10.77.0.2"]);
    await builtinIpam(invocation("DEL", raw(dd), { containerId: "c1" })).del();
    assert.deepEqual([...addressFiles(dd, "rtnet").keys()], []);
    await builtinIpam(invocation("DEL", raw(dd), { containerId: "c1" })).del(); // idempotent
  });

  it("GC without runtimeConfig releases what is not in the valid list", async () => {
    const dd = dataDir();
    const withRanges = raw(dd, { runtimeConfig: { ipRanges: IP_RANGES } });
    for (const id of ["c1", "c2"]) await builtinIpam(invocation("ADD", withRanges, { containerId: id })).add();
    const gcRaw = raw(dd, { "cni.dev/valid-attachments": [{ containerID: "c1", ifname: "eth0" }] });
    await builtinIpam(invocation("GC", gcRaw, { containerId: "" })).gc();
    assert.deepEqual([...addressFiles(dd, "rtnet").values()], ["c1\r\neth0"]);
  });

  it("STATUS checks the store and skips the pool", () => {
    const dd = dataDir();
    assert.deepEqual(builtinIpamProblems(raw(dd)), []);
    // The schema path too (a key the hand-reader does not know).
    assert.deepEqual(builtinIpamProblems(raw(dd, { ipam: { type: "tether-ipam", dataDir: dd, DataDir: dd } })), []);
    fs.writeFileSync(join(dd, "file"), "");
    assert.match(builtinIpamProblems(raw(join(dd, "file", "sub"))).join(), /not writable/);
  });
});

describe("tether-ipam plugin through dispatch, no ranges in the request", () => {
  async function run(command: string, conf: Record<string, unknown>): Promise<{ code: number; out: string }> {
    const out: string[] = [];
    const io: Io = {
      env: { CNI_COMMAND: command, CNI_CONTAINERID: "c1", CNI_IFNAME: "eth0", CNI_NETNS: "", CNI_PATH: "/nonexistent" },
      readStdin: () => Buffer.from(JSON.stringify(conf)),
      writeStdout: (t) => out.push(t),
      now: () => 0,
    };
    return { code: await dispatch(io, ipamPlugin), out: out.join("") };
  }

  it("STATUS, GC and DEL succeed with nothing on stdout", async () => {
    const dd = dataDir();
    const conf = { cniVersion: "1.1.0", name: "rtnet", ipam: { type: "tether-ipam", dataDir: dd } };
    await builtinIpam(invocation("ADD", raw(dd, { runtimeConfig: { ipRanges: IP_RANGES } }), { containerId: "c2" })).add();
    for (const [command, c] of [
      ["STATUS", conf],
      ["GC", { ...conf, "cni.dev/valid-attachments": [{ containerID: "c2", ifname: "eth0" }] }],
      ["DEL", conf],
    ] as const) {
      assert.deepEqual(await run(command, c), { code: 0, out: "" }, command);
    }
    assert.deepEqual([...addressFiles(dd, "rtnet").keys()], ["10.77.0.2"], "c2 is valid, and DEL was c1's");
  });
});
