import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { ErrorCode } from "../../src/cni/errors";
import { type IpamNetConf, loadIpamConfig } from "../../src/config/ipam";
import { formatIp } from "../../src/ip/ip";
import { type RangeSet, rangeSetCapacity, rangeSetText, subnetText } from "../../src/ipam/rangeSet";
import { refusedWith } from "../helpers/refusal";

const load = (ipam: Record<string, unknown>, extra: Partial<IpamNetConf> = {}, cniArgsIps: string[] = []) =>
  loadIpamConfig({ name: "net1", cniVersion: "1.0.0", ipam: { type: "tether-ipam", ...ipam }, ...extra }, cniArgsIps);

function rejects(fn: () => unknown, message: string | RegExp, code: number = ErrorCode.InvalidConfig): void {
  assert.throws(fn, refusedWith(code, message));
}

const describeSet = (s: RangeSet) =>
  s.ranges.map((r) => ({ subnet: subnetText(r), start: formatIp(r.rangeStart), end: formatIp(r.rangeEnd), gw: formatIp(r.gateway) }));

describe("ipam config: canonicalisation and defaults", () => {
  it("defaults gateway and rangeStart to network+1, rangeEnd to broadcast-1 (v4) and the last address (v6)", () => {
    const cfg = load({ ranges: [[{ subnet: "10.1.0.0/24" }], [{ subnet: "fd00:1::/120" }]] });
    assert.deepEqual(cfg.rangeSets.map(describeSet), [
      [{ subnet: "10.1.0.0/24", start: "10.1.0.1", end: "10.1.0.254", gw: "10.1.0.1" }],
      [{ subnet: "fd00:1::/120", start: "fd00:1::1", end: "fd00:1::ff", gw: "fd00:1::1" }],
    ]);
    assert.equal(rangeSetCapacity(cfg.rangeSets[0]!), 253n);
    assert.equal(rangeSetCapacity(cfg.rangeSets[1]!), 254n);
  });

  it("keeps explicit bounds and gateway, canonicalising their text", () => {
    const cfg = load({ ranges: [[{ subnet: "fd00:0:0:0::/64", rangeStart: "FD00::0010", rangeEnd: "fd00::20", gateway: "fd00::fe" }]] });
    assert.deepEqual(describeSet(cfg.rangeSets[0]!), [{ subnet: "fd00::/64", start: "fd00::10", end: "fd00::20", gw: "fd00::fe" }]);
  });

  it("defaults dataDir to /var/lib/cni/networks and requires it absolute", () => {
    assert.equal(load({ subnet: "10.0.0.0/24" }).dataDir, "/var/lib/cni/networks");
    assert.equal(load({ subnet: "10.0.0.0/24", dataDir: "/run/x/../y/" }).dataDir, "/run/y/");
    rejects(() => load({ subnet: "10.0.0.0/24", dataDir: "rel/dir" }), 'ipam.dataDir: "rel/dir" is not an absolute path');
  });

  it("prepends the legacy top-level range as set 0 and runtimeConfig.ipRanges before everything", () => {
    const cfg = load(
      { subnet: "10.0.0.0/24", rangeStart: "10.0.0.10", ranges: [[{ subnet: "10.2.0.0/24" }]] },
      { runtimeConfig: { ipRanges: [[{ subnet: "10.3.0.0/24" }]] } },
    );
    assert.deepEqual(cfg.rangeSets.map((s) => [s.path, rangeSetText(s)]), [
      ["runtimeConfig.ipRanges[0]", "10.3.0.1-10.3.0.254"],
      ["ipam", "10.0.0.10-10.0.0.254"],
      ["ipam.ranges[0]", "10.2.0.1-10.2.0.254"],
    ]);
  });

  it("matches containerd's capitalised runtimeConfig keys and treats its empty strings as unset", () => {
    const cfg = load(
      { ranges: [[{ subnet: "10.2.0.0/24" }]] },
      {
        runtimeConfig: {
          IPRanges: [[{ Subnet: "10.3.0.0/24", RangeStart: "10.3.0.5", RangeEnd: "", Gateway: "" }]],
          IPs: ["10.3.0.7"],
        },
      },
    );
    assert.deepEqual(describeSet(cfg.rangeSets[0]!), [{ subnet: "10.3.0.0/24", start: "10.3.0.5", end: "10.3.0.254", gw: "10.3.0.1" }]);
    assert.deepEqual(cfg.requestedIps.map(formatIp), ["10.3.0.7"]);
  });

  it("merges requested IPs from CNI_ARGS, args.cni.ips and runtimeConfig.ips (prefixes ignored)", () => {
    const cfg = load(
      { ranges: [[{ subnet: "10.0.0.0/24" }], [{ subnet: "10.1.0.0/24" }], [{ subnet: "fd00::/64" }]] },
      { args: { cni: { ips: ["10.1.0.9/24"] } }, runtimeConfig: { ips: ["fd00::9"] } },
      ["10.0.0.9"],
    );
    assert.deepEqual(cfg.requestedIps.map(formatIp), ["10.0.0.9", "10.1.0.9", "fd00::9"]);
    rejects(() => load({ subnet: "10.0.0.0/24" }, {}, ["10.0.0.300"]), 'CNI_ARGS IP: "10.0.0.300" is not an IP address');
    rejects(() => load({ subnet: "10.0.0.0/24" }, { runtimeConfig: { ips: ["nope"] } }), /^runtimeConfig\.ips\[0\]: "nope" is not an IP/);
  });

  it("returns routes as given and records resolvConf", () => {
    const cfg = load({ subnet: "10.0.0.0/24", routes: [{ dst: "0.0.0.0/0" }, { dst: "10.9.0.0/16", gw: "10.0.0.254", priority: 5 }], resolvConf: "/etc/r" });
    assert.deepEqual(cfg.routes, [{ dst: "0.0.0.0/0" }, { dst: "10.9.0.0/16", gw: "10.0.0.254", priority: 5 }]);
    assert.equal(cfg.resolvConf, "/etc/r");
  });

  it("reads lengths and prints routes as host-local does (Go: leading zeros in a length, canonical text)", () => {
    // What /usr/lib/cni/host-local printed for the same ranges and routes ("/0024" included).
    const cfg = load({ subnet: "10.1.0.0/0024", routes: [{ dst: "FD00:0::/8", gw: "::ffff:10.1.0.9" }, { dst: "10.1.2.3/016" }] });
    assert.deepEqual(cfg.rangeSets.map(describeSet), [[{ subnet: "10.1.0.0/24", start: "10.1.0.1", end: "10.1.0.254", gw: "10.1.0.1" }]]);
    assert.deepEqual(cfg.routes, [{ dst: "fd00::/8", gw: "10.1.0.9" }, { dst: "10.1.2.3/16" }]);
  });
});

