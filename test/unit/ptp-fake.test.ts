/**
 * ptp mode handlers on a fake kernel and firewall with the real built-in IPAM on a temp store: the
 * result's shape, the container and host routes, capabilities, prevResult pass-through, CHECK,
 * idempotent DEL (firewall rules removed by key even without a netns), and rollback after a failure
 * at every single step of ADD.
 */
import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { join } from "node:path";
import { CniError } from "../../src/cni/errors";
import { convertResult } from "../../src/cni/result";
import { makePtpHandlers } from "../../src/plugins/ptp/index";
import { gcEnv } from "../../src/plugins/gc";
import { hostVethAlias } from "../../src/attach/hostVeth";
import { FAKE_NETNS as NETNS, fakeWorlds } from "../helpers/fakeKernel";
import { addressFiles } from "../helpers/ipamFixtures";
import { invocation } from "../helpers/invocation";

function config(dataDir: string, extra: Record<string, unknown> = {}): Record<string, unknown> {
  return {
    cniVersion: "1.1.0",
    name: "ptpnet",
    type: "tether",
    mode: "ptp",
    mtu: 1400,
    ipam: {
      type: "tether-ipam",
      dataDir,
      ranges: [[{ subnet: "10.7.0.0/24" }], [{ subnet: "fd07::/64" }]],
      routes: [{ dst: "0.0.0.0/0" }],
    },
    ...extra,
  };
}

const store = (dataDir: string): string[] => [...addressFiles(dataDir, "ptpnet").keys()];

const setup = fakeWorlds("tether-ptp-fake-", (k) => makePtpHandlers(() => k, () => k.firewall));

const FIREWALLED = { ipMasq: true, macspoofchk: true, ipspoofchk: true };

