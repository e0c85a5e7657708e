/**
 * Links against the real kernel: everything happens in a "node" namespace and "container" namespaces
 * created by the test; the results are read back with `ip -d link` and `bridge vlan`.
 */
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { describe, test, type TestContext } from "node:test";
import {
  NetlinkError,
  Rtnl,
  addBridgeVlan,
  closeNetns,
  createVethPair,
  deleteBridgeVlan,
  deleteLink,
  ensureBridge,
  getLinkByIndex,
  getLinkByName,
  getVethPeer,
  isErrno,
  listBridgeVlans,
  listLinks,
  openNetns,
  randomVethName,
  setBridgePort,
  setBridgeVlanFiltering,
  setLinkDown,
  setLinkUp,
  setMac,
  setMaster,
  setMtu,
  setPromisc,
} from "../../src/netlink";
import { type TestNetns, createNetns, netnsUnavailable } from "../helpers/netns";

const skip = netnsUnavailable();

interface World {
  node: TestNetns;
  container: TestNetns;
  nodeRtnl: Rtnl;
  containerRtnl: Rtnl;
}

function world(t: TestContext): World {
  const node = createNetns(t, "node");
  const container = createNetns(t, "ctr");
  const nodeRtnl = Rtnl.open(node.path);
  const containerRtnl = Rtnl.open(container.path);
  t.after(() => {
    nodeRtnl.close();
    containerRtnl.close();
  });
  return { node, container, nodeRtnl, containerRtnl };
}

/** A veth pair made with `ip` inside one namespace, for tests that need ports but not createVethPair. */
function ipVeth(ns: TestNetns, name: string, peer: string): void {
  ns.exec(["ip", "link", "add", name, "type", "veth", "peer", "name", peer]);
}

const hasCode = (code: string, text?: RegExp) => (err: unknown) =>
  err instanceof NetlinkError && err.code === code && (text === undefined || text.test(err.message));

/** This machine's kernel may be built without bridge VLAN filtering (CONFIG_BRIDGE_VLAN_FILTERING). */
function bridgeVlanFilteringSupported(): boolean {
  const probe = createNetns(undefined, "probe");
  try {
    const r = spawnSync("ip", ["netns", "exec", probe.name, "ip", "link", "add", "br", "type", "bridge", "vlan_filtering", "1"]);
    return r.status === 0;
  } finally {
    probe.remove();
  }
}
const vlanSkip = skip ?? (bridgeVlanFilteringSupported() ? undefined : "kernel without bridge VLAN filtering (EOPNOTSUPP)");

