/** The network configuration: name, field paths in messages, cross-field rules, runtimeConfig keys. */
import assert from "node:assert/strict";
import { describe, test } from "node:test";
import { z } from "zod";
import { CniError } from "../../src/cni/errors";
import { toCniError } from "../../src/cni/mapError";
import { ConfigError } from "../../src/config/errors";
import { formatPath, isCidr } from "../../src/config/common";
import { Cidr, IpAddress, LooseBool, parseWith } from "../../src/config/schemas/common";
import { loadNetConf, validAttachments } from "../../src/config/netconf";
import { normalizeKeys } from "../../src/config/runtimeConfig";

const BASE = { cniVersion: "1.0.0", name: "tether-net", type: "tether" } as const;

/** The CNI error fn's failure reaches the runtime as (through src/cni/mapError.ts). */
function cniError(fn: () => unknown): CniError {
  try {
    fn();
  } catch (e) {
    const mapped = toCniError(e);
    assert.ok(mapped instanceof CniError, `expected an error mapped to a CniError, got ${String(e)}`);
    return mapped;
  }
  assert.fail("expected a CniError, nothing was thrown");
}

/** loadNetConf must fail with code 7 and a message starting with the field's path. */
function configFails(raw: Record<string, unknown>, path: string): CniError {
  const e = cniError(() => loadNetConf(raw));
  assert.equal(e.code, 7);
  assert.ok(e.message.startsWith(`${path}: `), `message ${JSON.stringify(e.message)} should start with "${path}: "`);
  return e;
}

describe("network name", () => {
  test("missing -> code 7 naming `name`", () => {
    configFails({ cniVersion: "1.0.0", type: "tether" }, "name");
  });
  for (const name of ["", "-net", "_net", ".net", "my net", "a/b", "a:b", "net\n", "ä", "../etc"]) {
    test(`${JSON.stringify(name)} -> code 7 naming \`name\``, () => {
      configFails({ ...BASE, name }, "name");
    });
  }
  for (const name of [1, null, true, ["n"]]) {
    test(`non-string ${JSON.stringify(name)} -> code 7 naming \`name\``, () => {
      configFails({ ...BASE, name }, "name");
    });
  }
  for (const name of ["n", "0", "tether-net", "k8s-pod-network", "a.b_c-d", "N1"]) {
    test(`${JSON.stringify(name)} is accepted`, () => {
      assert.equal(loadNetConf({ ...BASE, name }).name, name);
    });
  }
});

