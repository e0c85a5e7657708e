/** Results: conversion to every version (as libcni does) and parsing of every version. */
import assert from "node:assert/strict";
import { describe, test } from "node:test";
import { isIPv4 } from "node:net";
import fc from "fast-check";
import { CniError } from "../../src/cni/errors";
import { convertResult, parseResult } from "../../src/cni/result";
import type { Dns, Interface, IpConfig, Result, Route } from "../../src/cni/types";

function cniError(fn: () => unknown): CniError {
  try {
    fn();
  } catch (e) {
    assert.ok(e instanceof CniError, `expected a CniError, got ${String(e)}`);
    return e;
  }
  assert.fail("expected a CniError, nothing was thrown");
}

/** What a runtime would read: the JSON text, decoded. */
function wire(value: unknown): unknown {
  return JSON.parse(JSON.stringify(value)) as unknown;
}

const DNS: Dns = {
  nameservers: ["10.22.0.1", "fd00::1"],
  domain: "cluster.local",
  search: ["default.svc.cluster.local", "svc.cluster.local"],
  options: ["ndots:5"],
};

/** Dual stack, a host veth and the container's eth0, two IPs per family (v6 first), 1.1 route fields. */
function dualStack(): Result {
  return {
    cniVersion: "1.1.0",
    interfaces: [
      { name: "veth1a2b3c4d", mac: "0a:58:0a:16:00:01", mtu: 1500 },
      {
        name: "eth0",
        mac: "0a:58:0a:16:00:05",
        mtu: 1500,
        sandbox: "/run/netns/cni-1234",
        socketPath: "/run/vhost/sock0",
        pciID: "0000:00:05.0",
      },
    ],
    ips: [
      { address: "fd00::5/64", gateway: "fd00::1", interface: 1 },
      { address: "10.22.0.5/16", gateway: "10.22.0.1", interface: 1 },
      { address: "fd01::7/64", interface: 1 },
      { address: "10.23.0.7/24", gateway: "10.23.0.1", interface: 0 },
    ],
    routes: [
      { dst: "0.0.0.0/0", gw: "10.22.0.1", mtu: 1400, advmss: 1360, priority: 100 },
      { dst: "::/0", gw: "fd00::1", priority: 50, table: 254 },
      { dst: "192.168.0.0/16" },
      { dst: "fd02::/48", gw: "fd00::2", table: 100, scope: 253 },
      { dst: "10.99.0.0/16", table: 0, scope: 0 },
    ],
    dns: DNS,
  };
}

describe("convertResult: 1.1.0 and 1.0.0", () => {
  for (const v of ["1.1.0", "1.0.0"]) {
    test(`${v}: the result as is, with cniVersion ${v}`, () => {
      const r = dualStack();
      const out = convertResult(r, v);
      assert.deepEqual(out, { ...dualStack(), cniVersion: v });
      assert.deepEqual(wire(out), out, "nothing that JSON would drop or change (no undefined values)");
      assert.deepEqual(r, dualStack(), "the input is not modified");
    });
  }
  test("empty lists are omitted", () => {
    const out = convertResult({ cniVersion: "1.1.0", interfaces: [], ips: [], routes: [] }, "1.0.0");
    assert.deepEqual(out, { cniVersion: "1.0.0", dns: {} });
  });
  test("an L2-only result (interfaces, no IP) converts", () => {
    const out = convertResult({ cniVersion: "1.1.0", interfaces: [{ name: "eth0", sandbox: "/run/netns/x" }] }, "1.1.0");
    assert.deepEqual(out, { cniVersion: "1.1.0", interfaces: [{ name: "eth0", sandbox: "/run/netns/x" }], dns: {} });
  });
});

