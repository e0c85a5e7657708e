/**
 * The Kernel port on the real kernel (src/kernel/netlinkKernel.ts): it takes src/ip values, src/netlink
 * turns them into bytes, and what it lists comes back as values; `ip` observes the outcome.
 */
import assert from "node:assert/strict";
import { describe, test, type TestContext } from "node:test";
import { parseAddress, parseCidr } from "../../src/ip/cidr";
import { cidrText, formatIp, ipEquals, sameCidr } from "../../src/ip/ip";
import { netlinkKernel as k } from "../../src/kernel/netlinkKernel";
import type { Ns } from "../../src/kernel/port";
import { NetlinkError } from "../../src/netlink";
import { type TestNetns, createNetns, netnsUnavailable } from "../helpers/netns";

const skip = netnsUnavailable();

async function setup(t: TestContext): Promise<{ tns: TestNetns; ns: Ns; index: number }> {
  const tns = createNetns(t, "kport");
  tns.exec(["ip", "link", "add", "eth0", "type", "veth", "peer", "name", "eth0-peer"]);
  tns.exec(["ip", "link", "set", "eth0-peer", "up"]);
  const ns = await k.open(tns.path);
  t.after(() => k.close(ns));
  const index = tns.link("eth0").ifindex;
  await k.setLinkUp(ns, index);
  return { tns, ns, index };
}

describe("the Kernel port takes and lists src/ip values", { skip }, () => {
  test("addresses: added from values, seen by ip, listed as values, deleted by value; messages name the CIDR", async (t) => {
    const { tns, ns, index } = await setup(t);
    const v4 = parseCidr("10.41.0.5/24");
    const v6 = parseCidr("FD00:41:0::5/064");
    await k.addAddress(ns, index, v4, { noDad: true });
    await k.addAddress(ns, index, v6, { noDad: true });
    const seen = tns.addrs("eth0").map((a) => `${a.local}/${a.prefixlen}`);
    assert.ok(seen.includes("10.41.0.5/24") && seen.includes("fd00:41::5/64"), JSON.stringify(seen));
    const listed = await k.listAddresses(ns, index);
    assert.ok(listed.some((a) => a.family === 4 && sameCidr(a.cidr, v4)), JSON.stringify(listed.map((a) => cidrText(a.cidr))));
    assert.ok(listed.some((a) => a.family === 6 && sameCidr(a.cidr, v6)), JSON.stringify(listed.map((a) => cidrText(a.cidr))));
    assert.deepEqual((await k.listAddresses(ns, index, 4)).map((a) => cidrText(a.cidr)), ["10.41.0.5/24"]);
    await assert.rejects(
      k.addAddress(ns, index, v4, { noDad: true }),
      (e: unknown) => e instanceof NetlinkError && e.code === "EEXIST" && e.message.includes(`RTM_NEWADDR 10.41.0.5/24 #${index}`),
    );
    assert.equal(await k.deleteAddress(ns, index, v4), true);
    assert.equal(await k.deleteAddress(ns, index, v4), false);
    assert.ok(!tns.addrs("eth0").some((a) => a.local === "10.41.0.5"));
  });

  test("routes: destination host bits cleared, gateway and source as values; listed and looked up as values", async (t) => {
    const { tns, ns, index } = await setup(t);
    await k.addAddress(ns, index, parseCidr("10.41.0.5/24"), { noDad: true });
    await k.addAddress(ns, index, parseCidr("fd00:41::5/64"), { noDad: true });
    await k.addRoute(ns, { dst: parseCidr("10.42.7.9/16"), gw: parseAddress("10.41.0.1"), oif: index, src: parseAddress("10.41.0.5") });
    await k.addRoute(ns, { dst: parseCidr("fd00:42::/48"), gw: parseAddress("fd00:41::1"), oif: index });
    const ipRoutes = tns.routes(4).map((r) => `${r.dst} ${r.gateway ?? "-"}`);
    assert.ok(ipRoutes.includes("10.42.0.0/16 10.41.0.1"), JSON.stringify(ipRoutes));
    const v4 = (await k.listRoutes(ns, 4)).find((r) => sameCidr(r.dst, parseCidr("10.42.0.0/16")));
    assert.ok(v4?.gw && ipEquals(v4.gw, parseAddress("10.41.0.1")) && v4.src && formatIp(v4.src) === "10.41.0.5", JSON.stringify(v4 && cidrText(v4.dst)));
    const v6 = (await k.listRoutes(ns, 6)).find((r) => sameCidr(r.dst, parseCidr("fd00:42::/48")));
    assert.equal(v6?.gw && formatIp(v6.gw), "fd00:41::1");
    const got = await k.routeGet(ns, parseAddress("10.42.200.1"));
    assert.deepEqual([got && cidrText(got.dst), got?.gw && formatIp(got.gw), got?.oif], ["10.42.0.0/16", "10.41.0.1", index]);
    const connected = await k.routeGet(ns, parseAddress("fd00:41::77"));
    assert.deepEqual([connected && cidrText(connected.dst), connected?.gw], ["fd00:41::/64", undefined]);
    assert.equal(await k.routeGet(ns, parseAddress("192.0.2.1")), undefined);
    await assert.rejects(
      k.addRoute(ns, { dst: parseCidr("10.42.0.0/16"), gw: parseAddress("10.41.0.1"), oif: index }),
      (e: unknown) => e instanceof NetlinkError && e.code === "EEXIST" && e.message.includes(`RTM_NEWROUTE 10.42.0.0/16 via 10.41.0.1 dev #${index}`),
    );
    await assert.rejects(
      k.addRoute(ns, { dst: parseCidr("10.43.0.0/16"), gw: parseAddress("fd00:41::1") }),
      (e: unknown) => e instanceof NetlinkError && e.code === "EINVAL" && /family differs/.test(e.message),
    );
  });
});
