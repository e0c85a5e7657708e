/**
 * The pure replacements for node:crypto and node:net on the plugin path (src/util): SHA-256 and the
 * IP text validators must agree with Node's own implementations, which the tests may load.
 */
import assert from "node:assert/strict";
import { createHash } from "node:crypto";
import { isIPv4 as netIsIPv4, isIPv6 as netIsIPv6 } from "node:net";
import { describe, test } from "node:test";
import fc from "fast-check";
import { ipFamilyOf, isCidr, isIPv4, isIPv6 } from "../../src/ip/text";
import { randomHex } from "../../src/util/random";
import { sha256Hex } from "../../src/util/sha256";

const nodeSha256 = (s: string): string => createHash("sha256").update(s, "utf8").digest("hex");

describe("sha256Hex", () => {
  test("FIPS 180-4 test vectors", () => {
    assert.equal(sha256Hex(""), "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
    assert.equal(sha256Hex("abc"), "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
    assert.equal(
      sha256Hex("abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq"),
      "248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1",
    );
  });

  test("agrees with node:crypto at every padding boundary (0-200 bytes)", () => {
    for (let n = 0; n <= 200; n++) {
      const s = "x".repeat(n);
      assert.equal(sha256Hex(s), nodeSha256(s), `length ${n}`);
    }
  });

  test("agrees with node:crypto on arbitrary (also non-ASCII) text", () => {
    fc.assert(fc.property(fc.string({ unit: "grapheme", maxLength: 300 }), (s) => sha256Hex(s) === nodeSha256(s)), { numRuns: 500 });
  });

  test("a megabyte in one call", () => {
    const s = "tether\0".repeat(150_000);
    assert.equal(sha256Hex(s), nodeSha256(s));
  });
});

describe("ipText", () => {
  test("agrees with node:net on generated addresses", () => {
    fc.assert(
      fc.property(fc.oneof(fc.ipV4(), fc.ipV6(), fc.ipV4Extended()), (ip) => {
        assert.equal(isIPv4(ip), netIsIPv4(ip), ip);
        assert.equal(isIPv6(ip), netIsIPv6(ip), ip);
      }),
      { numRuns: 2000 },
    );
  });

  test("agrees with node:net on near misses", () => {
    const cases = [
      "", "1", "1.2.3", "1.2.3.4.5", "01.2.3.4", "1.2.3.04", "256.1.1.1", "1.2.3.255", "0.0.0.0", " 1.2.3.4", "1.2.3.4 ",
      "1..2.3", "1.2.3.-1", "::", "::1", "1::", ":::", "1:::2", "1::2::3", "1:2:3:4:5:6:7:8", "1:2:3:4:5:6:7:8:9",
      "1:2:3:4:5:6:7", "1:2:3:4:5:6:7::", "::1:2:3:4:5:6:7", "12345::", "g::1", "::ffff:1.2.3.4", "::ffff:1.2.3.256",
      "1:2:3:4:5:6:1.2.3.4", "1:2:3:4:5:6:7:1.2.3.4", "::1.2.3.4", "1.2.3.4::", "fe80::1", "FE80::A", "[::1]", "::1/128",
    ];
    for (const c of cases) {
      assert.equal(isIPv4(c), netIsIPv4(c), `isIPv4(${JSON.stringify(c)})`);
      assert.equal(isIPv6(c), netIsIPv6(c), `isIPv6(${JSON.stringify(c)})`);
    }
  });

  test("refuses zones, which node:net accepts: a CNI address never carries one", () => {
    assert.equal(netIsIPv6("fe80::1%eth0"), true);
    assert.equal(isIPv6("fe80::1%eth0"), false);
    assert.equal(ipFamilyOf("fe80::1%eth0"), 0);
  });

  test("ipFamilyOf and isCidr", () => {
    assert.equal(ipFamilyOf("10.1.2.3"), 4);
    assert.equal(ipFamilyOf("fd00::1"), 6);
    assert.equal(ipFamilyOf("10.1.2.3/24"), 0);
    for (const c of ["10.0.0.0/8", "0.0.0.0/0", "10.0.0.1/32", "::/0", "fd00::/64", "fd00::1/128", "::ffff:1.2.3.4/128", "fd00::/0064", "10.0.0.0/00000008"]) {
      assert.ok(isCidr(c), c); // leading zeros in the length: Go's net.ParseCIDR takes them
    }
    for (const c of ["10.0.0.0", "10.0.0.0/33", "fd00::/129", "10.0.0.0/", "10.0.0.0/-1", "10.0.0.0/8/8", "10.0.0.0/0x8", "/8", "10.0.0.0/+8", "10.0.0.0/ 8", "10.0.0.0/8 ", "10.0.0.0/99999999999999999999"]) {
      assert.ok(!isCidr(c), c);
    }
  });
});

describe("randomHex", () => {
  test("gives 2n lowercase hex digits, different each time", () => {
    const seen = new Set<string>();
    for (let i = 0; i < 200; i++) {
      const h = randomHex(8);
      assert.match(h, /^[0-9a-f]{16}$/);
      seen.add(h);
    }
    assert.equal(seen.size, 200);
    assert.match(randomHex(4), /^[0-9a-f]{8}$/);
  });
});
