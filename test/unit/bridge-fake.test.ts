/**
 * Bridge mode handlers on a fake kernel with the real built-in IPAM on a temp store: the result's
 * shape, idempotent DEL, CHECK, and rollback after a failure at every single step of ADD.
 */
import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { CniError } from "../../src/cni/errors";
import { convertResult } from "../../src/cni/result";
import { makeBridgeHandlers } from "../../src/plugins/bridge/index";
import { FAKE_NETNS as NETNS, fakeWorlds } from "../helpers/fakeKernel";
import { addressFiles } from "../helpers/ipamFixtures";
import { invocation } from "../helpers/invocation";

function config(dataDir: string, extra: Record<string, unknown> = {}): Record<string, unknown> {
  return {
    cniVersion: "1.1.0",
    name: "fakenet",
    type: "tether",
    bridge: "br-test",
    isGateway: true,
    isDefaultGateway: true,
    ipam: {
      type: "tether-ipam",
      dataDir,
      ranges: [[{ subnet: "10.9.0.0/24" }], [{ subnet: "fd09::/64" }]],
      routes: [{ dst: "192.168.77.0/24" }],
    },
    ...extra,
  };
}

const store = (dataDir: string): string[] => [...addressFiles(dataDir, "fakenet").keys()];

const setup = fakeWorlds("tether-bridge-fake-", (k) => makeBridgeHandlers(() => k));

describe("bridge ADD on a fake kernel", () => {
  it("returns bridge, host veth and container interface with the IPs on the container's index", async () => {
    const { k, dataDir, h } = setup();
    const result = await h.add(invocation("ADD", config(dataDir), { netns: NETNS }));
    assert.equal(result.interfaces?.length, 3);
    assert.equal(result.interfaces?.[0]?.name, "br-test");
    assert.match(result.interfaces?.[1]?.name ?? "", /^veth[0-9a-f]{8}$/);
    assert.deepEqual(result.interfaces?.[2]?.sandbox, NETNS);
    assert.deepEqual(result.ips, [
      { address: "10.9.0.2/24", gateway: "10.9.0.1", interface: 2 },
      { address: "fd09::2/64", gateway: "fd09::1", interface: 2 },
    ]);
    assert.deepEqual(result.routes, [
      { dst: "192.168.77.0/24" },
      { dst: "0.0.0.0/0", gw: "10.9.0.1" },
      { dst: "::/0", gw: "fd09::1" },
    ]);
    const c = k.spaces.get(NETNS)!;
    assert.deepEqual(c.addrs.map((a) => `${a.address}/${a.prefixLen}`), ["10.9.0.2/24", "fd09::2/64"]);
    assert.deepEqual(k.host().addrs.map((a) => `${a.address}/${a.prefixLen}`), ["10.9.0.1/24", "fd09::1/64"]);
    assert.equal(k.host().sysctls.get("net/ipv4/ip_forward"), "1");
    assert.equal(c.sysctls.get("net/ipv6/conf/eth0/accept_dad"), "0");
    assert.deepEqual(store(dataDir).sort(), ["10.9.0.2", "fd09::2"]);
    assert.equal(k.openHandles, 0, "every namespace handle is closed");
    // 0.2.0 output of the same result keeps one address per family
    const legacy = convertResult(result, "0.2.0") as { ip4: { ip: string }; ip6: { ip: string } };
    assert.equal(legacy.ip4.ip, "10.9.0.2/24");
  });

  it("refuses an interface name that already exists in the container, and reserves nothing", async () => {
    const { k, dataDir, h } = setup();
    await h.add(invocation("ADD", config(dataDir), { netns: NETNS }));
    await assert.rejects(
      h.add(invocation("ADD", config(dataDir), { netns: NETNS, containerId: "c2" })),
      (e: unknown) => e instanceof CniError && e.code === 100 && /eth0/.test(e.message),
    );
    assert.equal(store(dataDir).length, 2, "only the first ADD's reservations remain");
    assert.equal([...k.host().links.values()].filter((l) => l.kind === "veth").length, 1);
  });

  for (const [title, extra, version, code] of [
    ["vlan with isGateway", { vlan: 10 }, "1.1.0", 2],
    ["vlanTrunk", { vlanTrunk: [{ id: 5 }] }, "1.1.0", 2],
    ["preserveDefaultVlan", { preserveDefaultVlan: true }, "1.1.0", 2],
    ["an L2-only network at cniVersion 0.2.0", { ipam: {} }, "0.2.0", 1],
  ] as const) {
    it(`refuses ${title} (code ${code}) before making or reserving anything`, async () => {
      const { k, dataDir, h } = setup();
      const raw = { ...config(dataDir, extra), cniVersion: version };
      await assert.rejects(h.add(invocation("ADD", raw, { netns: NETNS })), (e: unknown) => e instanceof CniError && e.code === code);
      assert.equal(k.mutations, 0, k.log.join(", "));
      assert.deepEqual(store(dataDir), []);
    });
  }

  it("leaves no veth and no reservation when any single step fails", async () => {
    const probe = setup();
    await probe.h.add(invocation("ADD", config(probe.dataDir), { netns: NETNS }));
    const steps = probe.k.mutations;
    assert.ok(steps >= 8, `ADD makes ${steps} kernel changes`);
    for (let n = 1; n <= steps; n++) {
      const { k, dataDir, h } = setup();
      k.failAt = n;
      await assert.rejects(h.add(invocation("ADD", config(dataDir), { netns: NETNS })), Error, `step ${n}`);
      const c = k.spaces.get(NETNS)!;
      assert.deepEqual([...c.links.values()].map((l) => l.name), ["lo"], `container after failing step ${n}: ${k.log[n - 1]}`);
      assert.deepEqual([...k.host().links.values()].filter((l) => l.kind === "veth"), [], `host veth after failing step ${n}`);
      assert.deepEqual(store(dataDir), [], `reservations after failing step ${n}`);
      assert.equal(k.openHandles, 0);
    }
  });
});

