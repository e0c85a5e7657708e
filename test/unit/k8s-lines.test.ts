/** src/k8s/lines.ts: the watch stream's line splitting (any chunking) and the backoff delays. */
import assert from "node:assert/strict";
import { describe, test } from "node:test";
import fc from "fast-check";
import { backoffDelay, LineSplitter } from "../../src/k8s/lines";

describe("LineSplitter", () => {
  test("events split anywhere across chunks come out whole, in order", () => {
    const event = fc.record({ type: fc.constantFrom("ADDED", "MODIFIED", "DELETED", "BOOKMARK"), object: fc.record({ metadata: fc.record({ name: fc.string({ unit: "grapheme" }) }) }) });
    fc.assert(
      fc.property(fc.array(event, { maxLength: 20 }), fc.array(fc.nat(), { maxLength: 30 }), (events, cuts) => {
        const text = events.map((e) => `${JSON.stringify(e)}\n`).join("");
        const at = [...new Set(cuts.map((c) => c % (text.length + 1)))].sort((a, b) => a - b);
        const chunks: string[] = [];
        let prev = 0;
        for (const c of at) {
          chunks.push(text.slice(prev, c));
          prev = c;
        }
        chunks.push(text.slice(prev));
        const s = new LineSplitter();
        const got = chunks.flatMap((c) => s.push(c)).map((l) => JSON.parse(l) as unknown);
        assert.deepEqual(got, events.map((e) => JSON.parse(JSON.stringify(e)) as unknown));
        assert.equal(s.end(), undefined);
      }),
      { numRuns: 300 },
    );
  });

  test("blank lines are skipped; a last line without newline is returned by end()", () => {
    const s = new LineSplitter();
    assert.deepEqual(s.push('\n{"a":1}\r\n\n{"b"'), ['{"a":1}']);
    assert.deepEqual(s.push(":2}"), []);
    assert.equal(s.end(), '{"b":2}');
    assert.equal(s.end(), undefined);
  });
});

describe("backoffDelay", () => {
  test("doubles from the initial delay up to the cap, jittered to [d/2, d]", () => {
    const lo = [0, 1, 2, 3, 4, 5, 6, 7, 8, 9].map((n) => backoffDelay(n, 250, 30_000, 0));
    const hi = [0, 1, 2, 3, 4, 5, 6, 7, 8, 9].map((n) => backoffDelay(n, 250, 30_000, 0.999999));
    assert.deepEqual(lo, [125, 250, 500, 1000, 2000, 4000, 8000, 15000, 15000, 15000]);
    assert.deepEqual(hi.map(Math.round), [250, 500, 1000, 2000, 4000, 8000, 16000, 30000, 30000, 30000]);
    assert.equal(backoffDelay(1e9, 250, 30_000, 0.5), 22_500, "no overflow for huge failure counts");
    fc.assert(
      fc.property(fc.nat(100), fc.double({ min: 0, max: 1, maxExcluded: true, noNaN: true }), (n, r) => {
        const d = backoffDelay(n, 10, 1000, r);
        return d >= 5 && d <= 1000 && d >= backoffDelay(n, 10, 1000, 0);
      }),
    );
  });
});