describe("field paths in messages", () => {
  test("type missing", () => {
    configFails({ cniVersion: "1.0.0", name: "n" }, "type");
  });
  for (const mtu of [67, 65536, 1500.5, "1500", -1]) {
    test(`mtu ${JSON.stringify(mtu)} -> \`mtu\``, () => {
      configFails({ ...BASE, mtu }, "mtu");
    });
  }
  test("mtu 0 means the kernel's default, as for the reference plugins", () => {
    assert.equal(loadNetConf({ ...BASE, mtu: 0 }).mtu, undefined);
  });
  test("mtu 68 and 65535 are accepted", () => {
    assert.equal(loadNetConf({ ...BASE, mtu: 68 }).mtu, 68);
    assert.equal(loadNetConf({ ...BASE, mtu: 65535 }).mtu, 65535);
  });
  for (const vlan of [4095, -1, 1.5, "10"]) {
    test(`vlan ${JSON.stringify(vlan)} -> \`vlan\``, () => {
      configFails({ ...BASE, vlan }, "vlan");
    });
  }
  test("vlan 0 and 4094 are accepted", () => {
    assert.equal(loadNetConf({ ...BASE, vlan: 4094 }).vlan, 4094);
    assert.equal(loadNetConf({ ...BASE }).vlan, 0);
  });
  test("mode must be bridge or ptp", () => {
    const e = configFails({ ...BASE, mode: "macvlan" }, "mode");
    assert.match(e.message, /bridge/);
  });
  test("ipMasqBackend", () => {
    configFails({ ...BASE, ipMasqBackend: "ebtables" }, "ipMasqBackend");
  });
  test("runtimeConfig.ips[1]", () => {
    const e = configFails({ ...BASE, runtimeConfig: { ips: ["10.0.0.5/24", "10.0.0.300"] } }, "runtimeConfig.ips[1]");
    assert.match(e.message, /10\.0\.0\.300/);
  });
  test("runtimeConfig.mac", () => {
    configFails({ ...BASE, runtimeConfig: { mac: "zz:11:22:33:44:55" } }, "runtimeConfig.mac");
  });
  test("args.cni.ips[0]", () => {
    configFails({ ...BASE, args: { cni: { ips: ["nope"] } } }, "args.cni.ips[0]");
  });
  test("args.cni.mac", () => {
    configFails({ ...BASE, args: { cni: { mac: "1:2:3" } } }, "args.cni.mac");
  });
  test("dns.nameservers", () => {
    configFails({ ...BASE, dns: { nameservers: "10.0.0.1" } }, "dns.nameservers");
  });
  test("log.level", () => {
    configFails({ ...BASE, log: { level: "verbose" } }, "log.level");
  });
  test("log.file must be absolute", () => {
    const e = configFails({ ...BASE, log: { file: "tether.log" } }, "log.file");
    assert.match(e.message, /absolute/);
  });
  test("log: unknown keys are refused", () => {
    const e = cniError(() => loadNetConf({ ...BASE, log: { level: "debug", fiel: "/x" } }));
    assert.equal(e.code, 7);
    assert.match(e.message, /^log/);
    assert.match(e.message, /fiel/);
  });
  test("capabilities must map names to booleans", () => {
    configFails({ ...BASE, capabilities: { portMappings: "yes" } }, "capabilities.portMappings");
  });
  test("cniVersion must be a string", () => {
    configFails({ ...BASE, cniVersion: 1 }, "cniVersion");
  });
  test("several problems: the first in msg, all in details", () => {
    const e = cniError(() => loadNetConf({ ...BASE, mtu: 70000, vlan: 9999 }));
    assert.equal(e.code, 7);
    assert.ok(e.details !== undefined);
    assert.match(e.details, /mtu: /);
    assert.match(e.details, /vlan: /);
  });
  test("a config that is not an object", () => {
    for (const raw of [null, [], "x", 1]) assert.equal(cniError(() => loadNetConf(raw)).code, 7);
  });
});

describe("parseWith and formatPath", () => {
  const Ranges = z.object({
    ipam: z.object({
      ranges: z.array(z.array(z.object({ subnet: Cidr, gateway: z.optional(IpAddress) }))),
    }),
  });
  test("nested arrays: ipam.ranges[0][0].subnet", () => {
    const e = cniError(() => parseWith(Ranges, { ipam: { ranges: [[{ subnet: "10.0.0.0/33" }]] } }));
    assert.equal(e.code, 7);
    assert.equal(e.message, 'ipam.ranges[0][0].subnet: "10.0.0.0/33" is not a CIDR');
  });
  test("deeper indexes: ipam.ranges[1][2].gateway", () => {
    const e = cniError(() =>
      parseWith(Ranges, {
        ipam: { ranges: [[{ subnet: "10.0.0.0/24" }], [{ subnet: "10.1.0.0/24" }, { subnet: "10.2.0.0/24" }, { subnet: "10.3.0.0/24", gateway: "10.3.0.256" }]] },
      }),
    );
    assert.equal(e.message, 'ipam.ranges[1][2].gateway: "10.3.0.256" is not an IP address');
  });
  test("a prefix is put before the path", () => {
    const e = cniError(() => parseWith(z.object({ subnet: Cidr }), { subnet: "x" }, { prefix: "ipam" }));
    assert.equal(e.message, 'ipam.subnet: "x" is not a CIDR');
  });
  test("the config layer's error names the field; it reaches the runtime as code 7", () => {
    let thrown: unknown;
    try {
      parseWith(z.object({ a: z.object({ b: z.string() }) }), { a: {} }, { prefix: "ipam" });
    } catch (e) {
      thrown = e;
    }
    assert.ok(thrown instanceof ConfigError);
    assert.equal(thrown.field, "ipam.a.b");
    assert.equal(cniError(() => { throw thrown; }).code, 7);
  });
  test("a single issue has no details; several list them all", () => {
    const one = cniError(() => parseWith(z.object({ a: z.string() }), {}));
    assert.equal(one.details, undefined);
    const two = cniError(() => parseWith(z.object({ a: z.string(), b: z.number() }), {}));
    assert.match(two.details ?? "", /a: .*; b: /);
  });
  test("formatPath", () => {
    assert.equal(formatPath([]), "(config)");
    assert.equal(formatPath(["a", 0, "b"]), "a[0].b");
    assert.equal(formatPath([0, 1]), "[0][1]");
    assert.equal(formatPath([0], "ipam"), "ipam[0]");
    assert.equal(formatPath(["x"], "ipam"), "ipam.x");
  });
  test("isCidr", () => {
    for (const c of ["10.0.0.0/8", "0.0.0.0/0", "10.0.0.1/32", "::/0", "fd00::/64", "fd00::1/128"]) assert.ok(isCidr(c), c);
    for (const c of ["10.0.0.0", "10.0.0.0/33", "fd00::/129", "10.0.0.0/", "10.0.0.0/a", "x/8", "10.0.0.0/8/8", "10.0.0.256/8", "/8", ""]) {
      assert.ok(!isCidr(c), c);
    }
  });
});

