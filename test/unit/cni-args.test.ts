/** CNI_ARGS: IgnoreUnknown, K8S_* keys, IP=, MAC=, unknown keys, lenient (DEL) parsing. */
import assert from "node:assert/strict";
import { describe, test } from "node:test";
import fc from "fast-check";
import { parseCniArgs, type CniArgs } from "../../src/cni/args";
import { CniError } from "../../src/cni/errors";

function cniError(fn: () => unknown): CniError {
  try {
    fn();
  } catch (e) {
    assert.ok(e instanceof CniError, `expected a CniError, got ${String(e)}`);
    return e;
  }
  assert.fail("expected a CniError, nothing was thrown");
}

describe("empty and trivial input", () => {
  for (const text of ["", " ", "\t\n", ";", ";;;"]) {
    test(`${JSON.stringify(text)} gives the defaults`, () => {
      for (const lenient of [false, true]) {
        const a = parseCniArgs(text, lenient);
        assert.equal(a.ignoreUnknown, false);
        assert.deepEqual(a.ips, []);
        assert.deepEqual(a.raw, []);
        assert.equal(a.mac, undefined);
        assert.equal(a.k8sPodName, undefined);
      }
    });
  }

  test("empty segments and a trailing ';' are skipped", () => {
    const a = parseCniArgs(";K8S_POD_NAME=web;;K8S_POD_NAMESPACE=default;");
    assert.equal(a.k8sPodName, "web");
    assert.equal(a.k8sPodNamespace, "default");
    assert.equal(a.raw.length, 2);
  });
});

describe("IgnoreUnknown", () => {
  for (const v of ["1", "true", "TRUE", "True", "tRuE"]) {
    test(`IgnoreUnknown=${v} turns it on and unknown keys pass`, () => {
      const a = parseCniArgs(`IgnoreUnknown=${v};FOO=bar;BAZ=`);
      assert.equal(a.ignoreUnknown, true);
      assert.deepEqual(a.raw, [
        ["IgnoreUnknown", v],
        ["FOO", "bar"],
        ["BAZ", ""],
      ]);
    });
  }
  for (const v of ["0", "false", "FALSE", "False"]) {
    test(`IgnoreUnknown=${v} turns it off: unknown keys are an error`, () => {
      assert.equal(parseCniArgs(`IgnoreUnknown=${v}`).ignoreUnknown, false);
      const e = cniError(() => parseCniArgs(`IgnoreUnknown=${v};FOO=bar`));
      assert.equal(e.code, 4);
      assert.match(e.message, /FOO/);
    });
  }
  for (const v of ["yes", "2", "", "on", " 1"]) {
    test(`IgnoreUnknown=${JSON.stringify(v)} is an error (strict), ignored (lenient)`, () => {
      const e = cniError(() => parseCniArgs(`IgnoreUnknown=${v}`));
      assert.equal(e.code, 4);
      assert.match(e.message, /IgnoreUnknown/);
      assert.equal(parseCniArgs(`IgnoreUnknown=${v}`, true).ignoreUnknown, false);
    });
  }
  test("IgnoreUnknown applies to keys before it (runtimes send map order)", () => {
    const a = parseCniArgs("FOO=1;K8S_POD_NAME=p;IgnoreUnknown=1");
    assert.equal(a.ignoreUnknown, true);
    assert.equal(a.k8sPodName, "p");
  });
  test("the key is case-sensitive: ignoreunknown=1 is itself an unknown key", () => {
    const e = cniError(() => parseCniArgs("ignoreunknown=1;FOO=bar"));
    assert.match(e.message, /ignoreunknown/);
  });
});

