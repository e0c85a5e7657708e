/** doctor's judgement of ADD intents and lock files (src/doctor/diagnose.ts), pure. */
import assert from "node:assert/strict";
import { test } from "node:test";
import { diagnose, type Snapshot } from "../../src/doctor/diagnose";
import { attachmentTag } from "../../src/firewall/key";
import { hostVethAlias } from "../../src/attach/hostVeth";
import type { Link } from "../../src/kernel/port";

const key = (id: string) => ({ network: "net1", containerId: id, ifname: "eth0" });
const veth = (index: number, name: string, alias: string | undefined): Link => ({
  index,
  name,
  kind: "veth",
  mtu: 1500,
  up: true,
  promisc: false,
  ...(alias !== undefined ? { alias } : {}),
  peerIndex: 2,
  peerNetnsId: 1,
});

test("an intent whose netns lives and whose lock no call holds is an interrupted ADD; a held one, or a finished record, is not", () => {
  const killed = { ...key("killed"), netns: "/run/netns/a", hostIfname: "vethk" };
  const unlabelled = { ...key("early"), netns: "/run/netns/b", hostIfname: "vethe" };
  const running = { ...key("running"), netns: "/run/netns/c", hostIfname: "vethr" };
  const done = { ...key("done"), netns: "/run/netns/d", hostIfname: "vethd" };
  const gone = { ...key("gone"), netns: "/run/netns/gone", hostIfname: "vethg" };
  const lockOf = (k: { containerId: string }) => `/locks/n/${k.containerId}.lock`;
  const snap: Snapshot = {
    records: [
      { dataDir: "/d", path: "/d/k.adding.json", record: killed, intent: true },
      { dataDir: "/d", path: "/d/e.adding.json", record: unlabelled, intent: true },
      { dataDir: "/d", path: "/d/r.adding.json", record: running, intent: true },
      { dataDir: "/d", path: "/d/d.json", record: done, intent: false },
      { dataDir: "/d", path: "/d/g.adding.json", record: gone, intent: true },
    ],
    reservations: [
      { dataDir: "/d", network: "net1", address: "10.0.0.2", containerId: "killed", ifname: "eth0" },
      { dataDir: "/d", network: "net1", address: "10.0.0.3", containerId: "running", ifname: "eth0" },
      { dataDir: "/d", network: "net1", address: "10.0.0.4", containerId: "done", ifname: "eth0" },
    ],
    links: [veth(10, "vethk", hostVethAlias(killed)), veth(11, "vethe", undefined), veth(12, "vethr", hostVethAlias(running)), veth(13, "vethd", hostVethAlias(done))],
    recordNetworks: new Set(["net1"]),
    bridges: new Set(),
    rules: [
      { network: "x", attachment: attachmentTag(killed) },
      { network: "x", attachment: attachmentTag(killed) },
      { network: "x", attachment: attachmentTag(running) },
    ],
    badFiles: [],
    netnsAlive: (p) => p !== "/run/netns/gone",
    lockHeld: (k) => k.containerId === "running",
    locks: [lockOf(killed), lockOf(gone), "/locks/n/other.lock"],
    lockPathOf: lockOf,
  };
  const found = diagnose(snap);
  assert.deepEqual(found.map((f) => [f.kind, f.subject]), [
    ["interrupted-add", "net1 killed/eth0"],
    ["interrupted-add", "net1 early/eth0"],
    ["leaked-attachment", "net1 gone/eth0"],
    ["stale-lock", "/locks/n/other.lock"],
  ]);
  const k = found[0]!;
  assert.ok(k.kind === "interrupted-add");
  assert.deepEqual(k.veths, ["vethk"]);
  assert.match(k.detail, /\/run\/netns\/a/);
  assert.match(k.detail, /10\.0\.0\.2/);
  assert.match(k.detail, /host veth vethk \(container end in \/run\/netns\/a\)/);
  assert.match(k.detail, /2 firewall rule\(s\)/);
  const e = found[1]!;
  assert.ok(e.kind === "interrupted-add");
  assert.deepEqual(e.veths, ["vethe"], "the unlabelled host end, by the name its intent gave it");
  assert.match(found[2]!.detail, /its ADD did not finish/);
});
