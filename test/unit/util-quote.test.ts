/** Foreign text in messages and listings (src/util/quote.ts): quoted, escaped, cut, and saying so. */
import assert from "node:assert/strict";
import { test } from "node:test";
import fc from "fast-check";
import { lockName } from "../../src/plugins/attachmentLock";
import { listingText, printable, quoteForeign } from "../../src/util/quote";

const CONTROL = /[\u0000-\u001f\u007f-\u009f]/;

test("quoteForeign escapes controls and quotes, cuts long text and says how much is left out", () => {
  assert.equal(quoteForeign("a\u0000b\u001b[31m\"\\"), '"a\\u0000b\\u001b[31m\\"\\\\"');
  assert.equal(quoteForeign("x".repeat(100), 10), `"${"x".repeat(10)}"… (90 more characters)`);
  assert.equal(quoteForeign(Buffer.from([0x65, 0xff, 0x30])), '"e\\ufffd0"');
  fc.assert(
    fc.property(fc.string({ unit: "binary", maxLength: 400 }), (s) => {
      const q = quoteForeign(s);
      return !CONTROL.test(q) && q.length <= 80 * 6 + 40;
    }),
  );
});

test("listingText leaves plain names alone and quotes the rest; printable escapes controls only", () => {
  assert.equal(listingText("cid-1"), "cid-1");
  assert.equal(listingText("a b"), '"a b"');
  assert.equal(listingText(""), '""');
  assert.equal(printable('a"\u0007b'), 'a"\\u0007b');
  assert.match(printable("y".repeat(2000)), /… \(1000 more characters\)$/);
});

test("attachment lock names: 16 hex digits, stable, different for different attachments", () => {
  assert.match(lockName("net\0c1\0eth0"), /^[0-9a-f]{16}$/);
  assert.equal(lockName("net\0c1\0eth0"), lockName("net\0c1\0eth0"));
  const names = new Set(Array.from({ length: 2000 }, (_, i) => lockName(`net\0c${i}\0eth0`)));
  assert.equal(names.size, 2000);
});
