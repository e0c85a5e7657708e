/** toErrorObject: CniError passes through, anything else is 999 with its causes, never a stack. */
import assert from "node:assert/strict";
import { describe, test } from "node:test";
import fc from "fast-check";
import { CniError, ErrorCode, describeCauses, descriptorExhaustion, toErrorObject, type CniErrorObject } from "../../src/cni/errors";

/** No stack frame of any kind, in any field. */
function assertNoStack(obj: CniErrorObject): void {
  for (const [k, v] of Object.entries(obj)) {
    if (typeof v !== "string") continue;
    assert.doesNotMatch(v, /^\s*at /m, `${k} has a stack line: ${v}`);
    assert.doesNotMatch(v, /\(\/.*:\d+:\d+\)/, `${k} has a stack frame: ${v}`);
    assert.ok(!v.includes(__filename), `${k} names this file (a stack leaked): ${v}`);
    assert.ok(!v.includes("node:internal"), `${k} has an internal frame: ${v}`);
  }
}

function onlyKnownKeys(obj: CniErrorObject): void {
  for (const k of Object.keys(obj)) assert.ok(["cniVersion", "code", "msg", "details"].includes(k), `unexpected key ${k}`);
  assert.equal(typeof obj.cniVersion, "string");
  assert.ok(Number.isInteger(obj.code) && obj.code >= 0);
  assert.equal(typeof obj.msg, "string");
  assert.notEqual(obj.msg, "");
  if ("details" in obj) assert.equal(typeof obj.details, "string");
}

describe("error codes", () => {
  test("the spec's well-known codes and the Go library's 8 and 999", () => {
    assert.equal(ErrorCode.IncompatibleVersion, 1);
    assert.equal(ErrorCode.UnsupportedField, 2);
    assert.equal(ErrorCode.UnknownContainer, 3);
    assert.equal(ErrorCode.InvalidEnvironment, 4);
    assert.equal(ErrorCode.IoFailure, 5);
    assert.equal(ErrorCode.DecodingFailure, 6);
    assert.equal(ErrorCode.InvalidConfig, 7);
    assert.equal(ErrorCode.InvalidNetns, 8);
    assert.equal(ErrorCode.TryAgainLater, 11);
    assert.equal(ErrorCode.NotAvailable, 50);
    assert.equal(ErrorCode.LimitedConnectivity, 51);
    assert.equal(ErrorCode.Internal, 999);
  });
  test("tether's own codes are 100 and up (0-99 are reserved)", () => {
    const wellKnown = new Set([1, 2, 3, 4, 5, 6, 7, 8, 11, 50, 51, 999]);
    for (const [name, code] of Object.entries(ErrorCode)) {
      if (!wellKnown.has(code)) assert.ok(code >= 100, `${name}=${code}`);
    }
  });
});

describe("toErrorObject: CniError", () => {
  test("passes through code, msg and details, with the given cniVersion", () => {
    const obj = toErrorObject(new CniError(7, "name: missing", "the network name is required"), "0.4.0");
    assert.deepEqual(obj, { cniVersion: "0.4.0", code: 7, msg: "name: missing", details: "the network name is required" });
  });
  test("no details -> no details key", () => {
    const obj = toErrorObject(new CniError(4, "required env variables [CNI_NETNS] missing"), "1.1.0");
    assert.deepEqual(obj, { cniVersion: "1.1.0", code: 4, msg: "required env variables [CNI_NETNS] missing" });
    assert.ok(!("details" in obj));
  });
  test("empty details -> no details key", () => {
    assert.ok(!("details" in toErrorObject(new CniError(4, "x", ""), "1.0.0")));
  });
  test("without details, the cause chain becomes the details", () => {
    const cause = new Error("EEXIST: file exists", { cause: new TypeError("inner") });
    const obj = toErrorObject(new CniError(100, "interface eth0 exists", undefined, { cause }), "1.0.0");
    assert.equal(obj.code, 100);
    assert.equal(obj.msg, "interface eth0 exists");
    assert.equal(obj.details, "Error: EEXIST: file exists; caused by TypeError: inner");
    assertNoStack(obj);
  });
  test("explicit details win over the cause", () => {
    const obj = toErrorObject(new CniError(105, "delegate failed", "host-local said no", { cause: new Error("x") }), "1.0.0");
    assert.equal(obj.details, "host-local said no");
  });
  for (const code of [1, 2, 3, 4, 5, 6, 7, 8, 11, 50, 51, 100, 106]) {
    test(`code ${code} is kept`, () => {
      const obj = toErrorObject(new CniError(code, "m"), "1.1.0");
      assert.equal(obj.code, code);
      assertNoStack(obj);
    });
  }
  test("a subclass of CniError passes through too", () => {
    class IpamExhausted extends CniError {
      constructor() {
        super(ErrorCode.IpamExhausted, "no free address in 10.0.0.0/30");
      }
    }
    assert.deepEqual(toErrorObject(new IpamExhausted(), "1.0.0"), { cniVersion: "1.0.0", code: 101, msg: "no free address in 10.0.0.0/30" });
  });
});