describe("convertResult: 0.4.0, 0.3.1, 0.3.0", () => {
  const expected = (v: string): unknown => ({
    cniVersion: v,
    interfaces: [
      { name: "veth1a2b3c4d", mac: "0a:58:0a:16:00:01" },
      { name: "eth0", mac: "0a:58:0a:16:00:05", sandbox: "/run/netns/cni-1234" },
    ],
    ips: [
      { version: "6", address: "fd00::5/64", gateway: "fd00::1", interface: 1 },
      { version: "4", address: "10.22.0.5/16", gateway: "10.22.0.1", interface: 1 },
      { version: "6", address: "fd01::7/64", interface: 1 },
      { version: "4", address: "10.23.0.7/24", gateway: "10.23.0.1", interface: 0 },
    ],
    routes: [
      { dst: "0.0.0.0/0", gw: "10.22.0.1" },
      { dst: "::/0", gw: "fd00::1" },
      { dst: "192.168.0.0/16" },
      { dst: "fd02::/48", gw: "fd00::2" },
      { dst: "10.99.0.0/16" },
    ],
    dns: DNS,
  });
  for (const v of ["0.4.0", "0.3.1", "0.3.0"]) {
    test(`${v}: version on each IP, interfaces name/mac/sandbox, routes dst/gw`, () => {
      const out = convertResult(dualStack(), v);
      assert.deepEqual(out, expected(v));
      assert.deepEqual(wire(out), out);
    });
  }
  test("compressed IPv6 addresses are version 6, dotted quads version 4", () => {
    const out = convertResult({ cniVersion: "1.1.0", ips: [{ address: "::/0" }, { address: "0.0.0.0/0" }, { address: "2001:db8::/32" }] }, "0.4.0");
    assert.deepEqual(out["ips"], [
      { version: "6", address: "::/0" },
      { version: "4", address: "0.0.0.0/0" },
      { version: "6", address: "2001:db8::/32" },
    ]);
  });
  test("an IP without gateway or interface index carries neither key", () => {
    const out = convertResult({ cniVersion: "1.1.0", ips: [{ address: "10.0.0.2/24" }] }, "0.3.1");
    assert.deepEqual(out, { cniVersion: "0.3.1", ips: [{ version: "4", address: "10.0.0.2/24" }], dns: {} });
  });
});

describe("convertResult: the reference's bytes", () => {
  // What Debian's bridge + host-local printed (after whitespace removal) for one attachment per version.
  const ifaces = [
    { name: "lbr0", mac: "a6:ab:90:56:f9:61" },
    { name: "vetha5619dc2", mac: "de:82:35:ea:b9:60" },
    { name: "e031", mac: "e6:8d:03:4b:59:5a", sandbox: "/var/run/netns/lead-c1" },
  ];
  // Built in another key order than Go's on purpose: the output must not follow the input's order.
  const internal: Result = {
    cniVersion: "1.1.0",
    dns: {},
    routes: [{ dst: "0.0.0.0/0" }],
    ips: [{ gateway: "10.77.0.1", address: "10.77.0.3/24", interface: 2 }],
    interfaces: ifaces.map((i) => ({ ...("sandbox" in i ? { sandbox: i.sandbox } : {}), mac: i.mac, name: i.name })),
  };
  const cases: [string, string][] = [
    ["0.2.0", '{"cniVersion":"0.2.0","ip4":{"ip":"10.77.0.3/24","gateway":"10.77.0.1","routes":[{"dst":"0.0.0.0/0"}]},"dns":{}}'],
    [
      "0.3.1",
      '{"cniVersion":"0.3.1","interfaces":[{"name":"lbr0","mac":"a6:ab:90:56:f9:61"},{"name":"vetha5619dc2","mac":"de:82:35:ea:b9:60"},{"name":"e031","mac":"e6:8d:03:4b:59:5a","sandbox":"/var/run/netns/lead-c1"}],"ips":[{"version":"4","interface":2,"address":"10.77.0.3/24","gateway":"10.77.0.1"}],"routes":[{"dst":"0.0.0.0/0"}],"dns":{}}',
    ],
    [
      "1.0.0",
      '{"cniVersion":"1.0.0","interfaces":[{"name":"lbr0","mac":"a6:ab:90:56:f9:61"},{"name":"vetha5619dc2","mac":"de:82:35:ea:b9:60"},{"name":"e031","mac":"e6:8d:03:4b:59:5a","sandbox":"/var/run/netns/lead-c1"}],"ips":[{"interface":2,"address":"10.77.0.3/24","gateway":"10.77.0.1"}],"routes":[{"dst":"0.0.0.0/0"}],"dns":{}}',
    ],
  ];
  for (const [v, bytes] of cases) {
    test(`${v}: the same bytes, field order included`, () => {
      assert.equal(JSON.stringify(convertResult(internal, v)), bytes);
    });
  }
  test("1.1.0 fields and dns come in Go's declaration order", () => {
    const out = JSON.stringify(convertResult(dualStack(), "1.1.0"));
    assert.ok(out.includes('{"name":"eth0","mac":"0a:58:0a:16:00:05","mtu":1500,"sandbox":"/run/netns/cni-1234","socketPath":"/run/vhost/sock0","pciID":"0000:00:05.0"}'), out);
    assert.ok(out.includes('{"dst":"0.0.0.0/0","gw":"10.22.0.1","mtu":1400,"advmss":1360,"priority":100}'), out);
    assert.ok(out.endsWith('"dns":{"nameservers":["10.22.0.1","fd00::1"],"domain":"cluster.local","search":["default.svc.cluster.local","svc.cluster.local"],"options":["ndots:5"]}}'), out);
  });
});

