/** The runtime driver's pure parts: reading conflists, libcni's injection, --valid parsing. */
import assert from "node:assert/strict";
import { test } from "node:test";
import { parseValidAttachment } from "../../src/cli/network";
import { readFileSync, readdirSync } from "node:fs";
import path from "node:path";
import { gcNetwork, listVersion, parseNetworkConfig, pluginRequest } from "../../src/cli/runtime";
import { loadNetConf } from "../../src/config/netconf";

test("parseNetworkConfig: conflists and single confs", () => {
  const l = parseNetworkConfig(JSON.stringify({ cniVersion: "1.1.0", name: "n", plugins: [{ type: "tether" }, { type: "portmap" }] }), "f");
  assert.deepEqual(l.plugins.map((p) => p["type"]), ["tether", "portmap"]);
  const one = parseNetworkConfig(JSON.stringify({ cniVersion: "1.0.0", name: "n", type: "tether" }), "f");
  assert.equal(one.plugins.length, 1);
  assert.throws(() => parseNetworkConfig("{}", "f"), /no network name/);
  assert.throws(() => parseNetworkConfig('{"name":"n"}', "f"), /plugins/);
});

test("pluginRequest injects name, cniVersion, declared capabilities and prevResult", () => {
  const req = pluginRequest({ name: "n", cniVersion: "1.1.0" }, { type: "portmap", capabilities: { portMappings: true, bandwidth: false } }, { portMappings: [1], bandwidth: {} }, { ips: [] });
  assert.deepEqual(req, { type: "portmap", capabilities: { portMappings: true, bandwidth: false }, name: "n", cniVersion: "1.1.0", runtimeConfig: { portMappings: [1] }, prevResult: { ips: [] } });
});

test("gcNetwork sends both attachment keys to every plugin and collects failures", () => {
  const seen: Record<string, unknown>[] = [];
  const failures = gcNetwork(
    { name: "n", cniVersion: "1.1.0", disableCheck: false, disableGC: false, plugins: [{ type: "a" }, { type: "b" }] },
    [{ containerId: "c1", ifname: "eth0" }],
    (type, command, _env, req) => {
      seen.push(req);
      if (type === "a") throw new Error(`${command} failed`);
      return undefined;
    },
  );
  assert.equal(seen.length, 2);
  assert.deepEqual(seen[1]!["cni.dev/valid-attachments"], [{ containerID: "c1", ifname: "eth0" }]);
  assert.deepEqual(seen[1]!["cni.dev/attachments"], [{ containerID: "c1", ifname: "eth0" }]);
  assert.deepEqual(failures.map((f) => f.plugin), ["a"]);
});

test("parseValidAttachment", () => {
  assert.deepEqual(parseValidAttachment("abc/eth0"), { containerId: "abc", ifname: "eth0" });
  assert.throws(() => parseValidAttachment("abc"));
  assert.throws(() => parseValidAttachment("abc/"));
});

test("listVersion: the highest common version of cniVersions, else cniVersion (libcni's choice)", () => {
  const pick = (o: Record<string, unknown>, supported?: string[]) => listVersion(o, "f", supported);
  assert.equal(pick({ cniVersion: "1.0.0", cniVersions: ["1.0.0", "1.1.0"] }), "1.1.0");
  assert.equal(pick({ cniVersion: "1.0.0", cniVersions: ["1.1.0", "1.0.0"] }, ["0.4.0", "1.0.0"]), "1.0.0", "an older runtime");
  assert.equal(pick({ cniVersion: "1.0.0", cniVersions: ["9.9.9"] }), "1.0.0", "nothing in common: cniVersion");
  assert.equal(pick({ cniVersion: "1.1.0", cniVersions: ["0.4.0"] }), "1.1.0", "cniVersion is a candidate too");
  assert.equal(pick({ cniVersions: ["0.4.0", "1.0.0"] }), "1.0.0");
  assert.equal(pick({ cniVersion: "0.4.0" }), "0.4.0");
  assert.equal(pick({}), "0.1.0");
  assert.throws(() => pick({ cniVersions: "1.1.0" }), /cniVersions must be an array of strings/);
  assert.throws(() => pick({ cniVersion: 1 }), /cniVersion must be a string/);
  assert.equal(parseNetworkConfig(JSON.stringify({ cniVersion: "1.0.0", cniVersions: ["1.0.0", "1.1.0"], name: "n", type: "tether" }), "f").cniVersion, "1.1.0");
});