describe("veth pairs", { skip }, () => {
  test("created inside the container namespace with the peer placed directly in the node namespace", async (t) => {
    const { node, container, nodeRtnl, containerRtnl } = world(t);
    const nodeFd = openNetns(node.path);
    const pair = await createVethPair(containerRtnl, { name: "eth0", peerNetnsFd: nodeFd, mtu: 1400, mac: "02:00:00:00:00:aa" });
    closeNetns(nodeFd);

    assert.match(pair.peerName, /^veth[0-9a-f]{8}$/);
    const ctrEnd = container.link("eth0");
    assert.equal(ctrEnd.linkinfo?.info_kind, "veth");
    assert.equal(ctrEnd.ifindex, pair.index);
    assert.equal(ctrEnd.mtu, 1400);
    assert.equal(ctrEnd.address, "02:00:00:00:00:aa");
    assert.equal(ctrEnd.link_index, pair.peerIndex);
    const hostEnd = node.link(pair.peerName);
    assert.equal(hostEnd.ifindex, pair.peerIndex);
    assert.equal(hostEnd.mtu, 1400);
    assert.equal(hostEnd.linkinfo?.info_kind, "veth");

    assert.deepEqual(pair.link, { ...pair.link, name: "eth0", kind: "veth", mtu: 1400, mac: "02:00:00:00:00:aa", up: false });
    const peer = await getVethPeer(nodeRtnl, pair);
    assert.equal(peer?.index, hostEnd.ifindex);
    assert.equal(peer?.peerIndex, ctrEnd.ifindex);
    // Each end exists only in its own namespace.
    assert.equal(await getLinkByName(nodeRtnl, "eth0"), undefined);
    assert.equal(await getLinkByName(containerRtnl, pair.peerName), undefined);
  });

  test("EEXIST when the container name exists, or when an explicit peer name exists; nothing left behind", async (t) => {
    const { node, container, containerRtnl } = world(t);
    const nodeFd = openNetns(node.path);
    t.after(() => closeNetns(nodeFd));
    const first = await createVethPair(containerRtnl, { name: "eth0", peerNetnsFd: nodeFd });
    await assert.rejects(createVethPair(containerRtnl, { name: "eth0", peerNetnsFd: nodeFd }), hasCode("EEXIST", /eth0 already exists/));
    await assert.rejects(
      createVethPair(containerRtnl, { name: "eth1", peerName: first.peerName, peerNetnsFd: nodeFd }),
      hasCode("EEXIST", new RegExp(`peer name ${first.peerName}`)),
    );
    assert.deepEqual(
      container.ipJson<{ ifname: string }[]>(["link"]).map((l) => l.ifname).sort(),
      ["eth0", "lo"],
    );
    assert.equal(node.ipJson<unknown[]>(["link"]).length, 2);
  });

  test("randomVethName is veth + 8 hex digits", () => {
    const names = new Set(Array.from({ length: 20 }, () => randomVethName()));
    for (const n of names) assert.match(n, /^veth[0-9a-f]{8}$/);
    assert.ok(names.size > 1);
  });
});