describe("convertResult: 0.2.0 and 0.1.0", () => {
  for (const v of ["0.2.0", "0.1.0"]) {
    test(`${v}: first v4 -> ip4, first v6 -> ip6, routes by the family of dst, no interfaces`, () => {
      const out = convertResult(dualStack(), v);
      assert.deepEqual(out, {
        cniVersion: v,
        ip4: {
          ip: "10.22.0.5/16",
          gateway: "10.22.0.1",
          routes: [{ dst: "0.0.0.0/0", gw: "10.22.0.1" }, { dst: "192.168.0.0/16" }, { dst: "10.99.0.0/16" }],
        },
        ip6: {
          ip: "fd00::5/64",
          gateway: "fd00::1",
          routes: [
            { dst: "::/0", gw: "fd00::1" },
            { dst: "fd02::/48", gw: "fd00::2" },
          ],
        },
        dns: DNS,
      });
      assert.deepEqual(wire(out), out);
    });

    test(`${v}: a family without an IP is absent and its routes are dropped`, () => {
      const out = convertResult(
        {
          cniVersion: "1.1.0",
          ips: [{ address: "10.0.0.2/24" }],
          routes: [{ dst: "::/0", gw: "fd00::1" }, { dst: "0.0.0.0/0" }],
        },
        v,
      );
      assert.deepEqual(out, { cniVersion: v, ip4: { ip: "10.0.0.2/24", routes: [{ dst: "0.0.0.0/0" }] }, dns: {} });
    });

    test(`${v}: IPv6 only`, () => {
      const out = convertResult({ cniVersion: "1.1.0", ips: [{ address: "fd00::2/64", gateway: "fd00::1" }] }, v);
      assert.deepEqual(out, { cniVersion: v, ip6: { ip: "fd00::2/64", gateway: "fd00::1" }, dns: {} });
    });

    test(`${v}: no IP at all is an error, not a silent loss`, () => {
      for (const r of [
        { cniVersion: "1.1.0" },
        { cniVersion: "1.1.0", interfaces: [{ name: "eth0" }], routes: [{ dst: "0.0.0.0/0" }], dns: DNS },
        { cniVersion: "1.1.0", ips: [] },
      ] satisfies Result[]) {
        const e = cniError(() => convertResult(r, v));
        assert.equal(e.code, 1);
        assert.ok(e.message.includes(v), e.message);
        assert.match(e.message, /no IP/);
      }
    });
  }
});

