/**
 * CIDR and address text as the network configuration and IPAM results give it: Go's net.ParseCIDR
 * rules (readGoCidr, parseCidr), the "ip or ip/len" form of requested addresses, the values the
 * plugins hand the kernel port (resultIps, routeValues, defaultRoutes).
 */
import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { defaultRoutes, resultIps, routeValues } from "../../src/attach/result";
import { ConfigError } from "../../src/config/errors";
import { defaultGateway, hostPrefix, parseAddress, parseCidr, subnetOf } from "../../src/ip/cidr";
import { cidrText, formatIp, parseIp, readCidr, readGoCidr, readIpMaybeCidr } from "../../src/ip/ip";

describe("readGoCidr: what Go's net.ParseCIDR accepts, and only that", () => {
  // text -> [family, address as written (canonical), prefix, network], as Go's ParseCIDR gives them
  // (an IPv4-mapped address kept IPv6, as the kernel is given it).
  const accepted: [string, 4 | 6, string, number, string][] = [
    ["10.1.2.3/24", 4, "10.1.2.3", 24, "10.1.2.0"],
    ["0.0.0.0/0", 4, "0.0.0.0", 0, "0.0.0.0"],
    ["255.255.255.255/32", 4, "255.255.255.255", 32, "255.255.255.255"],
    ["10.1.2.3/024", 4, "10.1.2.3", 24, "10.1.2.0"], // Go's dtoi: leading zeros in the length are fine
    ["10.1.2.3/0000000000000000000008", 4, "10.1.2.3", 8, "10.0.0.0"],
    ["10.1.2.3/00", 4, "10.1.2.3", 0, "0.0.0.0"],
    ["fd00::1/64", 6, "fd00::1", 64, "fd00::"],
    ["FD00:0:0::0001/064", 6, "fd00::1", 64, "fd00::"], // upper case, leading zeros in groups
    ["::/0", 6, "::", 0, "::"],
    ["::1/128", 6, "::1", 128, "::1"],
    ["1:2:3:4:5:6:7::/112", 6, "1:2:3:4:5:6:7:0", 112, "1:2:3:4:5:6:7:0"],
    ["1:2:3:4:5:6:7:8/128", 6, "1:2:3:4:5:6:7:8", 128, "1:2:3:4:5:6:7:8"],
    ["::1.2.3.4/128", 6, "::102:304", 128, "::102:304"], // IPv4-compatible stays IPv6
    ["64:ff9b::10.1.2.3/96", 6, "64:ff9b::a01:203", 96, "64:ff9b::"],
    ["::ffff:10.1.2.3/120", 6, "::ffff:a01:203", 120, "::ffff:a01:200"], // mapped: the length counts 128 bits, kept IPv6
    ["::ffff:10.1.2.3/128", 6, "::ffff:a01:203", 128, "::ffff:a01:203"],
    ["::FFFF:10.1.2.3/64", 6, "::ffff:a01:203", 64, "::"],
  ];
  it("accepts (table)", () => {
    for (const [text, family, ip, prefix, network] of accepted) {
      const c = readGoCidr(text);
      assert.ok(c, text);
      assert.deepEqual([c.ip.family, formatIp(c.ip), c.prefix, formatIp(c.network), c.mapped], [family, ip, prefix, network, /::ffff:/i.test(text)], text);
    }
  });

  const rejected = [
    "", "/", "/24", "10.1.2.3", "10.1.2.3/", "fd00::1", "fd00::1/",
    "10.1.2.3/33", "10.1.2.3/99999999999999999999", "fd00::1/129", "::ffff:10.1.2.3/129",
    "10.1.2.3/+8", "10.1.2.3/-1", "10.1.2.3/0x8", "10.1.2.3/8.0", "10.1.2.3/1e1", "10.1.2.3/8/9", "10.1.2.3/\u0664",
    " 10.1.2.3/8", "10.1.2.3/8 ", "10.1.2.3 /8", "10.1.2.3/ 8", "10.1.2.3/8\n", "\t10.1.2.3/8",
    "010.1.2.3/8", "10.01.2.3/8", "10.1.2/24", "10.1.2.3.4/24", "256.1.2.3/8", "1.2.3.-4/8",
    "fd00::1%eth0/64", "fe80::1%1/64", "fd00:::1/64", "1::2::3/64", "fd00::12345/64", "fd00::g/64",
    "1:2:3:4:5:6:7:8:9/64", "1:2:3:4:5:6:7:8::/64", "1.2.3.4::/64", "::ffff:010.1.2.3/120", "::1.2.3/96", "[fd00::1]/64",
  ];
  it("refuses (table)", () => {
    for (const text of rejected) assert.equal(readGoCidr(text), undefined, JSON.stringify(text));
  });

  it("parseCidr throws a ConfigError naming the text; the old lax forms are refused", () => {
    for (const text of ["10.1.2.3", "10.1.2.3/abc", "10.1.2.3/", "10.1.2.300/24", "10.1.2.3/+8"]) {
      assert.throws(() => parseCidr(text), (e: unknown) => e instanceof ConfigError && e.message === `${JSON.stringify(text)} is not a CIDR`, text);
    }
    assert.equal(cidrText(parseCidr("10.1.2.3/024")), "10.1.2.3/24");
  });
});