describe("LooseBool", () => {
  test("JSON booleans and the strings true/false", () => {
    assert.equal(LooseBool.parse(true), true);
    assert.equal(LooseBool.parse(false), false);
    assert.equal(LooseBool.parse("true"), true);
    assert.equal(LooseBool.parse("false"), false);
  });
  for (const v of ["True", "yes", "1", 1, 0, null, ""]) {
    test(`${JSON.stringify(v)} is refused`, () => {
      assert.equal(LooseBool.safeParse(v).success, false);
    });
  }
  for (const key of ["isGateway", "isDefaultGateway", "forceAddress", "ipMasq", "hairpinMode", "promiscMode", "enabledad", "disableContainerInterface", "portIsolation", "macspoofchk", "ipspoofchk"]) {
    test(`${key}: "true" -> true, "false" -> false, "yes" -> code 7 naming ${key}`, () => {
      const on = loadNetConf({ ...BASE, [key]: "true" }) as unknown as Record<string, unknown>;
      assert.equal(on[key], true);
      const off = loadNetConf({ ...BASE, [key]: "false" }) as unknown as Record<string, unknown>;
      assert.equal(off[key], false);
      configFails({ ...BASE, [key]: "yes" }, key);
    });
  }
  test("defaults", () => {
    const c = loadNetConf({ ...BASE });
    assert.equal(c.mode, "bridge");
    assert.equal(c.vlan, 0);
    for (const v of [c.isGateway, c.isDefaultGateway, c.forceAddress, c.ipMasq, c.hairpinMode, c.promiscMode, c.disableContainerInterface]) {
      assert.equal(v, false);
    }
  });
});

describe("cross-field rules", () => {
  test("hairpinMode with promiscMode -> code 7", () => {
    const e = configFails({ ...BASE, hairpinMode: true, promiscMode: true }, "hairpinMode");
    assert.match(e.message, /promiscMode/);
  });
  test("hairpinMode with promiscMode as strings -> code 7", () => {
    configFails({ ...BASE, hairpinMode: "true", promiscMode: "true" }, "hairpinMode");
  });
  test("either alone is fine", () => {
    assert.equal(loadNetConf({ ...BASE, hairpinMode: true }).hairpinMode, true);
    assert.equal(loadNetConf({ ...BASE, promiscMode: true }).promiscMode, true);
    assert.doesNotThrow(() => loadNetConf({ ...BASE, hairpinMode: true, promiscMode: false }));
  });
  test("disableContainerInterface with an IPAM -> code 7", () => {
    const e = configFails({ ...BASE, disableContainerInterface: true, ipam: { type: "host-local" } }, "disableContainerInterface");
    assert.match(e.message, /host-local/);
  });
  test("disableContainerInterface without an IPAM (or with an empty ipam) is fine", () => {
    assert.equal(loadNetConf({ ...BASE, disableContainerInterface: true }).disableContainerInterface, true);
    assert.doesNotThrow(() => loadNetConf({ ...BASE, disableContainerInterface: true, ipam: {} }));
  });
  test("ptp needs an IPAM", () => {
    configFails({ ...BASE, mode: "ptp" }, "ipam.type");
    configFails({ ...BASE, mode: "ptp", ipam: {} }, "ipam.type");
    assert.equal(loadNetConf({ ...BASE, mode: "ptp", ipam: { type: "host-local" } }).mode, "ptp");
  });
  test("bridge does not need an IPAM (L2 only)", () => {
    assert.equal(loadNetConf({ ...BASE, mode: "bridge" }).ipam, undefined);
  });
  test("isDefaultGateway implies isGateway", () => {
    assert.equal(loadNetConf({ ...BASE, isDefaultGateway: true }).isGateway, true);
    assert.equal(loadNetConf({ ...BASE, isDefaultGateway: "true" }).isGateway, true);
    assert.equal(loadNetConf({ ...BASE, isDefaultGateway: true, isGateway: false }).isGateway, true);
    assert.equal(loadNetConf({ ...BASE }).isGateway, false);
  });
});