describe("dns", () => {
  const versions = ["1.1.0", "1.0.0", "0.4.0", "0.3.1", "0.3.0", "0.2.0", "0.1.0"];
  for (const dns of [{}, { nameservers: [], search: [], options: [] }, { domain: "" }] satisfies Dns[]) {
    test(`empty dns ${JSON.stringify(dns)} is {} in every version (a Go struct: the reference prints it)`, () => {
      for (const v of versions) {
        const out = convertResult({ cniVersion: "1.1.0", ips: [{ address: "10.0.0.2/24" }], dns }, v);
        assert.deepEqual(out["dns"], {}, `${v}: ${JSON.stringify(out)}`);
      }
    });
  }
  test("empty parts of dns are dropped, the rest kept", () => {
    for (const v of versions) {
      const out = convertResult({ cniVersion: "1.1.0", ips: [{ address: "10.0.0.2/24" }], dns: { nameservers: ["1.1.1.1"], search: [] } }, v);
      assert.deepEqual(out["dns"], { nameservers: ["1.1.1.1"] }, v);
    }
  });
});

describe("parseResult", () => {
  test("0.2.0: ip4/ip6 -> ips v4 then v6, routes v4 then v6 (whatever the JSON key order)", () => {
    const raw = JSON.parse(
      '{"cniVersion":"0.2.0",' +
        '"ip6":{"ip":"fd00::5/64","gateway":"fd00::1","routes":[{"dst":"::/0","gw":"fd00::1"}]},' +
        '"ip4":{"ip":"10.22.0.5/16","gateway":"10.22.0.1","routes":[{"dst":"0.0.0.0/0"},{"dst":"10.99.0.0/16","gw":"10.22.0.9"}]},' +
        '"dns":{"nameservers":["10.22.0.1"]}}',
    ) as unknown;
    assert.deepEqual(parseResult(raw, "1.1.0"), {
      cniVersion: "0.2.0",
      ips: [
        { address: "10.22.0.5/16", gateway: "10.22.0.1" },
        { address: "fd00::5/64", gateway: "fd00::1" },
      ],
      routes: [{ dst: "0.0.0.0/0" }, { dst: "10.99.0.0/16", gw: "10.22.0.9" }, { dst: "::/0", gw: "fd00::1" }],
      dns: { nameservers: ["10.22.0.1"] },
    });
  });

  test("0.1.0: ip4 only, no gateway, no routes", () => {
    assert.deepEqual(parseResult({ cniVersion: "0.1.0", ip4: { ip: "10.0.0.2/24" } }, "1.1.0"), {
      cniVersion: "0.1.0",
      ips: [{ address: "10.0.0.2/24" }],
    });
  });

  test("a result without cniVersion takes the default given", () => {
    assert.deepEqual(parseResult({ ip4: { ip: "10.0.0.2/24" } }, "0.2.0"), { cniVersion: "0.2.0", ips: [{ address: "10.0.0.2/24" }] });
    assert.deepEqual(parseResult({ ips: [{ address: "10.0.0.2/24" }] }, "1.0.0"), { cniVersion: "1.0.0", ips: [{ address: "10.0.0.2/24" }] });
  });

  for (const v of ["0.4.0", "0.3.1", "0.3.0"]) {
    test(`${v}: version dropped, everything else kept`, () => {
      const parsed = parseResult(wire(convertResult(dualStack(), v)), "1.1.0");
      const d = dualStack();
      assert.deepEqual(parsed, {
        cniVersion: v,
        interfaces: d.interfaces?.map((i): Interface => {
          const o: Interface = { name: i.name };
          if (i.mac !== undefined) o.mac = i.mac;
          if (i.sandbox !== undefined) o.sandbox = i.sandbox;
          return o;
        }),
        ips: d.ips,
        routes: d.routes?.map((r): Route => (r.gw !== undefined ? { dst: r.dst, gw: r.gw } : { dst: r.dst })),
        dns: DNS,
      });
      for (const ip of parsed.ips ?? []) assert.ok(!("version" in ip));
    });
  }

  test("0.3.0's misnamed `ip` list is read too", () => {
    const parsed = parseResult({ cniVersion: "0.3.0", ip: [{ version: "4", address: "10.0.0.2/24" }] }, "1.1.0");
    assert.deepEqual(parsed.ips, [{ address: "10.0.0.2/24" }]);
  });

  for (const v of ["1.1.0", "1.0.0"]) {
    test(`${v}: round trip is exact`, () => {
      assert.deepEqual(parseResult(wire(convertResult(dualStack(), v)), "0.1.0"), { ...dualStack(), cniVersion: v });
    });
  }

  test("unknown fields are tolerated", () => {
    const parsed = parseResult(
      { cniVersion: "1.0.0", extra: 1, interfaces: [{ name: "eth0", foo: "x" }], ips: [{ address: "10.0.0.2/24", bar: true }] },
      "1.0.0",
    );
    assert.deepEqual(parsed, { cniVersion: "1.0.0", interfaces: [{ name: "eth0" }], ips: [{ address: "10.0.0.2/24" }] });
  });

  test("empty strings and nulls count as absent", () => {
    const parsed = parseResult(
      { cniVersion: "1.0.0", interfaces: [{ name: "eth0", mac: "", sandbox: null }], ips: [{ address: "10.0.0.2/24", gateway: "" }], dns: {} },
      "1.0.0",
    );
    assert.deepEqual(parsed, { cniVersion: "1.0.0", interfaces: [{ name: "eth0" }], ips: [{ address: "10.0.0.2/24" }] });
  });

  test("an interface index out of range is code 6 naming the path", () => {
    const e = cniError(() =>
      parseResult({ cniVersion: "1.0.0", interfaces: [{ name: "eth0" }], ips: [{ address: "10.0.0.2/24", interface: 0 }, { address: "10.0.0.3/24", interface: 1 }] }, "1.0.0"),
    );
    assert.equal(e.code, 6);
    assert.match(e.message, /^result\.ips\[1\]\.interface: /);
    assert.match(e.message, /out of range/);
  });

  test("an interface index with no interfaces at all is code 6", () => {
    const e = cniError(() => parseResult({ cniVersion: "0.4.0", ips: [{ version: "4", address: "10.0.0.2/24", interface: 0 }] }, "1.0.0"));
    assert.equal(e.code, 6);
    assert.match(e.message, /ips\[0\]\.interface/);
  });

  test("the `where` prefix names the field (prevResult)", () => {
    const e = cniError(() => parseResult({ ips: [{ address: 5 }] }, "1.0.0", "prevResult"));
    assert.match(e.message, /^prevResult\.ips\[0\]\.address: /);
  });

  const wrongTypes: [string, unknown, string, RegExp][] = [
    ["not an object", "x", "1.0.0", /^result: /],
    ["an array", [], "1.0.0", /^result: /],
    ["null", null, "1.0.0", /^result: /],
    ["cniVersion a number", { cniVersion: 1 }, "1.0.0", /^result\.cniVersion: /],
    ["interfaces an object", { cniVersion: "1.0.0", interfaces: { name: "eth0" } }, "1.0.0", /^result\.interfaces: /],
    ["interface name missing", { cniVersion: "1.0.0", interfaces: [{ mac: "x" }] }, "1.0.0", /^result\.interfaces\[0\]\.name: /],
    ["interface mtu a string", { cniVersion: "1.1.0", interfaces: [{ name: "e", mtu: "1500" }] }, "1.0.0", /^result\.interfaces\[0\]\.mtu: /],
    ["ips a string", { cniVersion: "1.0.0", ips: "10.0.0.2/24" }, "1.0.0", /^result\.ips: /],
    ["ip entry a string", { cniVersion: "1.0.0", ips: ["10.0.0.2/24"] }, "1.0.0", /^result\.ips\[0\]: /],
    ["address a number", { cniVersion: "1.0.0", ips: [{ address: "10.0.0.2/24" }, { address: 7 }] }, "1.0.0", /^result\.ips\[1\]\.address: /],
    ["gateway a number", { cniVersion: "1.0.0", ips: [{ address: "10.0.0.2/24", gateway: 1 }] }, "1.0.0", /^result\.ips\[0\]\.gateway: /],
    ["interface index negative", { cniVersion: "1.0.0", interfaces: [{ name: "e" }], ips: [{ address: "10.0.0.2/24", interface: -1 }] }, "1.0.0", /^result\.ips\[0\]\.interface: /],
    ["interface index a string", { cniVersion: "1.0.0", interfaces: [{ name: "e" }], ips: [{ address: "10.0.0.2/24", interface: "0" }] }, "1.0.0", /^result\.ips\[0\]\.interface: /],
    ["interface index fractional", { cniVersion: "1.0.0", interfaces: [{ name: "e" }], ips: [{ address: "10.0.0.2/24", interface: 0.5 }] }, "1.0.0", /^result\.ips\[0\]\.interface: /],
    ["route dst missing", { cniVersion: "1.0.0", routes: [{ gw: "10.0.0.1" }] }, "1.0.0", /^result\.routes\[0\]\.dst: /],
    ["route table a string", { cniVersion: "1.1.0", routes: [{ dst: "0.0.0.0/0" }, { dst: "::/0", table: "main" }] }, "1.0.0", /^result\.routes\[1\]\.table: /],
    ["dns an array", { cniVersion: "1.0.0", dns: [] }, "1.0.0", /^result\.dns: /],
    ["nameserver a number", { cniVersion: "1.0.0", dns: { nameservers: ["1.1.1.1", 8] } }, "1.0.0", /^result\.dns\.nameservers\[1\]: /],
    ["search a string", { cniVersion: "1.0.0", dns: { search: "svc" } }, "1.0.0", /^result\.dns\.search: /],
    ["ip4 a string", { cniVersion: "0.2.0", ip4: "10.0.0.2/24" }, "1.0.0", /^result\.ip4: /],
    ["ip4.ip missing", { cniVersion: "0.2.0", ip4: { gateway: "10.0.0.1" } }, "1.0.0", /^result\.ip4\.ip: /],
    ["ip6 routes an object", { cniVersion: "0.2.0", ip6: { ip: "fd00::2/64", routes: {} } }, "1.0.0", /^result\.ip6\.routes: /],
    ["ip6 route gw a number", { cniVersion: "0.1.0", ip6: { ip: "fd00::2/64", routes: [{ dst: "::/0", gw: 1 }] } }, "1.0.0", /^result\.ip6\.routes\[0\]\.gw: /],
  ];
  for (const [what, raw, def, path] of wrongTypes) {
    test(`${what} -> code 6 naming ${path.source}`, () => {
      const e = cniError(() => parseResult(raw, def));
      assert.equal(e.code, 6);
      assert.match(e.message, path);
    });
  }
});

