/** addAddress with noPrefixRoute against the real kernel: the address is there, its subnet route is not. */
import assert from "node:assert/strict";
import { describe, test, type TestContext } from "node:test";
import { Rtnl, addAddress, setLinkUp } from "../../src/netlink";
import { type TestNetns, createNetns, netnsUnavailable } from "../helpers/netns";

const skip = netnsUnavailable();

function setup(t: TestContext): { ns: TestNetns; rtnl: Rtnl; index: number } {
  const ns = createNetns(t, "noprefix");
  ns.exec(["ip", "link", "add", "eth0", "type", "veth", "peer", "name", "eth0-peer"]);
  const rtnl = Rtnl.open(ns.path);
  t.after(() => rtnl.close());
  return { ns, rtnl, index: ns.link("eth0").ifindex };
}

describe("addAddress noPrefixRoute", { skip }, () => {
  test("IPv4 and IPv6 addresses without their subnet routes; a plain address keeps its route", async (t) => {
    const { ns, rtnl, index } = setup(t);
    ns.exec(["ip", "link", "set", "eth0-peer", "up"]);
    await addAddress(rtnl, index, "10.31.0.5/24", { noPrefixRoute: true });
    await addAddress(rtnl, index, "fd00:31::5/64", { noDad: true, noPrefixRoute: true });
    await addAddress(rtnl, index, "10.32.0.5/24");
    await setLinkUp(rtnl, index);
    const addrs = ns.addrs("eth0").map((a) => `${a.local}/${a.prefixlen}`);
    assert.ok(addrs.includes("10.31.0.5/24") && addrs.includes("fd00:31::5/64"), JSON.stringify(addrs));
    const flags = ns.ipJson<{ addr_info: { local: string; noprefixroute?: boolean }[] }[]>(["addr", "show", "dev", "eth0"])[0]?.addr_info ?? [];
    assert.equal(flags.find((a) => a.local === "10.31.0.5")?.noprefixroute, true);
    assert.equal(flags.find((a) => a.local === "fd00:31::5")?.noprefixroute, true);
    const v4 = ns.routes(4).map((r) => r.dst);
    const v6 = ns.routes(6).map((r) => r.dst);
    assert.ok(!v4.includes("10.31.0.0/24"), `no IPv4 subnet route: ${JSON.stringify(v4)}`);
    assert.ok(v4.includes("10.32.0.0/24"), `the plain address keeps its route: ${JSON.stringify(v4)}`);
    assert.ok(!v6.includes("fd00:31::/64"), `no IPv6 subnet route: ${JSON.stringify(v6)}`);
  });
});