describe("runtimeConfig: capability keys are matched case-insensitively", () => {
  test("containerd's portMappings", () => {
    const c = loadNetConf({
      ...BASE,
      runtimeConfig: { PortMappings: [{ HostPort: 80, ContainerPort: 8080, Protocol: "tcp", HostIP: "" }] },
    });
    const rc = c.runtimeConfig as Record<string, unknown>;
    assert.deepEqual(rc["portMappings"], [{ hostPort: 80, containerPort: 8080, protocol: "tcp", hostIP: "" }]);
    assert.ok(!("PortMappings" in rc));
  });
  test("containerd's dns (Servers/Searches/Options)", () => {
    const c = loadNetConf({ ...BASE, runtimeConfig: { Dns: { Servers: ["10.96.0.10"], Searches: ["svc.cluster.local"], Options: ["ndots:5"] } } });
    assert.deepEqual(c.runtimeConfig?.dns, { servers: ["10.96.0.10"], searches: ["svc.cluster.local"], options: ["ndots:5"] });
  });
  test("the dns fields are validated once normalised", () => {
    configFails({ ...BASE, runtimeConfig: { DNS: { SERVERS: "10.96.0.10" } } }, "runtimeConfig.dns.servers");
  });
  test("IPs and Mac", () => {
    const c = loadNetConf({ ...BASE, runtimeConfig: { IPs: ["10.0.0.5/24", "fd00::5"], Mac: "c2:11:22:33:44:55" } });
    assert.deepEqual(c.runtimeConfig?.ips, ["10.0.0.5/24", "fd00::5"]);
    assert.equal(c.runtimeConfig?.mac, "c2:11:22:33:44:55");
  });
  test("a capitalised key is validated like the canonical one", () => {
    configFails({ ...BASE, runtimeConfig: { IPS: ["bogus"] } }, "runtimeConfig.ips[0]");
    configFails({ ...BASE, runtimeConfig: { MAC: "bogus" } }, "runtimeConfig.mac");
  });
  test("ipRanges (Subnet/RangeStart/RangeEnd/Gateway)", () => {
    const rc = loadNetConf({
      ...BASE,
      runtimeConfig: { IpRanges: [[{ Subnet: "10.1.0.0/16", RangeStart: "10.1.0.10", RangeEnd: "10.1.0.20", Gateway: "10.1.0.1" }]] },
    }).runtimeConfig as Record<string, unknown>;
    assert.deepEqual(rc["ipRanges"], [[{ subnet: "10.1.0.0/16", rangeStart: "10.1.0.10", rangeEnd: "10.1.0.20", gateway: "10.1.0.1" }]]);
  });
  test("bandwidth (IngressRate...)", () => {
    const rc = loadNetConf({
      ...BASE,
      runtimeConfig: { Bandwidth: { IngressRate: 1000, IngressBurst: 4294967295, EgressRate: 2000, EgressBurst: 4294967295 } },
    }).runtimeConfig as Record<string, unknown>;
    assert.deepEqual(rc["bandwidth"], { ingressRate: 1000, ingressBurst: 4294967295, egressRate: 2000, egressBurst: 4294967295 });
  });
  test("other capability names", () => {
    const out = normalizeKeys({ InfinibandGUID: "x", DEVICEID: "y", Aliases: ["a"], CgroupPath: "/kubepods" });
    assert.deepEqual(out, { infinibandGUID: "x", deviceID: "y", aliases: ["a"], cgroupPath: "/kubepods" });
  });
  test("unknown keys pass through unchanged, values are never touched", () => {
    const out = normalizeKeys({ "io.kubernetes.cri.pod-annotations": { "example.com/x": "HostPort" }, Custom: { Inner: "Mac" } });
    assert.deepEqual(out, { "io.kubernetes.cri.pod-annotations": { "example.com/x": "HostPort" }, Custom: { Inner: "Mac" } });
  });
  test("pod annotations and unknown capabilities are user data: their keys are never rewritten", () => {
    const input = {
      "io.kubernetes.cri.pod-annotations": { Protocol: "x", Gateway: "y", Options: "z", mac: "w" },
      someCapability: { HostPort: 1 },
    };
    assert.deepEqual(normalizeKeys(input), input);
    const c = loadNetConf({ ...BASE, runtimeConfig: input }) as unknown as { runtimeConfig: Record<string, unknown> };
    assert.deepEqual(c.runtimeConfig["io.kubernetes.cri.pod-annotations"], { Protocol: "x", Gateway: "y", Options: "z", mac: "w" });
  });
  test("lowerCamel keys (CRI-O) are kept", () => {
    const input = { portMappings: [{ hostPort: 80, containerPort: 80, protocol: "udp" }] };
    assert.deepEqual(normalizeKeys(input), input);
  });
  test("the raw request is not modified", () => {
    const raw = { ...BASE, runtimeConfig: { PortMappings: [{ HostPort: 80 }] } };
    loadNetConf(raw);
    assert.deepEqual(raw.runtimeConfig, { PortMappings: [{ HostPort: 80 }] });
  });
});