// ---- property: parse(convert(r, v)) keeps what v can carry ---------------------------------------

const v4cidr = fc.tuple(fc.ipV4(), fc.integer({ min: 0, max: 32 })).map(([ip, n]) => `${ip}/${n}`);
const v6cidr = fc.tuple(fc.ipV6(), fc.integer({ min: 0, max: 128 })).map(([ip, n]) => `${ip}/${n}`);
const nat = fc.nat({ max: 100000 });
const word = fc.stringMatching(/^[a-z0-9][a-z0-9.-]{0,15}$/);

/** fast-check builds records with a null prototype; deepStrictEqual compares prototypes. */
function plain<T extends object>(arb: fc.Arbitrary<T>): fc.Arbitrary<T> {
  return arb.map((x) => ({ ...x }));
}

const interfaceArb: fc.Arbitrary<Interface> = plain(fc.record(
  {
    name: fc.stringMatching(/^[a-z][a-z0-9]{0,14}$/),
    mac: fc.constantFrom("0a:58:0a:16:00:01", "c2:11:22:33:44:55"),
    mtu: fc.integer({ min: 68, max: 65535 }),
    sandbox: fc.constantFrom("/run/netns/a", "/proc/1234/ns/net"),
    socketPath: fc.constant("/run/sock"),
    pciID: fc.constant("0000:00:05.0"),
  },
  { requiredKeys: ["name"] },
));

