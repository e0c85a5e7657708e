/** GC and doctor logic without the kernel: which host veths are stale, how failures combine, what doctor reports. */
import assert from "node:assert/strict";
import { test } from "node:test";
import { CniError, ErrorCode } from "../../src/cni/errors";
import { diagnose, type Snapshot } from "../../src/doctor/diagnose";
import { attachmentTag } from "../../src/firewall/key";
import { parseRecord } from "../../src/attach/attachmentRecord";
import { combinedError, runAllSteps } from "../../src/plugins/steps";
import { doomedHostVeths, hostVethAlias, staleHostVeths } from "../../src/attach/hostVeth";
import type { Link } from "../../src/kernel/port";

const key = (id: string, network = "net1") => ({ network, containerId: id, ifname: "eth0" });
const veth = (index: number, alias: string | undefined, extra: Partial<Link> = {}): Link => ({
  index,
  name: `veth${index}`,
  kind: "veth",
  mtu: 1500,
  up: true,
  promisc: false,
  peerIndex: 2,
  peerNetnsId: 1,
  alias,
  ...extra,
});

test("staleHostVeths: this network's labelled veths not in the valid list, or whose peer is gone", () => {
  const links = [
    veth(10, hostVethAlias(key("a"))),
    veth(11, hostVethAlias(key("b"))),
    veth(12, hostVethAlias(key("c", "other"))),
    veth(13, undefined),
    veth(14, hostVethAlias(key("d")), { peerNetnsId: undefined, peerIndex: 99 }),
  ];
  assert.deepEqual(staleHostVeths(links, "net1", [key("a"), key("d")]).map((l) => l.index), [11, 14]);
  assert.deepEqual(staleHostVeths(links, "net1", []).map((l) => l.index), [10, 11, 14]);
});

test("doomedHostVeths: the stale ones but the spared tags, and the unlabelled veths a locked record names", () => {
  const links = [
    veth(10, hostVethAlias(key("a"))),
    veth(11, hostVethAlias(key("b"))),
    veth(12, hostVethAlias(key("running"))),
    veth(13, undefined),
    veth(14, undefined),
    veth(15, ""),
  ];
  const doomed = doomedHostVeths(links, "net1", [key("a")], new Set([attachmentTag(key("running"))]), new Set(["veth13", "veth15", "veth10"]));
  assert.deepEqual(doomed.map((l) => l.index), [11, 13, 15]);
});

test("runAllSteps keeps going; combinedError reports every failure with the first one's code", async () => {
  const ran: string[] = [];
  const failures = await runAllSteps([
    { what: "one", run: () => void ran.push("one") },
    { what: "two", run: () => { throw new CniError(ErrorCode.IoFailure, "disk"); } },
    { what: "three", run: async () => { ran.push("three"); throw new Error("boom"); } },
  ]);
  assert.deepEqual(ran, ["one", "three"]);
  const e = combinedError("GC", failures);
  assert.equal(e.code, ErrorCode.IoFailure);
  assert.match(e.message, /2 steps failed, first: two: disk/);
  assert.equal(e.details, "two: disk; three: boom");
});

test("parseRecord accepts records and refuses anything else", () => {
  const r = { ...key("a"), netns: "/run/netns/x", hostIfname: "veth1" };
  assert.deepEqual(parseRecord(JSON.stringify(r)), r);
  assert.equal(parseRecord("{"), undefined);
  assert.equal(parseRecord(JSON.stringify({ ...r, netns: 1 })), undefined);
});

test("diagnose: leaked attachments, orphan veths and rules, bad files", () => {
  const gone = { ...key("gone"), netns: "/run/netns/gone", hostIfname: "veth10" };
  const alive = { ...key("alive"), netns: "/run/netns/alive", hostIfname: "veth11" };
  const snap: Snapshot = {
    records: [
      { dataDir: "/d", path: "/d/.tether-attachments/net1/x.json", record: gone },
      { dataDir: "/d", path: "/d/.tether-attachments/net1/y.json", record: alive },
    ],
    reservations: [
      { dataDir: "/d", network: "net1", address: "10.0.0.2", containerId: "gone", ifname: "eth0" },
      { dataDir: "/d", network: "net1", address: "10.0.0.3", containerId: "alive", ifname: "eth0" },
    ],
    links: [
      { index: 5, name: "tether0", kind: "bridge", mtu: 1500, up: true, promisc: false },
      veth(10, hostVethAlias(gone), { master: 5 }),
      veth(11, hostVethAlias(alive), { master: 5 }),
      veth(12, undefined, { master: 5, peerNetnsId: undefined, peerIndex: 77 }),
      // DEL'd (no record, no reservation) but its host end stayed: a renamed container interface.
      veth(13, hostVethAlias(key("deleted")), { master: 5 }),
      // The same in a network without records (L2-only): doctor cannot tell, says nothing.
      veth(14, hostVethAlias({ ...key("l2"), network: "l2net" }), { master: 5 }),
    ],
    recordNetworks: new Set(["net1"]),
    bridges: new Set(["tether0"]),
    rules: [
      { network: "x", attachment: attachmentTag(gone) },
      { network: "x", attachment: attachmentTag(alive) },
      { network: "x", attachment: "f".repeat(24) },
      { network: "x", attachment: "f".repeat(24) },
    ],
    badFiles: [{ path: "/d/net1/junk", why: "not an address" }],
    netnsAlive: (p) => p === "/run/netns/alive",
  };
  const found = diagnose(snap);
  assert.deepEqual(found.map((f) => [f.kind, f.subject]), [
    ["leaked-attachment", "net1 gone/eth0"],
    ["orphan-veth", "veth13"],
    ["orphan-veth", "veth12"],
    ["orphan-rules", `attachment ${"f".repeat(24)}`],
    ["bad-store-file", "/d/net1/junk"],
  ]);
  const leak = found[0]!;
  assert.ok(leak.kind === "leaked-attachment");
  assert.deepEqual(leak.addresses, ["10.0.0.2"]);
  assert.deepEqual(leak.veths, ["veth10"]);
  assert.match(found[3]!.detail, /^2 firewall rule/);
});
