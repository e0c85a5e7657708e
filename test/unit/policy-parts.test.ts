/** Label selectors and ipBlock ranges of the policy compiler. */
import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { compileSelector, matchesSelector, selectorKey } from "../../src/policy/selector";
import { blockIntervals, intervalElement, mergeIntervals } from "../../src/policy/ranges";

describe("label selectors", () => {
  const l = { app: "web", tier: "front" };
  it("matchLabels and every operator, ANDed; {} matches all", () => {
    assert.equal(matchesSelector({}, {}), true);
    assert.equal(matchesSelector({ matchLabels: { app: "web" } }, l), true);
    assert.equal(matchesSelector({ matchLabels: { app: "db" } }, l), false);
    assert.equal(matchesSelector({ matchExpressions: [{ key: "app", operator: "In", values: ["db", "web"] }] }, l), true);
    assert.equal(matchesSelector({ matchExpressions: [{ key: "app", operator: "In", values: ["db"] }] }, l), false);
    assert.equal(matchesSelector({ matchExpressions: [{ key: "app", operator: "NotIn", values: ["db"] }] }, l), true);
    assert.equal(matchesSelector({ matchExpressions: [{ key: "zone", operator: "NotIn", values: ["a"] }] }, l), true, "NotIn holds when the key is absent");
    assert.equal(matchesSelector({ matchExpressions: [{ key: "tier", operator: "Exists" }] }, l), true);
    assert.equal(matchesSelector({ matchExpressions: [{ key: "zone", operator: "Exists" }] }, l), false);
    assert.equal(matchesSelector({ matchExpressions: [{ key: "zone", operator: "DoesNotExist" }] }, l), true);
    assert.equal(matchesSelector({ matchExpressions: [{ key: "app", operator: "DoesNotExist" }] }, l), false);
    assert.equal(matchesSelector({ matchLabels: { app: "web" }, matchExpressions: [{ key: "tier", operator: "In", values: ["back"] }] }, l), false);
  });
  it("an invalid selector matches nothing and says why; keys ignore order", () => {
    const bad = compileSelector({ matchExpressions: [{ key: "app", operator: "In", values: [] }] });
    assert.equal(bad.matches(l), false);
    assert.match(bad.invalid ?? "", /In on key app needs values/);
    assert.equal(selectorKey({ matchLabels: { b: "2", a: "1" } }), selectorKey({ matchLabels: { a: "1", b: "2" } }));
    assert.notEqual(selectorKey({ matchLabels: { a: "1" } }), selectorKey({ matchLabels: { a: "2" } }));
  });
});

describe("ipBlock ranges", () => {
  const text = (cidr: string, except: string[] = []): string[] => {
    const { family, intervals } = blockIntervals(cidr, except);
    return intervals.map((iv) => intervalElement(family, iv));
  };
  it("cidr minus excepts, v4 and v6, prefixes where they are prefixes", () => {
    assert.deepEqual(text("10.0.0.0/8"), ["10.0.0.0/8"]);
    assert.deepEqual(text("10.1.0.0/16", ["10.1.2.0/24"]), ["10.1.0.0/23", "10.1.3.0-10.1.255.255"]);
    assert.deepEqual(text("10.1.0.0/24", ["10.1.0.0/25", "10.1.0.128/25"]), []);
    assert.deepEqual(text("10.1.0.0/24", ["10.2.0.0/16", "fd00::/8"]), ["10.1.0.0/24"], "excepts outside or of another family change nothing");
    assert.deepEqual(text("fd00::/64", ["fd00::/65"]), ["fd00::8000:0:0:0/65"]);
    assert.deepEqual(text("10.0.0.7/32"), ["10.0.0.7"]);
    assert.deepEqual(text("0.0.0.0/0", ["10.0.0.0/8"]), ["0.0.0.0-9.255.255.255", "11.0.0.0-255.255.255.255"]);
    assert.deepEqual(text("10.1.2.3/16"), ["10.1.0.0/16"], "host bits cleared");
  });
  it("bad CIDRs are refused with the text at fault", () => {
    assert.throws(() => blockIntervals("10.0.0.0"), /"10.0.0.0" is not a CIDR/);
    assert.throws(() => blockIntervals("10.0.0.0/33"), /prefix length above 32/);
  });
  it("merge joins overlapping and adjacent intervals", () => {
    assert.deepEqual(mergeIntervals([{ lo: 5n, hi: 9n }, { lo: 1n, hi: 4n }, { lo: 20n, hi: 30n }, { lo: 25n, hi: 26n }]), [
      { lo: 1n, hi: 9n },
      { lo: 20n, hi: 30n },
    ]);
  });
});