describe("Kubernetes keys", () => {
  test("containerd's CNI_ARGS", () => {
    const a = parseCniArgs(
      "IgnoreUnknown=1;K8S_POD_NAMESPACE=kube-system;K8S_POD_NAME=coredns-5d78c9869d-abcde;" +
        "K8S_POD_INFRA_CONTAINER_ID=0123456789abcdef;K8S_POD_UID=2f9f1c6e-3c1a-4b1e-9d8e-1234567890ab",
    );
    assert.equal(a.ignoreUnknown, true);
    assert.equal(a.k8sPodNamespace, "kube-system");
    assert.equal(a.k8sPodName, "coredns-5d78c9869d-abcde");
    assert.equal(a.k8sPodInfraContainerId, "0123456789abcdef");
    assert.equal(a.k8sPodUid, "2f9f1c6e-3c1a-4b1e-9d8e-1234567890ab");
  });
  test("K8S_* keys are known without IgnoreUnknown, in any order", () => {
    const a = parseCniArgs("K8S_POD_UID=u;K8S_POD_NAME=n;K8S_POD_INFRA_CONTAINER_ID=i;K8S_POD_NAMESPACE=ns");
    assert.equal(a.ignoreUnknown, false);
    assert.deepEqual([a.k8sPodNamespace, a.k8sPodName, a.k8sPodInfraContainerId, a.k8sPodUid], ["ns", "n", "i", "u"]);
  });
  test("values may be empty", () => {
    const a = parseCniArgs("K8S_POD_NAMESPACE=;K8S_POD_NAME=");
    assert.equal(a.k8sPodNamespace, "");
    assert.equal(a.k8sPodName, "");
  });
  test("the raw pairs keep their order", () => {
    const a = parseCniArgs("K8S_POD_NAME=b;K8S_POD_NAMESPACE=a");
    assert.deepEqual(a.raw, [
      ["K8S_POD_NAME", "b"],
      ["K8S_POD_NAMESPACE", "a"],
    ]);
  });
});

describe("IP=", () => {
  const good: [string, string[]][] = [
    ["10.0.0.5", ["10.0.0.5"]],
    ["10.0.0.5/24", ["10.0.0.5/24"]],
    ["10.0.0.5/0", ["10.0.0.5/0"]],
    ["10.0.0.5/32", ["10.0.0.5/32"]],
    ["10.0.0.5/0024", ["10.0.0.5/0024"]], // Go's net.ParseCIDR (the reference's ip.ParseIP) takes leading zeros
    ["2001:db8::5", ["2001:db8::5"]],
    ["2001:db8::5/64", ["2001:db8::5/64"]],
    ["2001:db8::5/128", ["2001:db8::5/128"]],
    ["10.0.0.5,2001:db8::5/64", ["10.0.0.5", "2001:db8::5/64"]],
    ["10.0.0.5/24, 10.0.0.6 ,fd00::1", ["10.0.0.5/24", "10.0.0.6", "fd00::1"]],
    ["10.0.0.5,,10.0.0.6,", ["10.0.0.5", "10.0.0.6"]],
    ["", []],
  ];
  for (const [value, ips] of good) {
    test(`IP=${value} -> ${JSON.stringify(ips)}`, () => {
      assert.deepEqual(parseCniArgs(`IP=${value}`).ips, ips);
    });
  }

  const bad = [
    "10.0.0.256",
    "10.0.0",
    "10.0.0.5/33",
    "2001:db8::5/129",
    "10.0.0.5/",
    "10.0.0.5/-1",
    "10.0.0.5/24/8",
    "10.0.0.5/abc",
    "foo",
    "10.0.0.5,bogus",
    "2001:db8::zz",
  ];
  for (const value of bad) {
    test(`IP=${value} is code 4 naming IP (strict), skipped (lenient)`, () => {
      const e = cniError(() => parseCniArgs(`IP=${value}`));
      assert.equal(e.code, 4);
      assert.match(e.message, /^CNI_ARGS: IP=/);
      const a = parseCniArgs(`IP=${value}`, true);
      // the good entries of a mixed list survive in lenient mode
      assert.deepEqual(a.ips, value.startsWith("10.0.0.5,") ? ["10.0.0.5"] : []);
    });
  }
});

describe("MAC=", () => {
  test("a MAC is accepted and lower-cased", () => {
    assert.equal(parseCniArgs("MAC=C2:11:22:33:44:AA").mac, "c2:11:22:33:44:aa");
    assert.equal(parseCniArgs("MAC=c2:11:22:33:44:55").mac, "c2:11:22:33:44:55");
  });
  for (const value of ["c2:11:22:33:44", "c2:11:22:33:44:55:66", "c2-11-22-33-44-55", "g2:11:22:33:44:55", "", "c211.2233.4455"]) {
    test(`MAC=${value} is code 4 (strict), skipped (lenient)`, () => {
      const e = cniError(() => parseCniArgs(`MAC=${value}`));
      assert.equal(e.code, 4);
      assert.match(e.message, /MAC/);
      assert.equal(parseCniArgs(`MAC=${value}`, true).mac, undefined);
    });
  }
});

