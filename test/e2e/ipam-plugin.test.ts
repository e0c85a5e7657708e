/**
 * tether as the `tether-ipam` IPAM plugin of other plugins: exec'd through a link named tether-ipam
 * (dist/tether when built: the name comes from argv[0]; else the compiled sources through a wrapper
 * that sets TETHER_AS=tether-ipam). Standalone (exact stdout of every command) and under the Debian
 * reference bridge plugin, which attaches a container in a test namespace and releases on DEL.
 */
import assert from "node:assert/strict";
import { chmodSync, existsSync, mkdtempSync, readFileSync, readdirSync, rmSync, symlinkSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { describe, test, type TestContext } from "node:test";
import { cniWorld, distCommand, errorJson, runCni, successEmpty, successJson, type CniWorld } from "../helpers/binary";
import { netnsUnavailable } from "../helpers/netns";

const REF_BRIDGE = "/usr/lib/cni/bridge";
const skip = netnsUnavailable();
const TIMEOUT = 300_000;
const MAIN = resolve(__dirname, "..", "..", "src", "main.js");

/** A CNI_PATH directory holding `tether-ipam`; returns it and what the link points at. */
function pluginDir(t: TestContext, variant: "dist" | "sources"): string {
  const dir = mkdtempSync(join(tmpdir(), "tether-e2e-ipamplugin-"));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  const dist = distCommand();
  if (variant === "dist" && dist !== undefined) {
    symlinkSync(dist.cmd, join(dir, "tether-ipam"));
  } else {
    writeFileSync(join(dir, "tether-ipam"), `#!/bin/sh\nTETHER_AS=tether-ipam exec "${process.execPath}" "${MAIN}" "$@"\n`);
    chmodSync(join(dir, "tether-ipam"), 0o755);
  }
  return dir;
}

const VARIANTS: ("dist" | "sources")[] = distCommand() === undefined ? ["sources"] : ["sources", "dist"];

function addressFiles(dataDir: string, network: string): Map<string, string> {
  const out = new Map<string, string>();
  let names: string[] = [];
  try {
    names = readdirSync(join(dataDir, network));
  } catch {
    return out;
  }
  for (const n of names) if (n !== "lock" && !n.startsWith("last_reserved_ip.")) out.set(n, readFileSync(join(dataDir, network, n), "utf8"));
  return out;
}

for (const variant of VARIANTS) {
  describe(`tether-ipam as a plugin (${variant})`, { skip, timeout: TIMEOUT }, () => {
    function setup(t: TestContext): { w: CniWorld; dir: string; plugin: { cmd: string; args: string[]; label: string } } {
      const w = cniWorld(t, { ranges: [[{ subnet: "10.94.0.0/24" }]], label: "ipamplugin" });
      const dir = pluginDir(t, variant);
      return { w, dir, plugin: { cmd: join(dir, "tether-ipam"), args: [], label: "tether-ipam" } };
    }
    const ipamConf = (w: CniWorld, version: string, extra: Record<string, unknown> = {}): Record<string, unknown> => ({
      cniVersion: version,
      name: w.network,
      type: "bridge",
      ...extra,
      ipam: { type: "tether-ipam", dataDir: w.dataDir, ranges: [[{ subnet: "10.94.0.0/24" }]], routes: [{ dst: "0.0.0.0/0" }] },
    });

    // The bytes host-local prints for the same configuration (Go field order, "dns": {}).
    test("ADD prints the IPAM result only (exact bytes, 1.1.0 and 0.2.0); CHECK, GC, STATUS, DEL", (t) => {
      const { w, dir, plugin } = setup(t);
      const c = w.container();
      const run = (command: string, conf: Record<string, unknown>, id = "ctr-a") =>
        runCni({ command, containerId: id, netns: c.path, config: conf, cniPath: dir, tether: plugin, inNetns: w.node.name });
      const add = run("ADD", ipamConf(w, "1.1.0"));
      assert.equal(add.stdout, '{"cniVersion":"1.1.0","ips":[{"address":"10.94.0.2/24","gateway":"10.94.0.1"}],"routes":[{"dst":"0.0.0.0/0"}],"dns":{}}');
      assert.equal(add.status, 0);
      const old = run("ADD", ipamConf(w, "0.2.0"), "ctr-b");
      assert.equal(old.stdout, '{"cniVersion":"0.2.0","ip4":{"ip":"10.94.0.3/24","gateway":"10.94.0.1","routes":[{"dst":"0.0.0.0/0"}]},"dns":{}}');
      assert.deepEqual(addressFiles(w.dataDir, w.network), new Map([["10.94.0.2", "ctr-a\r\neth0"], ["10.94.0.3", "ctr-b\r\neth0"]]));
      successEmpty(run("CHECK", { ...ipamConf(w, "1.1.0"), prevResult: JSON.parse(add.stdout) }));
      assert.equal(errorJson(run("CHECK", { ...ipamConf(w, "1.1.0"), prevResult: JSON.parse(add.stdout) }, "ctr-none")).code, 104);
      successEmpty(run("STATUS", ipamConf(w, "1.1.0")));
      successEmpty(run("GC", { ...ipamConf(w, "1.1.0"), "cni.dev/valid-attachments": [{ containerID: "ctr-a", ifname: "eth0" }] }));
      assert.deepEqual([...addressFiles(w.dataDir, w.network).keys()], ["10.94.0.2"]);
      successEmpty(run("DEL", ipamConf(w, "1.1.0")));
      successEmpty(run("DEL", ipamConf(w, "1.1.0")));
      assert.deepEqual(addressFiles(w.dataDir, w.network).size, 0);
      const version = runCni({ command: "VERSION", containerId: "", netns: "", config: { cniVersion: "1.0.0" }, cniPath: dir, tether: plugin });
      assert.equal(version.stdout, '{"cniVersion":"1.0.0","supportedVersions":["0.1.0","0.2.0","0.3.0","0.3.1","0.4.0","1.0.0","1.1.0"]}');
      const wrongType = errorJson(run("ADD", { ...ipamConf(w, "1.0.0"), ipam: { type: "host-local" } }));
      assert.equal(wrongType.code, 7);
    });

    test("ranges only in runtimeConfig.ipRanges: ADD with them; STATUS, GC and DEL without runtimeConfig", (t) => {
      const { w, dir, plugin } = setup(t);
      const c = w.container();
      const conf = (extra: Record<string, unknown> = {}) => ({ cniVersion: "1.1.0", name: w.network, type: "bridge", ipam: { type: "tether-ipam", dataDir: w.dataDir }, ...extra });
      const run = (command: string, cf: Record<string, unknown>, id: string) =>
        runCni({ command, containerId: id, netns: c.path, config: cf, cniPath: dir, tether: plugin, inNetns: w.node.name });
      const withRanges = conf({ runtimeConfig: { ipRanges: [[{ subnet: "10.96.0.0/24" }]] } });
      assert.equal(run("ADD", withRanges, "rt-a").stdout, '{"cniVersion":"1.1.0","ips":[{"address":"10.96.0.2/24","gateway":"10.96.0.1"}],"dns":{}}');
      successJson(run("ADD", withRanges, "rt-b"));
      assert.equal(errorJson(run("ADD", conf(), "rt-c")).code, 7, "ADD needs ranges");
      successEmpty(run("STATUS", conf(), ""));
      successEmpty(run("GC", conf({ "cni.dev/valid-attachments": [{ containerID: "rt-a", ifname: "eth0" }] }), ""));
      assert.deepEqual(addressFiles(w.dataDir, w.network), new Map([["10.96.0.2", "rt-a\r\neth0"]]));
      successEmpty(run("DEL", conf(), "rt-a"));
      assert.equal(addressFiles(w.dataDir, w.network).size, 0);
    });

    test("static addresses through the plugin", (t) => {
      const { w, dir, plugin } = setup(t);
      const c = w.container();
      const conf = { cniVersion: "1.0.0", name: w.network, type: "bridge", ipam: { type: "tether-ipam", addresses: [{ address: "10.95.0.9/24", gateway: "10.95.0.1" }], dns: { nameservers: ["10.95.0.53"] } } };
      const add = runCni({ command: "ADD", containerId: "s1", netns: c.path, config: conf, cniPath: dir, tether: plugin, inNetns: w.node.name, args: "IP=10.95.0.10/24" });
      assert.equal(add.stdout, '{"cniVersion":"1.0.0","ips":[{"address":"10.95.0.9/24","gateway":"10.95.0.1"},{"address":"10.95.0.10/24"}],"dns":{"nameservers":["10.95.0.53"]}}');
      successEmpty(runCni({ command: "DEL", containerId: "s1", netns: c.path, config: conf, cniPath: dir, tether: plugin, inNetns: w.node.name }));
    });

    test("the Debian reference bridge attaches a container with tether-ipam, and DEL releases it", { skip: existsSync(REF_BRIDGE) ? false : "no /usr/lib/cni/bridge" }, (t) => {
      const { w, dir } = setup(t);
      const c = w.container();
      const bridge = { cmd: REF_BRIDGE, args: [], label: "reference bridge" };
      const conf = { ...ipamConf(w, "1.0.0"), bridge: w.bridge, isGateway: true };
      const run = (command: string, cf: Record<string, unknown>) =>
        runCni({ command, containerId: "ref-1", netns: c.path, config: cf, cniPath: dir, tether: bridge, inNetns: w.node.name });
      const add = successJson<{ ips: { address: string; gateway: string }[] }>(run("ADD", conf));
      assert.deepEqual(add.ips.map((i) => [i.address, i.gateway]), [["10.94.0.2/24", "10.94.0.1"]]);
      assert.deepEqual(addressFiles(w.dataDir, w.network), new Map([["10.94.0.2", "ref-1\r\neth0"]]));
      assert.deepEqual(c.addrs("eth0").filter((a) => a.family === "inet").map((a) => `${a.local}/${a.prefixlen}`), ["10.94.0.2/24"]);
      assert.ok(w.node.ping("10.94.0.2"), "the node reaches the container through the reference bridge");
      successEmpty(run("CHECK", { ...conf, prevResult: add }));
      successEmpty(run("DEL", conf));
      assert.equal(addressFiles(w.dataDir, w.network).size, 0);
      assert.equal(c.hasLink("eth0"), false);
    });
  });
}