describe("GC attachments", () => {
  const a = [{ containerID: "c1", ifname: "eth0" }];
  const b = [{ containerID: "c2", ifname: "net1" }];
  test("cni.dev/valid-attachments", () => {
    assert.deepEqual(validAttachments(loadNetConf({ ...BASE, cniVersion: "1.1.0", "cni.dev/valid-attachments": a })), a);
  });
  test("cni.dev/attachments (the spec-v1.1.0 tag's name)", () => {
    assert.deepEqual(validAttachments(loadNetConf({ ...BASE, cniVersion: "1.1.0", "cni.dev/attachments": b })), b);
  });
  test("both: valid-attachments wins", () => {
    assert.deepEqual(validAttachments(loadNetConf({ ...BASE, cniVersion: "1.1.0", "cni.dev/valid-attachments": a, "cni.dev/attachments": b })), a);
  });
  test("neither: undefined (delete nothing); an empty list is a list (everything stale)", () => {
    assert.equal(validAttachments(loadNetConf({ ...BASE, cniVersion: "1.1.0" })), undefined);
    assert.deepEqual(validAttachments(loadNetConf({ ...BASE, cniVersion: "1.1.0", "cni.dev/valid-attachments": [] })), []);
  });
  test("a malformed entry names its path", () => {
    configFails({ ...BASE, "cni.dev/valid-attachments": [{ containerID: "c1" }] }, "cni.dev/valid-attachments[0].ifname");
    configFails({ ...BASE, "cni.dev/attachments": "c1" }, "cni.dev/attachments");
  });
});

describe("tolerance", () => {
  test("unknown top-level keys and a left-over capabilities map are accepted", () => {
    const c = loadNetConf({ ...BASE, capabilities: { portMappings: true }, somethingElse: { x: 1 } }) as unknown as Record<string, unknown>;
    assert.deepEqual(c["capabilities"], { portMappings: true });
    assert.deepEqual(c["somethingElse"], { x: 1 });
  });
  test("prevResult of any shape is left for the result parser", () => {
    assert.doesNotThrow(() => loadNetConf({ ...BASE, prevResult: { cniVersion: "1.0.0", ips: [] } }));
  });
  test("args with unknown keys is accepted (plugins that do not understand args ignore it)", () => {
    assert.doesNotThrow(() => loadNetConf({ ...BASE, args: { cni: { labels: [{ key: "a", value: "b" }] }, other: 1 } }));
  });
});