describe("unknown keys", () => {
  test("are an error without IgnoreUnknown, naming every unknown key", () => {
    const e = cniError(() => parseCniArgs("FOO=1;K8S_POD_NAME=x;BAR=2"));
    assert.equal(e.code, 4);
    assert.match(e.message, /FOO/);
    assert.match(e.message, /BAR/);
    assert.doesNotMatch(e.message, /K8S_POD_NAME/);
  });
  test("known keys are matched case-sensitively (as the Go library does)", () => {
    assert.throws(() => parseCniArgs("ip=10.0.0.1"), CniError);
    assert.throws(() => parseCniArgs("k8s_pod_name=x"), CniError);
  });
  test("are kept in raw and never fail the lenient parse", () => {
    const a = parseCniArgs("FOO=1;BAR=2", true);
    assert.deepEqual(a.raw, [
      ["FOO", "1"],
      ["BAR", "2"],
    ]);
    assert.equal(a.ignoreUnknown, false);
  });
  test("GATEWAY (static IPAM's key) is known: no IgnoreUnknown needed, and kept in raw", () => {
    const a = parseCniArgs("GATEWAY=10.0.0.1");
    assert.deepEqual(a.raw, [["GATEWAY", "10.0.0.1"]]);
  });
});

describe("malformed pairs", () => {
  for (const text of ["FOO", "K8S_POD_NAME", "=bar", "=", "K8S_POD_NAME=x;junk", "a b c"]) {
    test(`${JSON.stringify(text)} is code 4 (strict)`, () => {
      const e = cniError(() => parseCniArgs(text));
      assert.equal(e.code, 4);
      assert.match(e.message, /^CNI_ARGS: /);
    });
    test(`${JSON.stringify(text)} is skipped (lenient), IgnoreUnknown or not`, () => {
      assert.doesNotThrow(() => parseCniArgs(text, true));
      assert.doesNotThrow(() => parseCniArgs(`IgnoreUnknown=1;${text}`, true));
    });
  }
  test("malformed pairs are an error even with IgnoreUnknown", () => {
    assert.throws(() => parseCniArgs("IgnoreUnknown=1;junk"), CniError);
  });
  test("lenient parsing keeps every good value around the bad ones", () => {
    const a = parseCniArgs("junk;IP=10.0.0.9,nope;MAC=zz;FOO=1;K8S_POD_NAME=p;MAC=aa:bb:cc:dd:ee:ff;=x", true);
    assert.deepEqual(a.ips, ["10.0.0.9"]);
    assert.equal(a.mac, "aa:bb:cc:dd:ee:ff");
    assert.equal(a.k8sPodName, "p");
  });
});

// ---- properties ------------------------------------------------------------------------------

const tokens = fc.constantFrom(
  ";", "=", ",", "/", " ", "IgnoreUnknown", "IP", "MAC", "K8S_POD_NAME", "K8S_POD_UID", "1", "true", "false",
  "10.0.0.1", "fd00::1", "24", "129", "aa:bb:cc:dd:ee:ff", "FOO", "\n", "\0", "é", "😀",
);
const argsLike = fc.array(tokens, { maxLength: 30 }).map((t) => t.join(""));

