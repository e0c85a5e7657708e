/** Versions: the supported list, the default, negotiation errors, per-command minimums, ordering. */
import assert from "node:assert/strict";
import { describe, test } from "node:test";
import fc from "fast-check";
import { CniError } from "../../src/cni/errors";
import {
  DEFAULT_VERSION,
  LATEST_VERSION,
  SUPPORTED_VERSIONS,
  assertCommandAllowed,
  compareVersions,
  isSupportedVersion,
  requestVersion,
  versionAtLeast,
  versionInfo,
} from "../../src/cni/version";

const EXPECTED = ["0.1.0", "0.2.0", "0.3.0", "0.3.1", "0.4.0", "1.0.0", "1.1.0"];

function cniError(fn: () => unknown): CniError {
  try {
    fn();
  } catch (e) {
    assert.ok(e instanceof CniError, `expected a CniError, got ${String(e)}`);
    return e;
  }
  assert.fail("expected a CniError, nothing was thrown");
}

describe("supported versions", () => {
  test("exact strings, in order", () => {
    assert.deepEqual([...SUPPORTED_VERSIONS], EXPECTED);
    assert.equal(LATEST_VERSION, "1.1.0");
  });

  test("versionInfo echoes the given version with the full list", () => {
    assert.equal(
      JSON.stringify(versionInfo("0.4.0")),
      '{"cniVersion":"0.4.0","supportedVersions":["0.1.0","0.2.0","0.3.0","0.3.1","0.4.0","1.0.0","1.1.0"]}',
    );
  });

  test("versionInfo hands out a copy (callers cannot change the list)", () => {
    const info = versionInfo("1.1.0");
    info.supportedVersions.push("9.9.9");
    assert.deepEqual(versionInfo("1.1.0").supportedVersions, EXPECTED);
  });

  test("isSupportedVersion matches by exact string only", () => {
    for (const v of EXPECTED) assert.ok(isSupportedVersion(v));
    for (const v of ["1.1", "1.0", "1", "v1.0.0", "1.0.0 ", " 1.0.0", "01.0.0", "1.0.0-rc1", "0.3", "2.0.0", ""]) {
      assert.ok(!isSupportedVersion(v), v);
    }
  });
});

describe("requestVersion", () => {
  for (const v of EXPECTED) {
    test(`cniVersion ${v} is accepted as is`, () => {
      assert.equal(requestVersion({ cniVersion: v, name: "n" }), v);
    });
  }

  test("a missing cniVersion means 0.1.0", () => {
    assert.equal(DEFAULT_VERSION, "0.1.0");
    assert.equal(requestVersion({ name: "n" }), "0.1.0");
  });
  test("an empty cniVersion means 0.1.0", () => {
    assert.equal(requestVersion({ cniVersion: "" }), "0.1.0");
  });
  test("a null cniVersion means 0.1.0", () => {
    assert.equal(requestVersion({ cniVersion: null }), "0.1.0");
  });

  for (const v of ["9.9.9", "1.2.0", "0.5.0", "1.1", "1.0", "v1.0.0", "1.0.0 ", "latest", "1.0.0-rc1"]) {
    test(`unsupported ${JSON.stringify(v)} is code 1 with the versions in details`, () => {
      const e = cniError(() => requestVersion({ cniVersion: v }));
      assert.equal(e.code, 1);
      assert.equal(e.message, "incompatible CNI versions");
      assert.ok(e.details !== undefined);
      assert.ok(e.details.includes(`"${v}"`), e.details);
      for (const s of EXPECTED) assert.ok(e.details.includes(s), `${e.details} should list ${s}`);
    });
  }

  for (const v of [1, 1.1, true, false, ["1.0.0"], { v: "1.0.0" }, 0]) {
    test(`non-string cniVersion ${JSON.stringify(v)} is code 6 naming cniVersion`, () => {
      const e = cniError(() => requestVersion({ cniVersion: v }));
      assert.equal(e.code, 6);
      assert.match(e.message, /^cniVersion/);
    });
  }
});

describe("commands need a minimum version", () => {
  const cases: [string, string[], string[]][] = [
    ["CHECK", ["0.4.0", "1.0.0", "1.1.0"], ["0.1.0", "0.2.0", "0.3.0", "0.3.1"]],
    ["GC", ["1.1.0"], ["0.1.0", "0.2.0", "0.3.0", "0.3.1", "0.4.0", "1.0.0"]],
    ["STATUS", ["1.1.0"], ["0.1.0", "0.2.0", "0.3.0", "0.3.1", "0.4.0", "1.0.0"]],
    ["ADD", EXPECTED, []],
    ["DEL", EXPECTED, []],
    ["VERSION", EXPECTED, []],
  ];
  for (const [command, ok, refused] of cases) {
    for (const v of ok) {
      test(`${command} at ${v} is allowed`, () => {
        assert.doesNotThrow(() => assertCommandAllowed(command, v));
      });
    }
    for (const v of refused) {
      test(`${command} at ${v} is code 1 naming the command`, () => {
        const e = cniError(() => assertCommandAllowed(command, v));
        assert.equal(e.code, 1);
        assert.ok(e.message.includes(command), e.message);
        assert.ok((e.details ?? "").includes(v), e.details);
      });
    }
  }
});

describe("compareVersions", () => {
  test("orders the supported list", () => {
    for (let i = 0; i < EXPECTED.length; i++) {
      for (let j = 0; j < EXPECTED.length; j++) {
        const c = compareVersions(EXPECTED[i]!, EXPECTED[j]!);
        assert.equal(Math.sign(c), Math.sign(i - j), `${EXPECTED[i]} vs ${EXPECTED[j]}`);
      }
    }
  });
  test("compares numerically, not as text", () => {
    assert.ok(compareVersions("0.10.0", "0.9.0") > 0);
    assert.ok(compareVersions("10.0.0", "9.0.0") > 0);
    assert.ok(compareVersions("1.0.10", "1.0.9") > 0);
  });
  test("missing parts count as 0", () => {
    assert.equal(compareVersions("1.1", "1.1.0"), 0);
    assert.equal(compareVersions("1", "1.0.0"), 0);
    assert.ok(compareVersions("1.1", "1.0.5") > 0);
  });
  test("versionAtLeast", () => {
    assert.ok(versionAtLeast("0.4.0", "0.4.0"));
    assert.ok(versionAtLeast("1.0.0", "0.4.0"));
    assert.ok(!versionAtLeast("0.3.1", "0.4.0"));
    assert.ok(!versionAtLeast("1.0.0", "1.1.0"));
  });
  test("property: antisymmetric, reflexive, and matches tuple order", () => {
    const part = fc.integer({ min: 0, max: 30 });
    const ver = fc.tuple(part, part, part);
    fc.assert(
      fc.property(ver, ver, (a, b) => {
        const sa = a.join(".");
        const sb = b.join(".");
        assert.equal(compareVersions(sa, sa), 0);
        assert.ok(Math.sign(compareVersions(sa, sb)) === -Math.sign(compareVersions(sb, sa)));
        const tuple = a[0] - b[0] || a[1] - b[1] || a[2] - b[2];
        assert.equal(Math.sign(compareVersions(sa, sb)), Math.sign(tuple));
      }),
    );
  });
});