describe("toErrorObject: anything else is 999", () => {
  test("a plain Error: its message, and its name and message in details", () => {
    const obj = toErrorObject(new Error("boom"), "1.0.0");
    assert.deepEqual(obj, { cniVersion: "1.0.0", code: 999, msg: "boom", details: "Error: boom" });
  });
  test("the cause chain is in details, in order", () => {
    const err = new Error("setting up eth0", { cause: new RangeError("bad mtu", { cause: "EINVAL" }) });
    const obj = toErrorObject(err, "0.3.1");
    assert.equal(obj.code, 999);
    assert.equal(obj.msg, "setting up eth0");
    assert.equal(obj.details, "Error: setting up eth0; caused by RangeError: bad mtu; caused by EINVAL");
    assertNoStack(obj);
  });
  test("a CniError as the cause of a plain Error still makes 999 (only the outermost counts)", () => {
    const obj = toErrorObject(new Error("wrapped", { cause: new CniError(7, "inner") }), "1.0.0");
    assert.equal(obj.code, 999);
    assert.match(obj.details ?? "", /CniError: inner/);
  });
  test("an errno-style error keeps its message", () => {
    const e = Object.assign(new Error("ENOENT: no such file or directory, open '/x'"), { code: "ENOENT", errno: -2, syscall: "open" });
    const obj = toErrorObject(e, "1.0.0");
    assert.equal(obj.code, 999);
    assert.equal(obj.msg, "ENOENT: no such file or directory, open '/x'");
    assertNoStack(obj);
  });
  for (const [what, thrown] of [
    ["a string", "just a string"],
    ["a number", 42],
    ["undefined", undefined],
    ["null", null],
    ["an object", { message: "not an Error" }],
    ["a symbol-free array", [1, 2]],
  ] as const) {
    test(`${what} -> 999 with a non-empty msg`, () => {
      const obj = toErrorObject(thrown, "1.0.0");
      assert.equal(obj.code, 999);
      onlyKnownKeys(obj);
      assertNoStack(obj);
    });
  }
  test("a thrown value that cannot be turned into a string still gives an error object", () => {
    for (const thrown of [Object.create(null) as object, { toString: 1 }, { toString: () => { throw new Error("no"); } }]) {
      const obj = toErrorObject(thrown, "1.0.0");
      assert.equal(obj.code, 999);
      onlyKnownKeys(obj);
    }
  });
  test("an Error with an empty message gets a message", () => {
    const obj = toErrorObject(new Error(""), "1.0.0");
    assert.equal(obj.code, 999);
    assert.notEqual(obj.msg, "");
  });
  test("a cyclic cause chain terminates", () => {
    const a = new Error("a");
    const b = new Error("b", { cause: a });
    (a as { cause?: unknown }).cause = b;
    const obj = toErrorObject(a, "1.0.0");
    assert.equal(obj.code, 999);
    assert.ok((obj.details ?? "").length < 1000);
  });
  test("an Error whose message is multi-line with a stack-looking text is kept as the message, but no stack is added", () => {
    const e = new Error("boom");
    const obj = toErrorObject(e, "1.0.0");
    assert.ok(e.stack?.includes(__filename), "the error does have a stack");
    assertNoStack(obj);
    assert.ok(!JSON.stringify(obj).includes(".js:"));
  });
});