describe("readIpMaybeCidr: an address, or an address with a valid length (host-local's requested IPs)", () => {
  it("table", () => {
    const cases: [string, string | undefined][] = [
      ["10.0.0.5", "10.0.0.5"],
      ["10.0.0.5/24", "10.0.0.5"],
      ["10.0.0.5/0024", "10.0.0.5"],
      ["::ffff:10.0.0.5/120", "10.0.0.5"],
      ["fd00:0::5/64", "fd00::5"],
      ["::ffff:10.0.0.5", "10.0.0.5"],
      ["10.0.0.5/abc", undefined],
      ["10.0.0.5/", undefined],
      ["10.0.0.5/33", undefined],
      ["10.0.0.500/24", undefined],
      ["/24", undefined],
      ["", undefined],
    ];
    for (const [text, want] of cases) {
      const ip = readIpMaybeCidr(text);
      assert.equal(ip === undefined ? undefined : formatIp(ip), want, text);
    }
  });
});

describe("value helpers", () => {
  it("subnetOf, hostPrefix, defaultGateway", () => {
    assert.equal(cidrText(subnetOf(parseCidr("10.1.2.3/16"))), "10.1.0.0/16");
    assert.equal(cidrText(subnetOf(parseCidr("fd00:1:2::3/48"))), "fd00:1:2::/48");
    assert.equal(cidrText(hostPrefix(parseAddress("10.1.2.3"))), "10.1.2.3/32");
    assert.equal(cidrText(hostPrefix(parseAddress("fd00::1"))), "fd00::1/128");
    assert.equal(formatIp(defaultGateway(parseCidr("10.1.2.3/24"))), "10.1.2.1");
    assert.equal(formatIp(defaultGateway(parseCidr("fd00::7/64"))), "fd00::1");
    assert.throws(() => parseAddress("10.1.2.3/24"), /"10\.1\.2\.3\/24" is not an IP address/);
  });
});

describe("the IPAM result, parsed once at the edge", () => {
  it("resultIps keeps the IPAM's text for the result and gives the kernel values", () => {
    const out = resultIps({ ips: [{ address: "10.9.0.2/24" }, { address: "FD09::2/64", gateway: "FD09::1" }], routes: [] }, 2, defaultGateway);
    assert.deepEqual(out.map((a) => a.config), [
      { address: "10.9.0.2/24", interface: 2, gateway: "10.9.0.1" },
      { address: "FD09::2/64", interface: 2, gateway: "FD09::1" },
    ]);
    assert.deepEqual(out.map((a) => [cidrText(a.cidr), a.gateway && formatIp(a.gateway)]), [["10.9.0.2/24", "10.9.0.1"], ["fd09::2/64", "fd09::1"]]);
    const noGateway = resultIps({ ips: [{ address: "10.9.0.2/24" }], routes: [] }, 1, () => undefined);
    assert.deepEqual(noGateway.map((a) => [a.config, a.gateway]), [[{ address: "10.9.0.2/24", interface: 1 }, undefined]]);
  });

  it("a result address or gateway that is no CIDR / address is a ConfigError naming it", () => {
    assert.throws(() => resultIps({ ips: [{ address: "10.9.0.2" }], routes: [] }, 1, defaultGateway), /"10\.9\.0\.2" is not a CIDR/);
    assert.throws(() => resultIps({ ips: [{ address: "10.9.0.2/24", gateway: "10.9.0.x" }], routes: [] }, 1, defaultGateway), /"10\.9\.0\.x" is not an IP address/);
    assert.throws(() => routeValues([{ dst: "10.8.0.0/16", gw: "nope" }]), /"nope" is not an IP address/);
  });

  it("defaultRoutes: one per family with a gateway, none where the IPAM routes have a default", () => {
    const ips = resultIps({ ips: [{ address: "10.9.0.2/24" }, { address: "fd09::2/64" }], routes: [] }, 2, defaultGateway);
    assert.deepEqual(defaultRoutes(ips, routeValues([])).map((r) => [r.route, cidrText(r.dst), r.gw && formatIp(r.gw)]), [
      [{ dst: "0.0.0.0/0", gw: "10.9.0.1" }, "0.0.0.0/0", "10.9.0.1"],
      [{ dst: "::/0", gw: "fd09::1" }, "::/0", "fd09::1"],
    ]);
    assert.deepEqual(defaultRoutes(ips, routeValues([{ dst: "0.0.0.0/00" }])).map((r) => r.route.dst), ["::/0"]);
  });
});

describe("readCidr (the kernel's and policy's reader) is unchanged by the Go reader", () => {
  it("keeps its 1-3 digit length and its mapped handling", () => {
    assert.equal(readCidr("10.1.2.3/0024"), "bad-prefix");
    assert.equal(readCidr("::ffff:1.2.3.4/120"), "prefix-too-long");
    assert.equal(parseIp("::ffff:1.2.3.4")?.family, 4);
  });
});
