/** STATUS logic without the host: the light config reading, host problems, pool exhaustion. */
import assert from "node:assert/strict";
import { test } from "node:test";
import { CniError, ErrorCode } from "../../src/cni/errors";
import { couldBeFull, exhaustedSets } from "../../src/ipam/pool";
import { canonicalizeRangeSets } from "../../src/ipam/rangeSet";
import { plainPoolView } from "../../src/plugins/ipamStatus";
import { assertReady, hostProblems, statusView, type HostProbe } from "../../src/plugins/status";

const probe = (kinds: Record<string, "bridge" | "other">, tools: string[]): HostProbe => ({
  linkKind: (n) => kinds[n] ?? "absent",
  hasTool: (t) => tools.includes(t),
});

test("statusView reads the fields STATUS needs and refuses bad ones with code 7", () => {
  const v = statusView({ name: "n", type: "tether", ipMasq: "true", macspoofchk: true, ipam: { type: "tether-ipam" } });
  assert.deepEqual(v, { network: "n", mode: "bridge", bridge: "tether0", ipMasq: true, ipMasqBackend: undefined, spoofCheck: true, ipamType: "tether-ipam" });
  for (const bad of [{ name: "-x" }, { name: "n", mode: "macvlan" }, { name: "n", ipMasq: 3 }, { name: "n", ipMasqBackend: "pf" }]) {
    assert.throws(() => statusView(bad), (e: unknown) => e instanceof CniError && e.code === ErrorCode.InvalidConfig);
  }
});

test("hostProblems: a non-bridge link on the bridge's name, missing firewall tools", () => {
  const v = statusView({ name: "n", bridge: "br0", ipMasq: true, ipspoofchk: true });
  assert.deepEqual(hostProblems(v, probe({ br0: "bridge" }, ["nft"])), []);
  assert.deepEqual(hostProblems(v, probe({}, ["nft"])), []);
  assert.match(hostProblems(v, probe({ br0: "other" }, ["nft"])).join(), /a link that is not a bridge/);
  assert.deepEqual(hostProblems(v, probe({}, ["iptables-restore", "iptables-save"])), ["macspoofchk/ipspoofchk: nft is not installed"]);
  assert.match(hostProblems(v, probe({}, [])).join(), /neither nft nor iptables-restore/);
  const ipt = statusView({ name: "n", mode: "ptp", ipMasq: true, ipMasqBackend: "iptables" });
  assert.match(hostProblems(ipt, probe({}, ["nft"])).join(), /iptables-restore/);
  assert.deepEqual(hostProblems(ipt, probe({ tether0: "other" }, ["iptables-restore", "iptables-save"])), [], "ptp needs no bridge");
});

test("assertReady: code 50 naming every reason", () => {
  assert.doesNotThrow(() => assertReady([]));
  assert.throws(() => assertReady(["a", "b"]), (e: unknown) => e instanceof CniError && e.code === ErrorCode.NotAvailable && /a; b/.test(e.message));
});

test("pool: exhausted sets from the store's names; the cheap count decides when a listing is needed", () => {
  const sets = canonicalizeRangeSets([
    { path: "a", ranges: [{ subnet: "10.0.0.0/30", path: "a0" }] },
    { path: "b", ranges: [{ subnet: "10.1.0.0/24", path: "b0" }] },
  ]);
  assert.deepEqual(exhaustedSets(sets, ["lock", "10.1.0.2"]), []);
  assert.deepEqual(exhaustedSets(sets, ["10.0.0.2", "10.1.0.2", "last_reserved_ip.0"]), [0]);
  assert.equal(couldBeFull(sets, 0), false);
  assert.equal(couldBeFull(sets, 1), true);
});

test("plainPoolView reads plain ranges and leaves other shapes to the schema", () => {
  const v = plainPoolView({ name: "n", ipam: { type: "tether-ipam", dataDir: "/d", ranges: [[{ subnet: "10.0.0.0/24" }]] } });
  assert.equal(v?.dataDir, "/d");
  assert.equal(v?.rangeSets.length, 1);
  assert.equal(plainPoolView({ name: "n", ipam: { type: "tether-ipam", ranges: [[{ Subnet: "10.0.0.0/24" }]] } }), undefined);
  assert.equal(plainPoolView({ name: "n", ipam: { type: "tether-ipam", subnet: "10.0.0.0/24" } })?.dataDir, "/var/lib/cni/networks");
});