describe("properties", () => {
  test("lenient parsing never throws, for any string", () => {
    fc.assert(
      fc.property(fc.oneof(fc.string(), fc.string({ unit: "binary" }), argsLike), (text) => {
        const a = parseCniArgs(text, true);
        assert.equal(typeof a.ignoreUnknown, "boolean");
        assert.ok(Array.isArray(a.ips));
      }),
      { numRuns: 2000 },
    );
  });

  test("strict parsing throws nothing but CniError code 4", () => {
    fc.assert(
      fc.property(fc.oneof(fc.string(), argsLike), (text) => {
        try {
          parseCniArgs(text, false);
        } catch (e) {
          assert.ok(e instanceof CniError);
          assert.equal(e.code, 4);
        }
      }),
      { numRuns: 2000 },
    );
  });

  // A value: anything without ';' (the pair separator) or '=' (the Go library rejects a second '=').
  const value = fc.string({ maxLength: 12 }).filter((s) => !s.includes(";") && !s.includes("="));
  const ipWithPrefix = fc.oneof(
    fc.tuple(fc.ipV4(), fc.option(fc.integer({ min: 0, max: 32 }), { nil: undefined })),
    fc.tuple(fc.ipV6(), fc.option(fc.integer({ min: 0, max: 128 }), { nil: undefined })),
  ).map(([ip, len]) => (len === undefined ? ip : `${ip}/${len}`));
  const mac = fc
    .array(fc.integer({ min: 0, max: 255 }), { minLength: 6, maxLength: 6 })
    .chain((bytes) =>
      fc.boolean().map((upper) => {
        const s = bytes.map((b) => b.toString(16).padStart(2, "0")).join(":");
        return upper ? s.toUpperCase() : s;
      }),
    );
  const unknownKey = fc
    .stringMatching(/^[A-Za-z_][A-Za-z0-9_]{0,10}$/)
    .filter((k) => !["IgnoreUnknown", "K8S_POD_NAMESPACE", "K8S_POD_NAME", "K8S_POD_INFRA_CONTAINER_ID", "K8S_POD_UID", "IP", "MAC"].includes(k));

  const argSet = fc.record(
    {
      ignoreUnknown: fc.constantFrom("1", "true", "TRUE", "True", "0", "false", "FALSE"),
      k8sPodNamespace: value,
      k8sPodName: value,
      k8sPodInfraContainerId: value,
      k8sPodUid: value,
      ips: fc.array(ipWithPrefix, { minLength: 1, maxLength: 4 }),
      mac,
      unknown: fc.uniqueArray(fc.tuple(unknownKey, value), { maxLength: 3, selector: ([k]) => k }),
    },
    { requiredKeys: [] },
  );

  test("parse(serialise(x)) round-trips for any valid key/value set, in any order", () => {
    fc.assert(
      fc.property(argSet, fc.integer(), (x, seed) => {
        const on = x.ignoreUnknown !== undefined && ["1", "true"].includes(x.ignoreUnknown.toLowerCase());
        const pairs: [string, string][] = [];
        if (x.ignoreUnknown !== undefined) pairs.push(["IgnoreUnknown", x.ignoreUnknown]);
        if (x.k8sPodNamespace !== undefined) pairs.push(["K8S_POD_NAMESPACE", x.k8sPodNamespace]);
        if (x.k8sPodName !== undefined) pairs.push(["K8S_POD_NAME", x.k8sPodName]);
        if (x.k8sPodInfraContainerId !== undefined) pairs.push(["K8S_POD_INFRA_CONTAINER_ID", x.k8sPodInfraContainerId]);
        if (x.k8sPodUid !== undefined) pairs.push(["K8S_POD_UID", x.k8sPodUid]);
        if (x.ips !== undefined) pairs.push(["IP", x.ips.join(",")]);
        if (x.mac !== undefined) pairs.push(["MAC", x.mac]);
        const unknown = on ? (x.unknown ?? []) : [];
        pairs.push(...unknown);
        // a deterministic shuffle: runtimes send map order
        let s = seed;
        for (let i = pairs.length - 1; i > 0; i--) {
          s = (s * 1103515245 + 12345) & 0x7fffffff;
          const j = s % (i + 1);
          [pairs[i], pairs[j]] = [pairs[j]!, pairs[i]!];
        }
        const text = pairs.map(([k, v]) => `${k}=${v}`).join(";");

        for (const lenient of [false, true]) {
          const a: CniArgs = parseCniArgs(text, lenient);
          assert.equal(a.ignoreUnknown, on);
          assert.equal(a.k8sPodNamespace, x.k8sPodNamespace);
          assert.equal(a.k8sPodName, x.k8sPodName);
          assert.equal(a.k8sPodInfraContainerId, x.k8sPodInfraContainerId);
          assert.equal(a.k8sPodUid, x.k8sPodUid);
          assert.deepEqual(a.ips, x.ips ?? []);
          assert.equal(a.mac, x.mac?.toLowerCase());
          assert.deepEqual(a.raw, pairs);
        }
      }),
      { numRuns: 1000 },
    );
  });

  test("unknown keys without IgnoreUnknown always fail strict parsing and never lenient", () => {
    fc.assert(
      fc.property(fc.tuple(unknownKey, value), ([k, v]) => {
        assert.throws(() => parseCniArgs(`K8S_POD_NAME=x;${k}=${v}`), CniError);
        assert.equal(parseCniArgs(`K8S_POD_NAME=x;${k}=${v}`, true).k8sPodName, "x");
      }),
    );
  });
});
