import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { bytesToIp, formatIp, ipToBytes, parseIp, parseIpExact, readCidr } from "../../src/ip/ip";
import { isIp } from "../../src/ip/text";
import { parseCidr as netlinkCidr, parseIp as netlinkIp } from "../../src/netlink/ip";

describe("src/ip values", () => {
  it("ipToBytes/bytesToIp round-trip, v4, v6, mapped kept as v6", () => {
    const cases: [string, string][] = [
      ["0.0.0.0", "00000000"],
      ["255.255.255.255", "ffffffff"],
      ["10.1.2.3", "0a010203"],
      ["::", "00".repeat(16)],
      ["::1", `${"00".repeat(15)}01`],
      ["fd00::ff:1", `fd00${"00".repeat(10)}00ff0001`],
      ["::ffff:1.2.3.4", `${"00".repeat(10)}ffff01020304`],
      ["ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff", "ff".repeat(16)],
    ];
    for (const [text, hex] of cases) {
      const ip = parseIpExact(text);
      assert.ok(ip, text);
      const bytes = ipToBytes(ip);
      assert.equal(bytes.toString("hex"), hex, text);
      assert.deepEqual(bytesToIp(bytes), ip, text);
    }
    assert.equal(bytesToIp(new Uint8Array(5)), undefined);
    // A view into a larger buffer (as netlink attributes are).
    const big = Buffer.from("aa0a010203bb", "hex");
    assert.equal(formatIp(bytesToIp(big.subarray(1, 5))!), "10.1.2.3");
  });

  it("parseIpExact keeps ::ffff:a.b.c.d IPv6, parseIp makes it IPv4", () => {
    assert.equal(parseIpExact("::ffff:1.2.3.4")?.family, 6);
    assert.equal(parseIp("::ffff:1.2.3.4")?.family, 4);
  });

  it("accepts the same texts as the text validators (leading zeros, zones, dotted tails refused)", () => {
    const samples = [
      "1.2.3.4", "01.2.3.4", "1.2.3.04", "256.1.1.1", "1.2.3", "1.2.3.4.5", "", "::", "::1", "1::", "1:2:3:4:5:6:7:8",
      "1:2:3:4:5:6:7:8:9", "1:2:3:4:5:6:7::", "1:2:3:4:5:6:7:8::", "::1.2.3.4", "::ffff:1.2.3.4", "1.2.3.4::",
      "::1.2.3.4:5", "fe80::1%eth0", "1::2::3", ":1::", "12345::", "g::", "1:2:3:4:5:6:1.2.3.4", "1:2:3:4:5:6:7:1.2.3.4",
      "::01.2.3.4", "FD00::A",
    ];
    for (const s of samples) assert.equal(parseIpExact(s) !== undefined, isIp(s), s);
  });

  it("readCidr: edges /0 /32 /128, host bits, problems", () => {
    const v4 = readCidr("10.1.2.3/0");
    assert.ok(typeof v4 !== "string");
    assert.equal(formatIp(v4.network), "0.0.0.0");
    assert.equal(v4.last, 0xffffffffn);
    assert.equal(formatIp(v4.ip), "10.1.2.3");
    const h = readCidr("10.1.2.3/32");
    assert.ok(typeof h !== "string");
    assert.equal(h.network.value, h.last);
    const v6 = readCidr("fd00::5/128");
    assert.ok(typeof v6 !== "string");
    assert.equal(formatIp(v6.network), "fd00::5");
    const z6 = readCidr("fd00::5/0");
    assert.ok(typeof z6 !== "string");
    assert.equal(z6.last, (1n << 128n) - 1n);
    assert.equal(readCidr("10.1.2.3"), "no-prefix");
    assert.equal(readCidr("010.1.2.3/8"), "bad-ip");
    assert.equal(readCidr("10.1.2.3/"), "bad-prefix");
    assert.equal(readCidr("10.1.2.3/1a"), "bad-prefix");
    assert.equal(readCidr("10.1.2.3/0032"), "bad-prefix");
    assert.equal(readCidr("10.1.2.3/33"), "prefix-too-long");
    assert.equal(readCidr("fd00::/129"), "prefix-too-long");
  });

  it("readCidr: a mapped address is IPv4 (/32 max) unless exact (IPv6, /128 max)", () => {
    const m = readCidr("::ffff:1.2.3.4/24");
    assert.ok(typeof m !== "string");
    assert.equal(m.mapped, true);
    assert.equal(m.ip.family, 4);
    assert.equal(readCidr("::ffff:1.2.3.4/120"), "prefix-too-long");
    const e = readCidr("::ffff:1.2.3.4/120", true);
    assert.ok(typeof e !== "string");
    assert.equal(e.ip.family, 6);
    assert.equal(e.mapped, true);
    const plain = readCidr("10.0.0.1/8");
    assert.ok(typeof plain !== "string");
    assert.equal(plain.mapped, false);
  });

  it("netlink parsing keeps its messages and bytes", () => {
    assert.deepEqual(netlinkCidr("op", "10.1.2.3/24"), { family: 4, bytes: Buffer.from([10, 1, 2, 3]), prefixLen: 24 });
    assert.equal(netlinkIp("op", "::ffff:1.2.3.4").bytes.toString("hex"), `${"00".repeat(10)}ffff01020304`);
    assert.throws(() => netlinkCidr("op", "10.1.2.3"), /"10\.1\.2\.3" has no prefix length/);
    assert.throws(() => netlinkCidr("op", "10.1.2.300/24"), /invalid IP address "10\.1\.2\.300"/);
    assert.throws(() => netlinkCidr("op", "10.1.2.3/33"), /invalid prefix length in "10\.1\.2\.3\/33"/);
    assert.throws(() => netlinkCidr("op", "fd00::/x"), /invalid prefix length in "fd00::\/x"/);
    assert.throws(() => netlinkIp("op", "01.2.3.4"), /invalid IP address "01\.2\.3\.4"/);
  });
});