describe("bridges", { skip }, () => {
  test("ensureBridge creates once, then finds the same bridge", async (t) => {
    const { node, nodeRtnl } = world(t);
    const first = await ensureBridge(nodeRtnl, { name: "cni0", mtu: 1450 });
    assert.equal(first.created, true);
    const second = await ensureBridge(nodeRtnl, { name: "cni0", mtu: 9000 });
    assert.equal(second.created, false);
    assert.equal(second.link.index, first.link.index);
    const br = node.link("cni0");
    assert.equal(br.linkinfo?.info_kind, "bridge");
    assert.equal(br.ifindex, first.link.index);
    assert.equal(br.mtu, 1450, "an existing bridge keeps its MTU");
    assert.equal(first.link.kind, "bridge");
  });

  test("a bridge ensureBridge creates keeps its own MAC when ports with lower MACs join", async (t) => {
    const { node, nodeRtnl } = world(t);
    const { link } = await ensureBridge(nodeRtnl, { name: "cni0" });
    const born = node.link("cni0").address ?? "";
    assert.match(born, /^[0-9a-f][26ae](:[0-9a-f]{2}){5}$/, "random, unicast, locally administered");
    assert.equal(link.mac, born);
    ipVeth(node, "lowmac0", "lowmac0-peer");
    node.exec(["ip", "link", "set", "lowmac0", "address", "02:00:00:00:00:01", "master", "cni0", "up"]);
    assert.equal(node.link("cni0").address, born, "an unpinned bridge would take 02:00:00:00:00:01");
  });

  test("ensureBridge refuses an existing link of another kind, naming it", async (t) => {
    const { node, nodeRtnl } = world(t);
    ipVeth(node, "cni0", "cni0-peer");
    await assert.rejects(ensureBridge(nodeRtnl, { name: "cni0" }), hasCode("EEXIST", /cni0 exists and is a veth link, not a bridge/));
    assert.equal(node.link("cni0").linkinfo?.info_kind, "veth");
  });

  test("master, up/down, mtu, mac, promisc, hairpin and isolation", async (t) => {
    const { node, nodeRtnl } = world(t);
    const { link: br } = await ensureBridge(nodeRtnl, { name: "cni0" });
    ipVeth(node, "port0", "port0-peer");
    const port = await getLinkByName(nodeRtnl, "port0");
    assert.ok(port);

    await setMtu(nodeRtnl, port.index, 1300);
    await setMac(nodeRtnl, port.index, "02:11:22:33:44:55");
    await setMaster(nodeRtnl, port.index, br.index);
    await setLinkUp(nodeRtnl, port.index);
    await setLinkUp(nodeRtnl, br.index);
    await setPromisc(nodeRtnl, br.index, true);
    await setBridgePort(nodeRtnl, port.index, { hairpin: true, isolated: true });

    let p = node.link("port0");
    assert.equal(p.master, "cni0");
    assert.ok(p.flags.includes("UP"));
    assert.equal(p.mtu, 1300);
    assert.equal(p.address, "02:11:22:33:44:55");
    assert.equal(p.linkinfo?.info_slave_kind, "bridge");
    assert.equal(p.linkinfo?.info_slave_data?.["hairpin"], true);
    assert.equal(p.linkinfo?.info_slave_data?.["isolated"], true);
    assert.ok(node.link("cni0").flags.includes("PROMISC"));

    const seen = await getLinkByIndex(nodeRtnl, port.index);
    assert.equal(seen?.master, br.index);
    assert.equal(seen?.up, true);
    assert.equal(seen?.mtu, 1300);
    assert.equal(seen?.mac, "02:11:22:33:44:55");
    assert.equal((await getLinkByIndex(nodeRtnl, br.index))?.promisc, true);

    await setBridgePort(nodeRtnl, port.index, { hairpin: false });
    await setPromisc(nodeRtnl, br.index, false);
    await setLinkDown(nodeRtnl, port.index);
    p = node.link("port0");
    assert.equal(p.linkinfo?.info_slave_data?.["hairpin"], false);
    assert.equal(p.linkinfo?.info_slave_data?.["isolated"], true);
    assert.ok(!p.flags.includes("UP"));
    assert.ok(!node.link("cni0").flags.includes("PROMISC"));

    await setMaster(nodeRtnl, port.index, undefined);
    assert.equal(node.link("port0").master, undefined);
    // Bridge port attributes need a bridge port.
    await assert.rejects(setBridgePort(nodeRtnl, port.index, { hairpin: true }), hasCode("EOPNOTSUPP"));
  });

  test("VLAN filtering and VLANs on a port", { skip: vlanSkip }, async (t) => {
    const { node, nodeRtnl } = world(t);
    const { link: br } = await ensureBridge(nodeRtnl, { name: "cni0", vlanFiltering: true });
    assert.equal(node.link("cni0").linkinfo?.info_data?.["vlan_filtering"], 1);
    ipVeth(node, "port0", "port0-peer");
    const port = await getLinkByName(nodeRtnl, "port0");
    assert.ok(port);
    await setMaster(nodeRtnl, port.index, br.index);

    assert.equal(await deleteBridgeVlan(nodeRtnl, port.index, 1), true);
    await addBridgeVlan(nodeRtnl, port.index, 100, { pvid: true, untagged: true });
    await addBridgeVlan(nodeRtnl, port.index, { min: 200, max: 202 });
    const vlans = node.bridgeVlans("port0");
    const v100 = vlans.find((v) => v.vlan === 100);
    assert.deepEqual([...(v100?.flags ?? [])].sort(), ["Egress Untagged", "PVID"]);
    assert.equal(vlans.some((v) => v.vlan === 1), false);
    assert.deepEqual(await listBridgeVlans(nodeRtnl, port.index), [
      { vid: 100, pvid: true, untagged: true },
      { vid: 200, pvid: false, untagged: false },
      { vid: 201, pvid: false, untagged: false },
      { vid: 202, pvid: false, untagged: false },
    ]);

    await setBridgeVlanFiltering(nodeRtnl, br.index, false);
    assert.equal(node.link("cni0").linkinfo?.info_data?.["vlan_filtering"], 0);
    // ensureBridge turns filtering back on for an existing bridge that has it off.
    const again = await ensureBridge(nodeRtnl, { name: "cni0", vlanFiltering: true });
    assert.equal(again.link.vlanFiltering, true);
    assert.equal(node.link("cni0").linkinfo?.info_data?.["vlan_filtering"], 1);
  });

  test("without kernel VLAN filtering the refusal is a NetlinkError", { skip: vlanSkip === undefined ? "kernel supports VLAN filtering" : skip }, async (t) => {
    const { node, nodeRtnl } = world(t);
    await assert.rejects(ensureBridge(nodeRtnl, { name: "cni0", vlanFiltering: true }), hasCode("EOPNOTSUPP", /RTM_NEWLINK bridge cni0/));
    assert.throws(() => node.link("cni0"));
  });

  test("VLAN ids are validated before anything is sent", async (t) => {
    const { nodeRtnl } = world(t);
    await assert.rejects(addBridgeVlan(nodeRtnl, 1, 0), hasCode("EINVAL", /invalid VLAN id 0/));
    await assert.rejects(addBridgeVlan(nodeRtnl, 1, 4095), hasCode("EINVAL"));
    await assert.rejects(addBridgeVlan(nodeRtnl, 1, { min: 10, max: 20 }, { pvid: true }), hasCode("EINVAL", /PVID/));
  });
});