describe("ipam config: refusals name the field", () => {
  it("refuses a bad CIDR", () => rejects(() => load({ ranges: [[{ subnet: "10.0.0.0/33" }]] }), 'ipam.ranges[0][0].subnet: "10.0.0.0/33" is not a CIDR'));

  it("refuses host bits in the subnet", () =>
    rejects(() => load({ ranges: [[{ subnet: "10.0.0.0/24" }], [{ subnet: "10.0.1.5/24" }]] }), "ipam.ranges[1][0].subnet: 10.0.1.5/24 has host bits set (the network address is 10.0.1.0/24)"));

  it("refuses v4 /31 /32 and v6 /127 /128 as too small, accepts /30 and /126", () => {
    for (const s of ["10.0.0.0/31", "10.0.0.0/32", "fd00::/127", "fd00::/128"]) {
      rejects(() => load({ ranges: [[{ subnet: s }]] }), `ipam.ranges[0][0].subnet: ${s} is too small to allocate from`);
    }
    assert.deepEqual(describeSet(load({ ranges: [[{ subnet: "10.0.0.0/30" }]] }).rangeSets[0]!), [{ subnet: "10.0.0.0/30", start: "10.0.0.1", end: "10.0.0.2", gw: "10.0.0.1" }]);
    assert.deepEqual(describeSet(load({ ranges: [[{ subnet: "fd00::/126" }]] }).rangeSets[0]!), [{ subnet: "fd00::/126", start: "fd00::1", end: "fd00::3", gw: "fd00::1" }]);
  });

  it("refuses IPv4-mapped subnets", () => rejects(() => load({ subnet: "::ffff:10.0.0.0/120" }), /^ipam\.subnet: .*IPv4-mapped/));

  it("refuses rangeStart/rangeEnd outside the subnet and a reversed range", () => {
    rejects(() => load({ ranges: [[{ subnet: "10.0.0.0/24" }], [{ subnet: "10.0.2.0/24", rangeStart: "10.0.1.5" }]] }), "ipam.ranges[1][0].rangeStart: 10.0.1.5 is outside subnet 10.0.2.0/24");
    rejects(() => load({ subnet: "10.0.0.0/24", rangeEnd: "10.0.1.0" }), "ipam.rangeEnd: 10.0.1.0 is outside subnet 10.0.0.0/24");
    rejects(() => load({ subnet: "10.0.0.0/24", rangeStart: "10.0.0.50", rangeEnd: "10.0.0.40" }), "ipam.rangeEnd: 10.0.0.40 is before rangeStart 10.0.0.50");
  });

  it("refuses an address of the other family", () => rejects(() => load({ subnet: "10.0.0.0/24", gateway: "fd00::1" }), "ipam.gateway: fd00::1 is not an IPv4 address like its subnet"));

  it("refuses mixed families in one set", () =>
    rejects(() => load({ ranges: [[{ subnet: "10.0.0.0/24" }, { subnet: "fd00::/64" }]] }), "ipam.ranges[0][1].subnet: fd00::/64 is IPv6 but range set ipam.ranges[0] is IPv4"));

  it("refuses overlapping ranges in a set but allows disjoint ranges of one subnet", () => {
    rejects(
      () => load({ ranges: [[{ subnet: "10.0.0.0/24", rangeEnd: "10.0.0.100" }, { subnet: "10.0.0.0/24", rangeStart: "10.0.0.100" }]] }),
      "ipam.ranges[0][1]: range 10.0.0.100-10.0.0.254 overlaps ipam.ranges[0][0] (10.0.0.1-10.0.0.100)",
    );
    const ok = load({ ranges: [[{ subnet: "10.0.0.0/24", rangeEnd: "10.0.0.99" }, { subnet: "10.0.0.0/24", rangeStart: "10.0.0.100" }]] });
    assert.equal(ok.rangeSets[0]!.ranges.length, 2);
  });

  it("refuses overlapping range sets, including with the legacy and runtime ones", () => {
    rejects(() => load({ ranges: [[{ subnet: "10.0.0.0/24" }], [{ subnet: "10.0.0.0/16" }]] }), /^ipam\.ranges\[1\]: range set 10\.0\.0\.1-10\.0\.255\.254 overlaps ipam\.ranges\[0\]/);
    rejects(() => load({ subnet: "10.0.0.0/24" }, { runtimeConfig: { ipRanges: [[{ subnet: "10.0.0.0/24" }]] } }), /^ipam: range set .* overlaps runtimeConfig\.ipRanges\[0\]/);
  });

  it("refuses an empty set, no ranges at all, the wrong type and a bad network name", () => {
    rejects(() => load({ ranges: [[]] }), "ipam.ranges[0]: empty range set");
    rejects(() => load({}), /^ipam\.ranges: no IP ranges specified/);
    rejects(() => loadIpamConfig({ name: "n", ipam: { type: "host-local", subnet: "10.0.0.0/24" } }), /^ipam\.type: "host-local" is not "tether-ipam"/);
    for (const name of ["..", "a/b", "../etc", "a\0b", ".hidden", ""]) {
      rejects(() => loadIpamConfig({ name, ipam: { type: "tether-ipam", subnet: "10.0.0.0/24" } }), /^name: /);
    }
  });

  it("refuses two addresses of one family below cniVersion 0.3.0", () => {
    const ipam = { type: "tether-ipam", ranges: [[{ subnet: "10.0.0.0/24" }], [{ subnet: "10.1.0.0/24" }]] };
    rejects(() => loadIpamConfig({ name: "n", cniVersion: "0.2.0", ipam }), "ipam.ranges: cniVersion 0.2.0 does not support more than one IPv4 address");
    assert.equal(loadIpamConfig({ name: "n", cniVersion: "0.3.1", ipam }).rangeSets.length, 2);
  });
});