describe("bridge DEL and CHECK on a fake kernel", () => {
  it("DEL releases the reservation and the veth, and succeeds again, with an empty or missing netns", async () => {
    const { k, dataDir, h } = setup();
    const result = await h.add(invocation("ADD", config(dataDir), { netns: NETNS }));
    const prev = JSON.parse(JSON.stringify(convertResult(result, "1.1.0"))) as Record<string, unknown>;
    await h.del(invocation("DEL", { ...config(dataDir), prevResult: prev }, { netns: NETNS }));
    assert.deepEqual(store(dataDir), []);
    assert.deepEqual([...k.spaces.get(NETNS)!.links.values()].map((l) => l.name), ["lo"]);
    assert.deepEqual([...k.host().links.values()].filter((l) => l.kind === "veth"), []);
    await h.del(invocation("DEL", config(dataDir), { netns: NETNS }));
    await h.del(invocation("DEL", config(dataDir), { netns: "" }));
    await h.del(invocation("DEL", config(dataDir), { netns: "/var/run/netns/gone" }));
  });

  it("DEL still removes the interface when the IPAM step fails, and reports the IPAM failure", async () => {
    const { k, dataDir, h } = setup();
    await h.add(invocation("ADD", config(dataDir), { netns: NETNS }));
    // The same network, its IPAM now a plugin that is not on CNI_PATH (removed by an upgrade, say).
    const broken = { ...config(dataDir), ipam: { type: "gone-ipam" } };
    await assert.rejects(
      h.del(invocation("DEL", broken, { netns: NETNS, path: [dataDir] })),
      (e: unknown) => e instanceof CniError && e.code === 7 && /IPAM release/.test(e.message) && /gone-ipam/.test(e.message),
    );
    assert.deepEqual([...k.spaces.get(NETNS)!.links.values()].map((l) => l.name), ["lo"], "the container interface is gone anyway");
    assert.deepEqual([...k.host().links.values()].filter((l) => l.kind === "veth"), []);
  });

  it("the DEL after a refused ADD (CNI_IFNAME taken by another attachment) leaves that interface alone", async () => {
    const { k, dataDir, h } = setup();
    await h.add(invocation("ADD", config(dataDir), { netns: NETNS, containerId: "first" }));
    await assert.rejects(h.add(invocation("ADD", config(dataDir), { netns: NETNS, containerId: "second" })), (e: unknown) => e instanceof CniError && e.code === 100);
    await h.del(invocation("DEL", config(dataDir), { netns: NETNS, containerId: "second" }));
    assert.ok([...k.spaces.get(NETNS)!.links.values()].some((l) => l.name === "eth0"), "the first attachment's eth0 stays");
    await h.del(invocation("DEL", config(dataDir), { netns: NETNS, containerId: "first" }));
    assert.ok(![...k.spaces.get(NETNS)!.links.values()].some((l) => l.name === "eth0"), "its own DEL removes it");
  });

  it("CHECK passes right after ADD and fails once an address or route is gone", async () => {
    const { k, dataDir, h } = setup();
    const result = await h.add(invocation("ADD", config(dataDir), { netns: NETNS }));
    const prevResult = JSON.parse(JSON.stringify(convertResult(result, "1.1.0"))) as Record<string, unknown>;
    const check = () => h.check(invocation("CHECK", { ...config(dataDir), prevResult }, { netns: NETNS }));
    await check();
    const c = k.spaces.get(NETNS)!;
    // a route added by a later plugin is tolerated
    c.routes.push({ family: 4, dst: "172.30.0.0/16", gw: "10.9.0.1", oif: undefined });
    await check();
    const saved = c.routes;
    c.routes = c.routes.filter((r) => r.dst !== "192.168.77.0/24");
    await assert.rejects(check(), (e: unknown) => e instanceof CniError && /192\.168\.77\.0\/24/.test(e.message));
    c.routes = saved;
    c.addrs = c.addrs.filter((a) => a.address !== "fd09::2");
    await assert.rejects(check(), (e: unknown) => e instanceof CniError && /fd09::2\/64/.test(e.message));
  });

  it("CHECK compares addresses and routes as values: prevResult text written another way still matches", async () => {
    const { dataDir, h } = setup();
    const result = await h.add(invocation("ADD", config(dataDir), { netns: NETNS }));
    const prev = JSON.parse(JSON.stringify(convertResult(result, "1.1.0"))) as { ips: { address: string }[]; routes: { dst: string; gw?: string }[] };
    prev.ips = prev.ips.map((ip) => ({ ...ip, address: ip.address.replace("fd09::2/64", "FD09:0:0::0002/064") }));
    prev.routes = prev.routes.map((r) => (r.dst === "::/0" ? { dst: "0::0/00", gw: "FD09::1" } : r));
    assert.ok(JSON.stringify(prev).includes("FD09:0:0::0002/064") && JSON.stringify(prev).includes("0::0/00"));
    await h.check(invocation("CHECK", { ...config(dataDir), prevResult: prev }, { netns: NETNS }));
    prev.routes = prev.routes.map((r) => (r.dst === "0::0/00" ? { dst: "::/0", gw: "fd09::7" } : r));
    await assert.rejects(h.check(invocation("CHECK", { ...config(dataDir), prevResult: prev }, { netns: NETNS })), /route to ::\/0 via fd09::7 not found/);
  });

  it("CHECK without prevResult is an error", async () => {
    const { dataDir, h } = setup();
    await assert.rejects(h.check(invocation("CHECK", config(dataDir), { netns: NETNS })), /prevResult/);
  });
});