describe("lookup, delete and errors", { skip }, () => {
  test("getLinkByName / getLinkByIndex return undefined for absent links", async (t) => {
    const { nodeRtnl } = world(t);
    assert.equal(await getLinkByName(nodeRtnl, "nope0"), undefined);
    assert.equal(await getLinkByIndex(nodeRtnl, 999_999), undefined);
    const lo = await getLinkByName(nodeRtnl, "lo");
    assert.equal(lo?.index, 1);
    assert.equal(lo?.up, true);
    assert.equal(lo?.kind, undefined);
  });

  test("deleteLink by name and by index; false when absent", async (t) => {
    const { node, nodeRtnl } = world(t);
    ipVeth(node, "a0", "a0-peer");
    ipVeth(node, "b0", "b0-peer");
    const b0 = node.link("b0").ifindex;
    assert.equal(await deleteLink(nodeRtnl, "a0"), true);
    assert.equal(await deleteLink(nodeRtnl, b0), true);
    assert.deepEqual(node.ipJson<{ ifname: string }[]>(["link"]).map((l) => l.ifname), ["lo"]);
    assert.equal(await deleteLink(nodeRtnl, "a0"), false);
    assert.equal(await deleteLink(nodeRtnl, b0), false);
  });

  test("NetlinkError carries op, errno and code (ENODEV, EEXIST)", async (t) => {
    const { nodeRtnl } = world(t);
    const err = await setLinkUp(nodeRtnl, 999_999).then(
      () => undefined,
      (e: unknown) => e,
    );
    assert.ok(err instanceof NetlinkError);
    assert.equal(err.code, "ENODEV");
    assert.equal(err.errno, 19);
    assert.equal(err.op, "RTM_SETLINK #999999 up");
    assert.equal(err.message, "RTM_SETLINK #999999 up -> ENODEV");
    assert.ok(isErrno(err, "ENODEV"));
    await ensureBridge(nodeRtnl, { name: "br0" });
    const links = await listLinks(nodeRtnl);
    assert.deepEqual(links.map((l) => l.name).sort(), ["br0", "lo"]);
    await assert.rejects(setMac(nodeRtnl, 1, "not-a-mac"), hasCode("EINVAL", /invalid MAC/));
    await assert.rejects(getLinkByName(nodeRtnl, "a-name-that-is-too-long"), hasCode("EINVAL", /invalid interface name/));
  });
});
