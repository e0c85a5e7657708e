/** STATUS logic without the host: the light config reading, host problems, pool exhaustion. */
import assert from "node:assert/strict";
import { chmodSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { test } from "node:test";
import { CniError, ErrorCode } from "../../src/cni/errors";
import { toCniError } from "../../src/cni/mapError";
import { refusedWith } from "../helpers/refusal";
import { couldBeFull, exhaustedSets } from "../../src/ipam/pool";
import { canonicalizeRangeSets } from "../../src/ipam/rangeSet";
import { plainPoolView } from "../../src/ipam/plugin/status";
import { assertReady, hostProblems, statusView, tetherStatus, type HostProbe } from "../../src/plugins/status";

const probe = (kinds: Record<string, "bridge" | "other">, tools: string[]): HostProbe => ({
  linkKind: (n) => kinds[n] ?? "absent",
  hasTool: (t) => tools.includes(t),
});

test("statusView reads the fields STATUS needs and refuses bad ones with code 7", () => {
  const v = statusView({ name: "n", type: "tether", ipMasq: "true", macspoofchk: true, ipam: { type: "tether-ipam" } });
  assert.deepEqual(v, { network: "n", mode: "bridge", bridge: "tether0", ipMasq: true, ipMasqBackend: undefined, spoofCheck: true, ipamType: "tether-ipam", families: [] });
  for (const bad of [{ name: "-x" }, { name: "n", mode: "macvlan" }, { name: "n", ipMasq: 3 }, { name: "n", ipMasqBackend: "pf" }]) {
    assert.throws(() => statusView(bad), refusedWith(ErrorCode.InvalidConfig));
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
  assert.throws(() => assertReady(["a", "b"]), refusedWith(ErrorCode.NotAvailable, /a; b/));
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

test("plainPoolView: no ranges in the config (runtimeConfig.ipRanges only) is a store without a pool", () => {
  assert.deepEqual(plainPoolView({ name: "n", ipam: { type: "tether-ipam", dataDir: "/d" } }), { network: "n", dataDir: "/d", rangeSets: [] });
});

test("statusView: the families of the config's ranges, subnet, static addresses and runtimeConfig.ipRanges", () => {
  const fam = (raw: Record<string, unknown>) => statusView({ name: "n", ...raw }).families;
  assert.deepEqual(fam({}), []);
  assert.deepEqual(fam({ ipam: { type: "tether-ipam" } }), []);
  assert.deepEqual(fam({ ipam: { type: "tether-ipam", ranges: [[{ subnet: "10.0.0.0/24" }], [{ Subnet: "fd00::/64" }]] } }), [4, 6]);
  assert.deepEqual(fam({ ipam: { type: "host-local", subnet: "fd00::/64" } }), [6]);
  assert.deepEqual(fam({ ipam: { type: "tether-ipam", addresses: [{ address: "fd00::5/64" }] } }), [6]);
  assert.deepEqual(fam({ ipam: { type: "tether-ipam" }, runtimeConfig: { ipRanges: [[{ subnet: "10.1.0.0/16" }]] } }), [4]);
  assert.deepEqual(fam({ ipam: { type: "tether-ipam", ranges: "junk", subnet: 3 } }), [], "shapes it does not know add nothing");
});

test("hostProblems: the iptables backend needs ip6tables-restore / -save for IPv6 ranges", () => {
  const ipt = (ranges: unknown[][]) => statusView({ name: "n", ipMasq: true, ipMasqBackend: "iptables", ipam: { type: "tether-ipam", ranges } });
  const v4 = ["iptables-restore", "iptables-save"];
  const v6 = ["ip6tables-restore", "ip6tables-save"];
  const dual = ipt([[{ subnet: "10.0.0.0/24" }], [{ subnet: "fd00::/64" }]]);
  assert.deepEqual(hostProblems(dual, probe({}, [...v4, ...v6])), []);
  assert.deepEqual(hostProblems(dual, probe({}, v4)), ["ipMasq: ip6tables-restore / ip6tables-save are not installed (ipMasqBackend iptables)"]);
  assert.deepEqual(hostProblems(dual, probe({}, [...v4, "ip6tables-save"])), ["ipMasq: ip6tables-restore is not installed (ipMasqBackend iptables)"]);
  assert.deepEqual(hostProblems(ipt([[{ subnet: "fd00::/64" }]]), probe({}, v6)), [], "IPv6 only: no IPv4 tools needed");
  assert.deepEqual(hostProblems(ipt([[{ subnet: "10.0.0.0/24" }]]), probe({}, v4)), [], "IPv4 only: no IPv6 tools needed");
  // The automatic backend without nft falls back to iptables: the same tools.
  const auto = statusView({ name: "n", ipMasq: true, ipam: { type: "tether-ipam", subnet: "fd00::/64" } });
  assert.match(hostProblems(auto, probe({}, v4)).join(), /neither nft nor ip6tables-restore \/ ip6tables-save/);
  assert.deepEqual(hostProblems(auto, probe({}, ["nft"])), []);
});

test("STATUS of a delegated IPAM: missing from CNI_PATH or failing, always code 50 with its code in details", async (t) => {
  const dir = mkdtempSync(join(tmpdir(), "tether-status-deleg-"));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  writeFileSync(join(dir, "busy"), `#!/bin/sh\ncat >/dev/null\nprintf '%s' '{"cniVersion":"1.1.0","code":4,"msg":"no store","details":"disk gone"}'\nexit 1\n`);
  chmodSync(join(dir, "busy"), 0o755);
  writeFileSync(join(dir, "ready"), "#!/bin/sh\ncat >/dev/null\nexit 0\n");
  chmodSync(join(dir, "ready"), 0o755);
  const status = (type: string, extra: Record<string, unknown> = {}) => {
    const raw = { cniVersion: "1.1.0", name: "n", type: "tether", mode: "ptp", ipam: { type }, ...extra };
    const env = { command: "STATUS" as const, containerId: "", netns: "", ifname: "", args: "", path: [dir], netnsOverride: false };
    return tetherStatus({ raw, env, stdin: Buffer.from(JSON.stringify(raw)) }, probe({}, []));
  };
  await assert.doesNotReject(status("ready"));
  const failed = (msg: RegExp, details: RegExp) => (thrown: unknown) => {
    const e = toCniError(thrown);
    return e instanceof CniError && e.code === ErrorCode.NotAvailable && msg.test(e.message) && details.test(e.details ?? "");
  };
  await assert.rejects(status("no-such-ipam"), failed(/IPAM no-such-ipam: .*not found in CNI_PATH/, /IPAM no-such-ipam STATUS failed with code 7: searched /));
  await assert.rejects(status("busy"), failed(/IPAM busy: .*no store/, /code 4: disk gone/));
  // With another reason too: both named, code 50 still.
  await assert.rejects(status("busy", { ipMasq: true, ipMasqBackend: "nftables" }), (thrown: unknown) => {
    const e = toCniError(thrown);
    return e instanceof CniError && e.code === ErrorCode.NotAvailable && /nft is not installed \(ipMasqBackend nftables\); IPAM busy/.test(e.message) && /code 4/.test(e.details ?? "");
  });
});
