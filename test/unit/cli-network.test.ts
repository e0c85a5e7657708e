/** The runtime driver's pure parts: reading conflists, libcni's injection, --valid parsing. */
import assert from "node:assert/strict";
import { test } from "node:test";
import { parseValidAttachment } from "../../src/cli/network";
import { gcNetwork, parseNetworkConfig, pluginRequest } from "../../src/cli/runtime";

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
    { name: "n", cniVersion: "1.1.0", disableCheck: false, plugins: [{ type: "a" }, { type: "b" }] },
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
