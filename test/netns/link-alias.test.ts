/** IFLA_IFALIAS against the real kernel, in a namespace the test creates. */
import assert from "node:assert/strict";
import { test } from "node:test";
import { NetlinkError, Rtnl, getLinkByName, listLinks, setLinkAlias } from "../../src/netlink";
import { createNetns, netnsUnavailable } from "../helpers/netns";

const skip = netnsUnavailable();

test("setLinkAlias sets, replaces and clears the alias; lookups and dumps report it", { skip }, async (t) => {
  const ns = createNetns(t, "alias");
  ns.exec(["ip", "link", "add", "va0", "type", "veth", "peer", "name", "vb0"]);
  const rtnl = Rtnl.open(ns.path);
  t.after(() => rtnl.close());
  const link = await getLinkByName(rtnl, "va0");
  assert.ok(link);
  assert.equal(link.alias, undefined);

  await setLinkAlias(rtnl, link.index, "tether:0123abcd:0123456789abcdef01234567");
  assert.equal((await getLinkByName(rtnl, "va0"))?.alias, "tether:0123abcd:0123456789abcdef01234567");
  assert.equal(ns.link("va0").ifname, "va0");
  assert.match(ns.exec(["ip", "link", "show", "dev", "va0"]), /alias tether:0123abcd:0123456789abcdef01234567/);
  assert.equal((await listLinks(rtnl)).find((l) => l.name === "va0")?.alias, "tether:0123abcd:0123456789abcdef01234567");
  assert.equal((await listLinks(rtnl)).find((l) => l.name === "vb0")?.alias, undefined);

  await setLinkAlias(rtnl, link.index, "second");
  assert.equal((await getLinkByName(rtnl, "va0"))?.alias, "second");
  await setLinkAlias(rtnl, link.index, "");
  assert.equal((await getLinkByName(rtnl, "va0"))?.alias, undefined);

  await assert.rejects(setLinkAlias(rtnl, link.index, "x".repeat(256)), (e: unknown) => e instanceof NetlinkError && e.code === "EINVAL");
});
