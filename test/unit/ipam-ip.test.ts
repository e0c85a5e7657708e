import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { formatIp, parseIp } from "../../src/ip/ip";

const roundTrip = (text: string): string | undefined => {
  const ip = parseIp(text);
  return ip === undefined ? undefined : formatIp(ip);
};

describe("ipam ip text", () => {
  it("formats IPv6 like Go's net.IP.String (RFC 5952)", () => {
    const cases: [string, string][] = [
      ["2001:0db8:0000:0000:0000:0000:0000:0005", "2001:db8::5"],
      ["2001:DB8::5", "2001:db8::5"],
      ["2001:db8:0:1:0:0:0:1", "2001:db8:0:1::1"], // longest run wins
      ["2001:db8:0:0:1:0:0:1", "2001:db8::1:0:0:1"], // first of equal runs
      ["2001:db8:0:1:1:1:1:1", "2001:db8:0:1:1:1:1:1"], // a single zero group stays
      ["::", "::"],
      ["::1", "::1"],
      ["fd00::", "fd00::"],
      ["fd00:0:0:0:0:0:0:ffff", "fd00::ffff"],
      ["::2:3:4:5:6:7:8", "0:2:3:4:5:6:7:8"],
      ["64:ff9b::1.2.3.4", "64:ff9b::102:304"],
    ];
    for (const [input, want] of cases) assert.equal(roundTrip(input), want, input);
  });

  it("turns IPv4-mapped IPv6 into IPv4 like Go's To4", () => {
    assert.deepEqual(parseIp("::ffff:10.0.0.5"), { family: 4, value: 0x0a000005n });
    assert.equal(roundTrip("::ffff:a00:5"), "10.0.0.5");
  });

  it("refuses malformed text, zones and leading zeros", () => {
    for (const bad of ["", "1.2.3", "1.2.3.4.5", "256.1.1.1", "01.2.3.4", "1::2::3", "fe80::1%eth0", "1:2:3:4:5:6:7:8:9", "::g", "1.2.3.4/24", " 1.2.3.4"]) {
      assert.equal(parseIp(bad), undefined, bad);
    }
  });
});