test("listVersion as libcni 1.2 picks: any version up to its own (1.1.0), known to a plugin or not; an unparseable entry fails the list", () => {
  const pick = (o: Record<string, unknown>) => listVersion(o, "f");
  // libcni keeps every entry not newer than 1.1.0: a plugin then refuses 1.0.5 (code 1), as under containerd.
  assert.equal(pick({ cniVersion: "1.0.0", cniVersions: ["1.0.0", "1.0.5"] }), "1.0.5");
  assert.equal(pick({ cniVersion: "0.3.1", cniVersions: ["0.3.2"] }), "0.3.2");
  assert.equal(pick({ cniVersion: "1.0.0", cniVersions: ["1.1.0", "1.2.0"] }), "1.1.0");
  assert.throws(() => pick({ cniVersion: "1.0.0", cniVersions: ["1.0.0", "one"] }), /cniVersions.*"one"/);
  assert.throws(() => pick({ cniVersion: "1.0.0", cniVersions: ["1.0.0.0"] }), /cniVersions.*"1\.0\.0\.0"/);
  assert.throws(() => pick({ cniVersion: "x.y", cniVersions: ["1.0.0"] }), /cniVersion.*"x\.y"/);
});

test("every shipped conflist: cniVersion 1.0.0 for libcni 1.1 runtimes, cniVersions up to 1.1.0, tether plugins valid", () => {
  const dir = path.join(__dirname, "../../../conf");
  const files = readdirSync(dir).filter((f) => f.endsWith(".conflist"));
  assert.ok(files.includes("k8s-bridge.conflist") && files.includes("k8s-ptp.conflist") && files.includes("10-tether.conflist"));
  for (const f of files) {
    const raw = JSON.parse(readFileSync(path.join(dir, f), "utf8")) as Record<string, unknown>;
    assert.equal(raw["cniVersion"], "1.0.0", f);
    assert.deepEqual(raw["cniVersions"], ["1.0.0", "1.1.0"], f);
    const list = parseNetworkConfig(JSON.stringify(raw), f);
    for (const version of ["1.0.0", "1.1.0"]) {
      for (const p of list.plugins.filter((p) => p["type"] === "tether")) {
        const conf = loadNetConf(pluginRequest({ name: list.name, cniVersion: version }, p, { portMappings: [], mac: "aa:bb:cc:dd:ee:ff" }));
        assert.equal(conf.cniVersion, version, f);
      }
    }
  }
});

test("disableCheck and disableGC: booleans, or the strings libcni accepts", () => {
  const list = (extra: Record<string, unknown>) => parseNetworkConfig(JSON.stringify({ cniVersion: "1.1.0", name: "n", type: "tether", ...extra }), "f");
  assert.equal(list({}).disableGC, false);
  assert.equal(list({ disableGC: true }).disableGC, true);
  assert.equal(list({ disableGC: "True" }).disableGC, true);
  assert.equal(list({ disableCheck: "false" }).disableCheck, false);
  assert.throws(() => list({ disableGC: "yes" }), /disableGC must be true or false/);
});

test("a plugin config may carry cniVersions (spec 1.1), an array of strings", () => {
  const base = { cniVersion: "1.0.0", name: "n", type: "tether", ipam: { type: "tether-ipam", ranges: [[{ subnet: "10.1.0.0/24" }]] } };
  assert.deepEqual(loadNetConf({ ...base, cniVersions: ["1.0.0", "1.1.0"] }).cniVersions, ["1.0.0", "1.1.0"]);
  assert.throws(() => loadNetConf({ ...base, cniVersions: "1.1.0" }), (e: Error) => /^cniVersions: /.test(e.message));
});