const routeArb: fc.Arbitrary<Route> = fc.oneof(
  plain(fc.record({ dst: v4cidr, gw: fc.ipV4(), mtu: nat, advmss: nat, priority: nat, table: nat, scope: fc.integer({ min: 0, max: 255 }) }, { requiredKeys: ["dst"] })),
  plain(fc.record({ dst: v6cidr, gw: fc.ipV6(), mtu: nat, advmss: nat, priority: nat, table: nat, scope: fc.integer({ min: 0, max: 255 }) }, { requiredKeys: ["dst"] })),
);

const dnsArb: fc.Arbitrary<Dns> = plain(fc.record(
  {
    nameservers: fc.array(fc.oneof(fc.ipV4(), fc.ipV6()), { minLength: 1, maxLength: 3 }),
    domain: word,
    search: fc.array(word, { minLength: 1, maxLength: 3 }),
    options: fc.array(word, { minLength: 1, maxLength: 2 }),
  },
  { requiredKeys: [] },
)).filter((d) => Object.keys(d).length > 0);

const resultArb: fc.Arbitrary<Result> = fc
  .array(interfaceArb, { maxLength: 3 })
  .chain((interfaces) => {
    const ipArb: fc.Arbitrary<IpConfig> = fc
      .tuple(
        fc.oneof(fc.tuple(v4cidr, fc.option(fc.ipV4(), { nil: undefined })), fc.tuple(v6cidr, fc.option(fc.ipV6(), { nil: undefined }))),
        interfaces.length > 0 ? fc.option(fc.nat({ max: interfaces.length - 1 }), { nil: undefined }) : fc.constant(undefined),
      )
      .map(([[address, gateway], idx]) => {
        const ip: IpConfig = { address };
        if (gateway !== undefined) ip.gateway = gateway;
        if (idx !== undefined) ip.interface = idx;
        return ip;
      });
    return fc.record(
      {
        ips: fc.array(ipArb, { maxLength: 5 }),
        routes: fc.array(routeArb, { maxLength: 5 }),
        dns: fc.option(dnsArb, { nil: undefined }),
      },
      { requiredKeys: ["ips", "routes"] },
    ).map((rest): Result => {
      const r: Result = { cniVersion: "1.1.0" };
      if (interfaces.length) r.interfaces = interfaces;
      if (rest.ips.length) r.ips = rest.ips;
      if (rest.routes.length) r.routes = rest.routes;
      if (rest.dns !== undefined) r.dns = rest.dns;
      return r;
    });
  });

