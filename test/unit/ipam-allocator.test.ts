import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { ErrorCode } from "../../src/cni/errors";
import { loadIpamConfig } from "../../src/config/ipam";
import { exhaustedError, freeCandidates, matchRequested, roundRobin } from "../../src/ipam/allocator";
import { type Ip, formatIp, parseIp } from "../../src/ip/ip";
import type { RangeSet } from "../../src/ipam/rangeSet";
import { refusedWith } from "../helpers/refusal";

function sets(ranges: unknown[][]): RangeSet[] {
  return loadIpamConfig({ name: "n", ipam: { type: "tether-ipam", ranges } }).rangeSets;
}
const one = (ranges: unknown[]): RangeSet => sets([ranges])[0]!;
const ip = (t: string): Ip => parseIp(t)!;
const order = (set: RangeSet, last?: string): string[] => [...roundRobin(set, last === undefined ? undefined : ip(last))].map((c) => formatIp(c.ip));

describe("ipam allocator: round-robin order", () => {
  const small = one([{ subnet: "10.0.0.0/29" }]); // .1 gateway, .1-.6

  it("starts at rangeStart, skips the gateway and stops after one cycle", () => {
    assert.deepEqual(order(small), ["10.0.0.2", "10.0.0.3", "10.0.0.4", "10.0.0.5", "10.0.0.6"]);
  });

  it("continues after the last reserved address and wraps to the start", () => {
    assert.deepEqual(order(small, "10.0.0.4"), ["10.0.0.5", "10.0.0.6", "10.0.0.2", "10.0.0.3", "10.0.0.4"]);
    assert.deepEqual(order(small, "10.0.0.6"), ["10.0.0.2", "10.0.0.3", "10.0.0.4", "10.0.0.5", "10.0.0.6"]);
  });

  it("ignores a last reserved address outside the set", () => {
    assert.deepEqual(order(small, "10.0.0.7"), order(small));
    assert.deepEqual(order(small, "fd00::1"), order(small));
  });

  it("hands out network+1 when the gateway is elsewhere (host-local's rangeStart default)", () => {
    assert.deepEqual(order(one([{ subnet: "10.0.0.0/29", gateway: "10.0.0.6" }])), ["10.0.0.1", "10.0.0.2", "10.0.0.3", "10.0.0.4", "10.0.0.5"]);
  });

  it("walks range by range and wraps across ranges", () => {
    const set = one([
      { subnet: "10.0.0.0/24", rangeStart: "10.0.0.10", rangeEnd: "10.0.0.11" },
      { subnet: "10.0.1.0/24", rangeStart: "10.0.1.1", rangeEnd: "10.0.1.3" },
    ]);
    assert.deepEqual(order(set), ["10.0.0.10", "10.0.0.11", "10.0.1.2", "10.0.1.3"]);
    assert.deepEqual(order(set, "10.0.0.11"), ["10.0.1.2", "10.0.1.3", "10.0.0.10", "10.0.0.11"]);
    assert.deepEqual(order(set, "10.0.1.2"), ["10.0.1.3", "10.0.0.10", "10.0.0.11", "10.0.1.2"]);
  });

  it("ends when the only address is the gateway", () => {
    assert.deepEqual(order(one([{ subnet: "10.0.0.0/24", rangeStart: "10.0.0.1", rangeEnd: "10.0.0.1" }])), []);
  });

  it("works for IPv6", () => {
    const set = one([{ subnet: "fd00::/126" }]);
    assert.deepEqual(order(set), ["fd00::2", "fd00::3"]);
    assert.deepEqual(order(set, "fd00::2"), ["fd00::3", "fd00::2"]);
  });

  it("skips what isTaken rules out", () => {
    const taken = new Set(["10.0.0.2", "10.0.0.5"]);
    const free = [...freeCandidates(small, undefined, (a) => taken.has(formatIp(a)))].map((c) => formatIp(c.ip));
    assert.deepEqual(free, ["10.0.0.3", "10.0.0.4", "10.0.0.6"]);
  });

  it("yields each candidate with its range (for the prefix and gateway)", () => {
    const set = one([{ subnet: "10.0.0.0/29", rangeEnd: "10.0.0.2" }, { subnet: "10.0.8.0/30", gateway: "10.0.8.2" }]);
    const got = [...roundRobin(set, undefined)].map((c) => `${formatIp(c.ip)}/${c.range.prefix} gw ${formatIp(c.range.gateway)}`);
    assert.deepEqual(got, ["10.0.0.2/29 gw 10.0.0.1", "10.0.8.1/30 gw 10.0.8.2"]);
  });

  it("is fast enough for a /16", () => {
    const big = one([{ subnet: "10.0.0.0/16" }]);
    const t = process.hrtime.bigint();
    let n = 0;
    for (const _ of roundRobin(big, undefined)) n++;
    assert.equal(n, 65533);
    assert.ok(Number(process.hrtime.bigint() - t) / 1e6 < 500);
  });
});

const isCni = refusedWith;

describe("ipam allocator: requested addresses", () => {
  const all = sets([[{ subnet: "10.0.0.0/24", rangeStart: "10.0.0.10" }], [{ subnet: "fd00::/64" }]]);

  it("matches each address to the set containing it", () => {
    assert.deepEqual(matchRequested(all, [ip("fd00::5"), ip("10.0.0.20")]).map((s) => s && formatIp(s)), ["10.0.0.20", "fd00::5"]);
    assert.deepEqual(matchRequested(all, []), [undefined, undefined]);
    assert.deepEqual(matchRequested(all, [ip("10.0.0.20"), ip("10.0.0.20")]).map((s) => s && formatIp(s)), ["10.0.0.20", undefined]);
  });

  it("refuses an address outside every set (range bounds, not just the subnet)", () => {
    assert.throws(() => matchRequested(all, [ip("10.0.0.5")]), isCni(ErrorCode.AddressUnavailable, "requested IP address 10.0.0.5 is outside every range set"));
    assert.throws(() => matchRequested(all, [ip("192.168.0.1")]), isCni(ErrorCode.AddressUnavailable, /192\.168\.0\.1 is outside/));
  });

  it("refuses the gateway", () => {
    const withGw = sets([[{ subnet: "10.0.0.0/24" }]]);
    assert.throws(() => matchRequested(withGw, [ip("10.0.0.1")]), isCni(ErrorCode.AddressUnavailable, "requested IP address 10.0.0.1 is the gateway of range set 0"));
  });

  it("refuses two addresses for one set", () => {
    assert.throws(() => matchRequested(all, [ip("10.0.0.20"), ip("10.0.0.21")]), isCni(ErrorCode.AddressUnavailable, /10\.0\.0\.21 is a second address for range set 0/));
  });

  it("names the set and the count in the exhaustion error", () => {
    const e = exhaustedError(all[0]!, 0, 245);
    assert.equal(e.kind, "exhausted");
    refusedWith(ErrorCode.IpamExhausted)(e);
    assert.equal(e.message, "no IP addresses available in range set 0 (10.0.0.10-10.0.0.254): 245 of 245 addresses in use");
  });
});