describe("bridge with CNI_NETNS_OVERRIDE: the plugin's own namespace as the container's", () => {
  const OWN = "/proc/self/ns/net";
  function ownSetup(): ReturnType<typeof setup> {
    const s = setup();
    s.k.aliasHost(OWN);
    // The node's uplink, a physical NIC: it must survive everything below.
    s.k.host().links.set(2, { index: 2, name: "eth0", kind: undefined, mtu: 1500, up: true, promisc: false });
    return s;
  }
  const env = (ifname: string) => ({ netns: OWN, ifname, netnsOverride: true });

  it("an ADD refused because CNI_IFNAME is the node's uplink, and the DEL that follows, leave the uplink alone", async () => {
    const { k, dataDir, h } = ownSetup();
    await assert.rejects(h.add(invocation("ADD", config(dataDir), env("eth0"))), (e: unknown) => e instanceof CniError && e.code === 100);
    await h.del(invocation("DEL", config(dataDir), env("eth0")));
    assert.ok([...k.host().links.values()].some((l) => l.name === "eth0" && l.kind === undefined), "eth0 still there");
    assert.deepEqual(store(dataDir), []);
  });

  it("ADD makes the veth in the node namespace; DEL removes exactly it", async () => {
    const { k, dataDir, h } = ownSetup();
    const result = await h.add(invocation("ADD", config(dataDir), env("ctr0")));
    assert.equal(result.interfaces?.[2]?.name, "ctr0");
    assert.ok([...k.host().links.values()].some((l) => l.name === "ctr0" && l.kind === "veth"));
    await h.del(invocation("DEL", config(dataDir), env("ctr0")));
    assert.deepEqual([...k.host().links.values()].map((l) => l.name).sort(), ["br-test", "eth0", "lo"]);
    assert.deepEqual(store(dataDir), []);
  });

  it("a link another process creates under CNI_IFNAME after the check is not rolled back", async () => {
    const { k, dataDir, h } = ownSetup();
    const realCreate = k.createVeth.bind(k);
    k.createVeth = async (container, host, opts) => {
      // Someone takes the name between tether's check and its create.
      k.host().links.set(3, { index: 3, name: opts.name, kind: "veth", mtu: 1500, up: true, promisc: false });
      return realCreate(container, host, opts);
    };
    await assert.rejects(h.add(invocation("ADD", config(dataDir), env("ctr1"))), (e: unknown) => e instanceof CniError && /EEXIST/.test(e.message));
    assert.ok(k.host().links.has(3), "the other process's ctr1 survives the rollback");
    assert.deepEqual(store(dataDir), [], "the reservation was rolled back");
  });
});
