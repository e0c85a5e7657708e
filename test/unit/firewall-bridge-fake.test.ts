/**
 * Bridge mode's firewall hooks, capabilities and prevResult pass-through on the fake kernel and
 * firewall: rules keyed by the attachment, removed by DEL without a netns, undone by a failed ADD.
 */
import assert from "node:assert/strict";
import { readdirSync, readFileSync } from "node:fs";
import { join, resolve } from "node:path";
import { describe, it } from "node:test";
import { loadNetConf } from "../../src/config/netconf";
import { makeBridgeHandlers } from "../../src/plugins/bridge/index";
import { FAKE_NETNS as NETNS, fakeWorlds } from "../helpers/fakeKernel";
import { invocation } from "../helpers/invocation";

function config(dataDir: string, extra: Record<string, unknown> = {}): Record<string, unknown> {
  return {
    cniVersion: "1.1.0",
    name: "brnet",
    type: "tether",
    bridge: "br-fw",
    isGateway: true,
    ipMasq: true,
    macspoofchk: true,
    ipspoofchk: true,
    ipam: { type: "tether-ipam", dataDir, ranges: [[{ subnet: "10.8.0.0/24" }]] },
    ...extra,
  };
}

const setup = fakeWorlds("tether-bridge-fw-", (k) => makeBridgeHandlers(() => k, () => k.firewall));

describe("bridge mode firewall hooks on a fake kernel", () => {
  it("ADD keys masquerade and bridge-family spoof checks by the attachment; DEL without netns removes them", async () => {
    const { k, dataDir, h } = setup();
    const result = await h.add(invocation("ADD", config(dataDir), { netns: NETNS }));
    const key = { network: "brnet", containerId: "c1", ifname: "eth0" };
    assert.deepEqual(k.firewall.rules, [
      { kind: "masquerade", key, cidrs: ["10.8.0.2/24"], backend: undefined },
      {
        kind: "spoofcheck",
        key,
        spec: { family: "bridge", hostIfname: result.interfaces![1]!.name, mac: result.interfaces![2]!.mac, addresses: ["10.8.0.2/24"] },
      },
    ]);
    await h.del(invocation("DEL", config(dataDir), { netns: "" }));
    assert.deepEqual(k.firewall.rules, []);
  });

  it("a failure at any step, the firewall's included, leaves no rule, veth or reservation", async () => {
    const probe = setup();
    await probe.h.add(invocation("ADD", config(probe.dataDir), { netns: NETNS }));
    const steps = probe.k.mutations;
    for (let n = 1; n <= steps; n++) {
      const { k, dataDir, h } = setup();
      k.failAt = n;
      await assert.rejects(h.add(invocation("ADD", config(dataDir), { netns: NETNS })), Error);
      assert.deepEqual(k.firewall.rules, [], `rules after failing step ${n} (${k.log[n - 1]})`);
      assert.deepEqual([...k.host().links.values()].filter((l) => l.kind === "veth"), []);
      const reserved = (() => {
        try {
          return readdirSync(join(dataDir, "brnet")).filter((f) => /^\d/.test(f));
        } catch {
          return []; // the store directory is made by the first reservation
        }
      })();
      assert.deepEqual(reserved, []);
    }
  });

  it("keeps a prevResult and takes dns from runtimeConfig", async () => {
    const { dataDir, h } = setup();
    const prevResult = { cniVersion: "1.1.0", interfaces: [{ name: "lo", sandbox: NETNS }], ips: [{ address: "127.0.0.1/8", interface: 0 }] };
    const conf = { ...config(dataDir), prevResult, runtimeConfig: { dns: { servers: ["10.8.0.53"] } } };
    const result = await h.add(invocation("ADD", conf, { netns: NETNS }));
    assert.deepEqual(result.interfaces?.map((i) => i.name), ["lo", "br-fw", result.interfaces?.[2]?.name, "eth0"]);
    assert.deepEqual(result.ips, [
      { address: "127.0.0.1/8", interface: 0 },
      { address: "10.8.0.2/24", gateway: "10.8.0.1", interface: 3 },
    ]);
    assert.deepEqual(result.dns, { nameservers: ["10.8.0.53"] });
    // CHECK finds tether's part of the merged result
    await h.check(invocation("CHECK", { ...config(dataDir), prevResult: JSON.parse(JSON.stringify(result)) }, { netns: NETNS }));
  });
});

describe("example configurations", () => {
  it("every tether plugin in conf/*.conflist is a valid configuration", () => {
    const confDir = resolve(__dirname, "..", "..", "..", "conf");
    const files = readdirSync(confDir).filter((f) => f.endsWith(".conflist"));
    assert.ok(files.includes("ptp.conflist") && files.includes("bridge-portmap.conflist"));
    for (const f of files) {
      const list = JSON.parse(readFileSync(join(confDir, f), "utf8")) as { cniVersion: string; name: string; plugins: Record<string, unknown>[] };
      for (const p of list.plugins.filter((p) => p["type"] === "tether")) {
        assert.doesNotThrow(() => loadNetConf({ ...p, name: list.name, cniVersion: list.cniVersion }), f);
      }
    }
  });
});