describe("describeCauses", () => {
  test("one link per error, joined with '; caused by '", () => {
    assert.equal(describeCauses(new Error("a", { cause: new Error("b") })), "Error: a; caused by Error: b");
    assert.equal(describeCauses("x"), "x");
    assert.equal(describeCauses(undefined), "");
  });
});

describe("properties", () => {
  const thrown = fc.oneof(
    fc.anything(),
    fc.string().map((m) => new Error(m)),
    fc.tuple(fc.string(), fc.string()).map(([a, b]) => new TypeError(a, { cause: new Error(b) })),
    fc.tuple(fc.integer({ min: 0, max: 1000 }), fc.string({ minLength: 1 }), fc.option(fc.string(), { nil: undefined })).map(
      ([code, msg, details]) => new CniError(code, msg, details),
    ),
  );
  test("toErrorObject never throws, never leaks a stack, always has the spec's shape", () => {
    fc.assert(
      fc.property(thrown, fc.constantFrom("0.1.0", "0.4.0", "1.1.0"), (err, v) => {
        const obj = toErrorObject(err, v);
        onlyKnownKeys(obj);
        assert.equal(obj.cniVersion, v);
        // random text may look like "at x", so check for what a leaked stack certainly contains
        const text = JSON.stringify(obj);
        assert.ok(!text.includes(__filename) && !text.includes("node:internal") && !text.includes("fast-check"), text);
        assert.doesNotThrow(() => JSON.stringify(obj));
        if (err instanceof CniError) {
          assert.equal(obj.code, err.code);
          assert.equal(obj.msg, err.message);
        } else {
          assert.equal(obj.code, 999);
        }
      }),
      { numRuns: 1000 },
    );
  });
});

test("issue 18: out of file descriptors anywhere in the cause chain is code 11 saying so, whatever the layer's own code", () => {
  const toObj = toErrorObject;
  const E = CniError;
  const spawnErr = Object.assign(new Error("spawnSync /usr/sbin/nft EMFILE"), { code: "EMFILE" });
  const wrapped = new E(106, "nft: spawnSync /usr/sbin/nft EMFILE", undefined, { cause: new Error("firewall", { cause: spawnErr }) });
  assert.equal(descriptorExhaustion(wrapped), "EMFILE");
  const obj = toObj(wrapped, "1.1.0");
  assert.equal(obj.code, 11);
  assert.match(obj.msg, /^out of file descriptors \(EMFILE\): nft/);
  assert.match(obj.details ?? "", /ulimit -n/);
  assert.equal(toObj(Object.assign(new Error("scandir"), { code: "ENFILE" }), "1.1.0").code, 11);
  assert.equal(toObj(new E(5, "disk", undefined, { cause: Object.assign(new Error("x"), { code: "ENOSPC" }) }), "1.1.0").code, 5);
});

test("issue 18: a native library that could not be mapped for want of descriptors (dlopen says only strerror) is code 11 too", () => {
  // What dist/tether said under `ulimit -n 35`: code 999.
  const dl = new Error("cannot load native netlink: /var/cache/tether: /var/cache/tether/netlink-x.node: cannot open shared object file: Too many open files");
  assert.equal(descriptorExhaustion(dl), "EMFILE");
  assert.equal(toErrorObject(dl, "1.1.0").code, 11);
  const sys = new Error("x", { cause: new Error("libc.so.6: cannot open shared object file: Too many open files in system") });
  assert.equal(descriptorExhaustion(sys), "ENFILE");
  assert.equal(descriptorExhaustion(new Error("cannot open shared object file: No such file or directory")), undefined);
});
