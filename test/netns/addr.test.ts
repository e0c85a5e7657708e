/** Addresses against the real kernel, inside a throwaway namespace, read back with `ip -j addr`. */
import assert from "node:assert/strict";
import { describe, test, type TestContext } from "node:test";
import { IFA_F, NetlinkError, Rtnl, addAddress, deleteAddress, listAddresses, setLinkUp, waitForDad } from "../../src/netlink";
import { type TestNetns, createNetns, netnsUnavailable } from "../helpers/netns";

const skip = netnsUnavailable();

interface IpAddrInfo {
  family: "inet" | "inet6";
  local: string;
  prefixlen: number;
  broadcast?: string;
  scope: string;
  nodad?: boolean;
  tentative?: boolean;
}

function setup(t: TestContext): { ns: TestNetns; rtnl: Rtnl; index: number } {
  const ns = createNetns(t);
  ns.exec(["ip", "link", "add", "eth0", "type", "veth", "peer", "name", "eth0-peer"]);
  const rtnl = Rtnl.open(ns.path);
  t.after(() => rtnl.close());
  return { ns, rtnl, index: ns.link("eth0").ifindex };
}

function kernelAddrs(ns: TestNetns, dev: string): IpAddrInfo[] {
  const [entry] = ns.ipJson<{ addr_info: IpAddrInfo[] }[]>(["addr", "show", "dev", dev]);
  return entry?.addr_info ?? [];
}

describe("addresses", { skip }, () => {
  test("IPv4 with its broadcast address", async (t) => {
    const { ns, rtnl, index } = setup(t);
    await addAddress(rtnl, index, "10.22.0.5/24");
    await addAddress(rtnl, index, "10.23.0.1/31");
    const v4 = kernelAddrs(ns, "eth0").filter((a) => a.family === "inet");
    assert.deepEqual(
      v4.map((a) => [a.local, a.prefixlen, a.broadcast, a.scope]),
      [
        ["10.22.0.5", 24, "10.22.0.255", "global"],
        ["10.23.0.1", 31, undefined, "global"],
      ],
    );
    const listed = (await listAddresses(rtnl, index, 4)).map((a) => [a.address, a.prefixLen, a.family, a.index]);
    assert.deepEqual(listed, [
      ["10.22.0.5", 24, 4, index],
      ["10.23.0.1", 31, 4, index],
    ]);
  });

  test("IPv6 with nodad: the flag is visible and the address is not tentative", async (t) => {
    const { ns, rtnl, index } = setup(t);
    await setLinkUp(rtnl, index);
    await addAddress(rtnl, index, "fd00:10::5/64", { noDad: true });
    const v6 = kernelAddrs(ns, "eth0").find((a) => a.local === "fd00:10::5");
    assert.ok(v6);
    assert.equal(v6.prefixlen, 64);
    assert.equal(v6.nodad, true);
    assert.notEqual(v6.tentative, true);
    const listed = (await listAddresses(rtnl, index, 6)).find((a) => a.address === "fd00:10::5");
    assert.ok(listed);
    assert.equal(listed.flags & IFA_F.NODAD, IFA_F.NODAD);
    assert.equal(listed.scope, 0);
    await waitForDad(rtnl, index, { timeoutMs: 3000 });
  });

  test("IPv6 without nodad is added without the flag", async (t) => {
    const { ns, rtnl, index } = setup(t);
    await addAddress(rtnl, index, "fd00:20::7/64");
    const v6 = kernelAddrs(ns, "eth0").find((a) => a.local === "fd00:20::7");
    assert.ok(v6);
    assert.notEqual(v6.nodad, true);
  });

  test("adding twice is EEXIST; deleting returns true once, then false", async (t) => {
    const { ns, rtnl, index } = setup(t);
    await addAddress(rtnl, index, "10.30.0.2/16");
    await assert.rejects(addAddress(rtnl, index, "10.30.0.2/16"), (e: unknown) => e instanceof NetlinkError && e.code === "EEXIST");
    assert.equal(await deleteAddress(rtnl, index, "10.30.0.2/16"), true);
    assert.equal(kernelAddrs(ns, "eth0").some((a) => a.local === "10.30.0.2"), false);
    assert.equal(await deleteAddress(rtnl, index, "10.30.0.2/16"), false);
    assert.equal(await deleteAddress(rtnl, 999_999, "10.30.0.2/16"), false);
    await addAddress(rtnl, index, "fd00:30::2/64", { noDad: true });
    assert.equal(await deleteAddress(rtnl, index, "fd00:30::2/64"), true);
    assert.equal(await deleteAddress(rtnl, index, "fd00:30::2/64"), false);
  });

  test("listAddresses without an index covers every link (loopback included)", async (t) => {
    const { rtnl, index } = setup(t);
    await addAddress(rtnl, index, "10.40.0.1/24");
    const all = await listAddresses(rtnl);
    assert.ok(all.some((a) => a.address === "127.0.0.1" && a.index === 1 && a.scope === 254));
    assert.ok(all.some((a) => a.address === "10.40.0.1" && a.index === index));
  });

  test("bad input is an EINVAL NetlinkError before anything is sent", async (t) => {
    const { rtnl, index } = setup(t);
    for (const bad of ["10.0.0.1", "10.0.0.1/33", "fd00::1/129", "not-an-ip/24"]) {
      await assert.rejects(addAddress(rtnl, index, bad), (e: unknown) => e instanceof NetlinkError && e.code === "EINVAL");
    }
  });
});