describe("ptp ADD on a fake kernel", () => {
  it("returns [hostVeth, container] with the IPs on index 1, and sets up point-to-point routing", async () => {
    const { k, dataDir, h } = setup();
    const result = await h.add(invocation("ADD", config(dataDir), { netns: NETNS }));
    assert.equal(result.interfaces?.length, 2);
    const [hv, ct] = result.interfaces;
    assert.match(hv!.name, /^veth[0-9a-f]{8}$/);
    assert.equal(hv!.sandbox, undefined);
    assert.equal(ct!.name, "eth0");
    assert.equal(ct!.sandbox, NETNS);
    assert.deepEqual(result.ips, [
      { address: "10.7.0.2/24", gateway: "10.7.0.1", interface: 1 },
      { address: "fd07::2/64", gateway: "fd07::1", interface: 1 },
    ]);
    assert.deepEqual(result.routes, [{ dst: "0.0.0.0/0" }]);

    const c = k.spaces.get(NETNS)!;
    const eth0 = [...c.links.values()].find((l) => l.name === "eth0")!;
    assert.equal(eth0.mtu, 1400);
    const routes = c.routes.map((r) => `${r.dst}${r.gw ? ` via ${r.gw}` : ""}${r.src ? ` src ${r.src}` : ""}${r.scope === 253 ? " scope link" : ""}`);
    assert.deepEqual(routes, [
      "10.7.0.1/32 src 10.7.0.2 scope link",
      "10.7.0.0/24 via 10.7.0.1 src 10.7.0.2",
      "fd07::1/128 src fd07::2 scope link",
      "fd07::/64 via fd07::1 src fd07::2",
      "0.0.0.0/0 via 10.7.0.1",
    ]);
    const host = k.host();
    const veth = [...host.links.values()].find((l) => l.name === hv!.name)!;
    assert.ok(veth.up);
    assert.deepEqual(host.addrs.map((a) => `${a.address}/${a.prefixLen}`), ["10.7.0.1/32", "fd07::1/128"]);
    assert.deepEqual(host.routes.map((r) => [r.dst, r.oif]), [["10.7.0.2/32", veth.index], ["fd07::2/128", veth.index]]);
    assert.equal(host.sysctls.get("net/ipv4/ip_forward"), "1");
    assert.equal(host.sysctls.get("net/ipv6/conf/all/forwarding"), "1");
    assert.deepEqual(k.firewall.rules, [], "no firewall rules unless asked");
    assert.equal(k.openHandles, 0);
  });

  it("a second container gets the same gateway on its own host veth", async () => {
    const { k, dataDir, h } = setup();
    k.addNs("/var/run/netns/c2");
    await h.add(invocation("ADD", config(dataDir), { netns: NETNS }));
    await h.add(invocation("ADD", config(dataDir), { netns: "/var/run/netns/c2", containerId: "c2" }));
    const gws = k.host().addrs.filter((a) => a.family === 4).map((a) => [a.address, a.index]);
    assert.equal(gws.length, 2);
    assert.deepEqual(new Set(gws.map((g) => g[0])), new Set(["10.7.0.1"]));
    assert.notEqual(gws[0]![1], gws[1]![1]);
  });

  it("masquerade and spoof checks keyed by the attachment, on the host veth (inet)", async () => {
    const { k, dataDir, h } = setup();
    const result = await h.add(invocation("ADD", config(dataDir, { ...FIREWALLED, ipMasqBackend: "iptables" }), { netns: NETNS }));
    const key = { network: "ptpnet", containerId: "c1", ifname: "eth0" };
    assert.deepEqual(k.firewall.rules, [
      { kind: "masquerade", key, cidrs: ["10.7.0.2/24", "fd07::2/64"], backend: "iptables" },
      {
        kind: "spoofcheck",
        key,
        spec: { family: "inet", hostIfname: result.interfaces![0]!.name, mac: result.interfaces![1]!.mac, addresses: ["10.7.0.2/24", "fd07::2/64"] },
      },
    ]);
  });

  it("capabilities: mac, ips and dns (runtime over config)", async () => {
    const { k, dataDir, h } = setup();
    const conf = config(dataDir, {
      capabilities: { mac: true, ips: true, dns: true },
      dns: { nameservers: ["9.9.9.9"] },
      runtimeConfig: { Mac: "c2:11:22:33:44:55", IPs: ["10.7.0.42/24"], DNS: { Servers: ["10.7.0.53"], Searches: ["svc.local"], Options: ["ndots:5"] } },
    });
    const result = await h.add(invocation("ADD", conf, { netns: NETNS }));
    assert.equal(result.interfaces?.[1]?.mac, "c2:11:22:33:44:55");
    assert.equal([...k.spaces.get(NETNS)!.links.values()].find((l) => l.name === "eth0")?.mac, "c2:11:22:33:44:55");
    // the requested address for its family; the IPv6 range allocates as usual (host-local's rule)
    assert.deepEqual(result.ips?.map((ip) => ip.address), ["10.7.0.42/24", "fd07::2/64"]);
    assert.deepEqual(result.dns, { nameservers: ["10.7.0.53"], search: ["svc.local"], options: ["ndots:5"] });
    const { dataDir: d2, h: h2 } = setup();
    const confOnly = await h2.add(invocation("ADD", config(d2, { dns: { nameservers: ["9.9.9.9"] } }), { netns: NETNS }));
    assert.deepEqual(confOnly.dns, { nameservers: ["9.9.9.9"] });
  });

  it("later in a chain: the prevResult is kept, tether's part appended with shifted indexes", async () => {
    const { dataDir, h } = setup();
    const prevResult = {
      cniVersion: "1.1.0",
      interfaces: [{ name: "dummy0" }],
      ips: [{ address: "192.168.50.2/24", interface: 0 }],
      routes: [{ dst: "192.168.60.0/24" }],
      dns: { nameservers: ["1.1.1.1"] },
    };
    const result = await h.add(invocation("ADD", { ...config(dataDir), prevResult }, { netns: NETNS }));
    assert.deepEqual(result.interfaces?.map((i) => i.name).slice(0, 2), ["dummy0", result.interfaces?.[1]?.name]);
    assert.equal(result.interfaces?.[2]?.name, "eth0");
    assert.deepEqual(result.ips, [
      { address: "192.168.50.2/24", interface: 0 },
      { address: "10.7.0.2/24", gateway: "10.7.0.1", interface: 2 },
      { address: "fd07::2/64", gateway: "fd07::1", interface: 2 },
    ]);
    assert.deepEqual(result.routes, [{ dst: "192.168.60.0/24" }, { dst: "0.0.0.0/0" }]);
    assert.deepEqual(result.dns, { nameservers: ["1.1.1.1"] });
  });

  it("replaces a host route to its address left by a container being deleted at the same time", async () => {
    const { k, dataDir, h } = setup();
    // The old owner of 10.7.0.2: IPAM already released by its DEL, its veth (index 999) not yet gone.
    const old = { network: "ptpnet", containerId: "old", ifname: "eth0" };
    k.host().links.set(999, { index: 999, name: "vethold", kind: "veth", mtu: 1500, up: true, promisc: false, alias: hostVethAlias(old) });
    k.host().routes.push({ family: 4, dst: "10.7.0.2/32", oif: 999 });
    const result = await h.add(invocation("ADD", config(dataDir), { netns: NETNS }));
    const hostVeth = [...k.host().links.values()].find((l) => l.name === result.interfaces?.[0]?.name)!;
    assert.deepEqual(k.host().routes.filter((r) => r.dst === "10.7.0.2/32").map((r) => r.oif), [hostVeth.index]);
  });

  it("refuses (102) a host route that would replace another network's attachment's or a foreign link's, and undoes everything", async () => {
    for (const [alias, name, want] of [
      [hostVethAlias({ network: "othernet", containerId: "x", ifname: "eth0" }), "vethother", /attachment [0-9a-f]{24} \(host veth vethother\)/],
      [undefined, "wg0", /link "wg0", not tether's/],
    ] as const) {
      const { k, dataDir, h } = setup();
      k.host().links.set(999, { index: 999, name, kind: alias ? "veth" : "wireguard", mtu: 1500, up: true, promisc: false, alias });
      k.host().routes.push({ family: 4, dst: "10.7.0.2/32", oif: 999 });
      await assert.rejects(h.add(invocation("ADD", config(dataDir), { netns: NETNS })), (e: unknown) => e instanceof CniError && e.code === 102 && want.test(e.message));
      assert.deepEqual(k.host().routes.filter((r) => r.dst === "10.7.0.2/32").map((r) => r.oif), [999]);
      assert.equal(store(dataDir).length, 0);
      assert.equal([...k.host().links.values()].filter((l) => l.kind === "veth" && l.index !== 999).length, 0);
    }
  });

  it("fails with code 100 when CNI_IFNAME exists, keeping nothing", async () => {
    const { k, dataDir, h } = setup();
    await h.add(invocation("ADD", config(dataDir), { netns: NETNS }));
    await assert.rejects(
      h.add(invocation("ADD", config(dataDir), { netns: NETNS, containerId: "c2" })),
      (e: unknown) => e instanceof CniError && e.code === 100,
    );
    assert.equal(store(dataDir).length, 2);
    assert.equal([...k.host().links.values()].filter((l) => l.kind === "veth").length, 1);
  });

  it("leaves no veth, no host address or route, no reservation and no rule when any single step fails", async () => {
    const probe = setup();
    await probe.h.add(invocation("ADD", config(probe.dataDir, FIREWALLED), { netns: NETNS }));
    const steps = probe.k.mutations;
    assert.ok(steps >= 12, `ADD makes ${steps} changes`);
    for (let n = 1; n <= steps; n++) {
      const { k, dataDir, h } = setup();
      k.failAt = n;
      await assert.rejects(h.add(invocation("ADD", config(dataDir, FIREWALLED), { netns: NETNS })), Error, `step ${n}`);
      const what = `after failing step ${n} (${k.log[n - 1]})`;
      const c = k.spaces.get(NETNS)!;
      assert.deepEqual([...c.links.values()].map((l) => l.name), ["lo"], `container ${what}`);
      assert.deepEqual([...k.host().links.values()].filter((l) => l.kind === "veth"), [], `host veth ${what}`);
      assert.deepEqual(k.host().addrs, [], `host addresses ${what}`);
      assert.deepEqual(k.host().routes, [], `host routes ${what}`);
      assert.deepEqual(k.firewall.rules, [], `firewall ${what}`);
      assert.deepEqual(store(dataDir), [], `reservations ${what}`);
      assert.equal(k.openHandles, 0);
    }
  });
  it("a second interface of one container on the same network is refused (102) naming the interface that routes the gateway; nothing of it stays", async () => {
    const { k, dataDir, h } = setup();
    await h.add(invocation("ADD", config(dataDir), { netns: NETNS }));
    const c = k.spaces.get(NETNS)!;
    const routesBefore = c.routes.length;
    await assert.rejects(
      () => h.add(invocation("ADD", config(dataDir), { netns: NETNS, ifname: "eth1" })),
      (e: unknown) => e instanceof CniError && e.code === 102 && /gateway 10\.7\.0\.1/.test(e.message) && /"eth0"|eth0/.test(e.message) && /eth1/.test(e.message),
    );
    assert.deepEqual([...c.links.values()].map((l) => l.name).sort(), ["eth0", "lo"]);
    assert.equal(c.routes.length, routesBefore);
    assert.deepEqual(store(dataDir), ["10.7.0.2", "fd07::2"]);
  });
});

describe("ptp next to a bridge network on an overlapping subnet (issue 18 item 9, review)", () => {
  it("an address the node reaches on a bridge with tether's veths is refused (102) naming the bridge; nothing stays", async () => {
    const { k, dataDir, h } = setup();
    const host = k.host();
    const { link: br } = await k.ensureBridge({} as never, { name: "tbr0" });
    // A bridge network's container attached to it, and the bridge's connected route.
    host.links.set(900, { index: 900, name: "vethbr1", kind: "veth", mtu: 1500, up: true, promisc: false, master: br.index, alias: hostVethAlias({ network: "other", containerId: "x", ifname: "eth0" }) });
    host.routes.push({ family: 4, dst: "10.7.0.0/24", oif: br.index, scope: 253 });
    await assert.rejects(
      () => h.add(invocation("ADD", config(dataDir), { netns: NETNS })),
      (e: unknown) => e instanceof CniError && e.code === 102 && /bridge "tbr0"/.test(e.message) && /10\.7\.0\.2/.test(e.message),
    );
    assert.deepEqual(store(dataDir), []);
    assert.deepEqual([...k.spaces.get(NETNS)!.links.values()].map((l) => l.name), ["lo"]);
    assert.ok(!host.routes.some((r) => r.dst === "10.7.0.2/32"));
  });

  it("a connected route of a bridge without tether's veths (or of any other link) is no reason to refuse", async () => {
    const { k, dataDir, h } = setup();
    const host = k.host();
    const { link: br } = await k.ensureBridge({} as never, { name: "lan0" });
    host.routes.push({ family: 4, dst: "10.0.0.0/8", oif: br.index, scope: 253 });
    await h.add(invocation("ADD", config(dataDir), { netns: NETNS }));
    assert.ok(host.routes.some((r) => r.dst === "10.7.0.2/32"));
  });
});

describe("ptp DEL, CHECK, GC on a fake kernel", () => {
  it("DEL releases the reservation, the veth and the attachment's rules only; again with an empty or gone netns", async () => {
    const { k, dataDir, h } = setup();
    k.addNs("/var/run/netns/c2");
    await h.add(invocation("ADD", config(dataDir, FIREWALLED), { netns: NETNS }));
    await h.add(invocation("ADD", config(dataDir, FIREWALLED), { netns: "/var/run/netns/c2", containerId: "c2" }));
    assert.equal(k.firewall.rules.length, 4);
    // no netns, no prevResult: the rules still go, by key
    await h.del(invocation("DEL", config(dataDir, FIREWALLED), { netns: "" }));
    assert.deepEqual(k.firewall.rules.map((r) => r.key.containerId), ["c2", "c2"], "the other attachment's rules stay");
    assert.deepEqual(store(dataDir), ["10.7.0.3", "fd07::3"]);
    await h.del(invocation("DEL", config(dataDir, FIREWALLED), { netns: NETNS }));
    assert.deepEqual([...k.spaces.get(NETNS)!.links.values()].map((l) => l.name), ["lo"]);
    await h.del(invocation("DEL", config(dataDir, FIREWALLED), { netns: NETNS }));
    await h.del(invocation("DEL", config(dataDir, FIREWALLED), { netns: "/var/run/netns/gone" }));
  });

  it("CHECK passes right after ADD and fails when a route, host route, address or rule is gone", async () => {
    const { k, dataDir, h } = setup();
    const result = await h.add(invocation("ADD", config(dataDir, { ipMasq: true }), { netns: NETNS }));
    const prevResult = JSON.parse(JSON.stringify(convertResult(result, "1.1.0"))) as Record<string, unknown>;
    const check = () => h.check(invocation("CHECK", { ...config(dataDir, { ipMasq: true }), prevResult }, { netns: NETNS }));
    await check();
    const c = k.spaces.get(NETNS)!;
    const host = k.host();
    const cases: [string, () => () => void, RegExp][] = [
      ["subnet via gateway", () => takeOut(c, "routes", (r) => r.dst === "10.7.0.0/24"), /10\.7\.0\.0\/24 via 10\.7\.0\.1/],
      ["IPAM route", () => takeOut(c, "routes", (r) => r.dst === "0.0.0.0/0"), /0\.0\.0\.0\/0/],
      ["host route", () => takeOut(host, "routes", (r) => r.dst === "fd07::2/128"), /host route to fd07::2/],
      ["gateway on the host veth", () => takeOut(host, "addrs", (a) => a.address === "10.7.0.1"), /gateway 10\.7\.0\.1/],
      ["container address", () => takeOut(c, "addrs", (a) => a.address === "fd07::2"), /fd07::2\/64/],
    ];
    for (const [what, remove, msg] of cases) {
      const restore = remove();
      await assert.rejects(check(), (e: unknown) => e instanceof CniError && e.code === 104 && msg.test(e.message), what);
      restore();
      await check();
    }
    k.firewall.rules = [];
    await assert.rejects(check(), /masquerade/);
    await assert.rejects(h.check(invocation("CHECK", config(dataDir), { netns: NETNS })), /prevResult/);
  });

  it("GC removes the rules of attachments not in the valid list, of this network only", async () => {
    const { k, dataDir, h } = setup();
    k.addNs("/var/run/netns/c2");
    await h.add(invocation("ADD", config(dataDir, { ipMasq: true }), { netns: NETNS }));
    await h.add(invocation("ADD", config(dataDir, { ipMasq: true }), { netns: "/var/run/netns/c2", containerId: "c2" }));
    k.firewall.rules.push({ kind: "masquerade", key: { network: "othernet", containerId: "x", ifname: "eth0" } });
    const gcConf = { ...config(dataDir, { ipMasq: true }), "cni.dev/valid-attachments": [{ containerID: "c2", ifname: "eth0" }] };
    // In this process every ADD began after the process did: the list is said to be newer than them.
    const saved = { ...gcEnv };
    Object.assign(gcEnv, { since: () => Number.POSITIVE_INFINITY, lockRoot: join(dataDir, "locks") });
    try {
      await h.gc(invocation("GC", gcConf));
    } finally {
      Object.assign(gcEnv, saved);
    }
    assert.deepEqual(k.firewall.rules.map((r) => `${r.key.network}/${r.key.containerId}`), ["ptpnet/c2", "othernet/x"]);
    assert.deepEqual(store(dataDir).sort(), ["10.7.0.3", "fd07::3"]);
  });
});

function takeOut<T extends "routes" | "addrs">(
  space: { routes: unknown[]; addrs: unknown[] },
  field: T,
  match: (x: { dst: string; address: string }) => boolean,
): () => void {
  const saved = space[field];
  space[field] = saved.filter((x) => !match(x as { dst: string; address: string }));
  assert.notEqual(space[field].length, saved.length, `nothing matched in ${field}`);
  return () => {
    space[field] = saved;
  };
}