describe("property: parse(convert(r, v))", () => {
  for (const v of ["0.3.0", "0.3.1", "0.4.0", "1.0.0", "1.1.0"]) {
    test(`${v}: addresses, gateways, interface indexes, routes and dns survive`, () => {
      fc.assert(
        fc.property(resultArb, (r) => {
          const back = parseResult(wire(convertResult(r, v)), v);
          assert.equal(back.cniVersion, v);
          assert.deepEqual(back.ips ?? [], r.ips ?? []);
          assert.deepEqual(
            (back.routes ?? []).map((x) => [x.dst, x.gw]),
            (r.routes ?? []).map((x) => [x.dst, x.gw]),
          );
          assert.deepEqual(
            (back.interfaces ?? []).map((i) => [i.name, i.mac, i.sandbox]),
            (r.interfaces ?? []).map((i) => [i.name, i.mac, i.sandbox]),
          );
          assert.deepEqual(back.dns, r.dns);
          if (v.startsWith("1.")) assert.deepEqual(back, { ...r, cniVersion: v });
        }),
        { numRuns: 300 },
      );
    });
  }

  for (const v of ["0.1.0", "0.2.0"]) {
    test(`${v}: the first address of each family survives, with its gateway`, () => {
      fc.assert(
        fc.property(resultArb, (r) => {
          const ips = r.ips ?? [];
          const isV4 = (ip: IpConfig): boolean => isIPv4(ip.address.split("/")[0] ?? "");
          const first = [ips.find(isV4), ips.find((ip) => !isV4(ip))].filter((x): x is IpConfig => x !== undefined);
          if (first.length === 0) {
            assert.throws(() => convertResult(r, v), CniError);
            return;
          }
          const back = parseResult(wire(convertResult(r, v)), v);
          assert.deepEqual(
            back.ips,
            first.map((ip) => (ip.gateway !== undefined ? { address: ip.address, gateway: ip.gateway } : { address: ip.address })),
          );
          assert.equal(back.interfaces, undefined);
        }),
        { numRuns: 300 },
      );
    });
  }
});
