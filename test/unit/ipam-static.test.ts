/** tether-ipam's static form: the reference `static` plugin's shape, sources and precedence. */
import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { loadIpamConfig, loadStaticIpamConfig } from "../../src/config/ipam";
import { staticAdd, staticCheck } from "../../src/ipam/static";
import { refusedWith } from "../helpers/refusal";

const base = (ipam: Record<string, unknown>, extra: Record<string, unknown> = {}) => ({
  name: "net",
  cniVersion: "1.0.0",
  ipam: { type: "tether-ipam", ...ipam },
  ...extra,
});
const ADDRS = [{ address: "10.10.0.1/24", gateway: "10.10.0.254" }];

describe("static tether-ipam", () => {
  it("returns the configured addresses, routes and dns", () => {
    const cfg = loadStaticIpamConfig(base({ addresses: ADDRS, routes: [{ dst: "0.0.0.0/0" }], dns: { nameservers: ["8.8.8.8"], search: [] } }));
    assert.deepEqual(staticAdd(cfg), { ips: [{ address: "10.10.0.1/24", gateway: "10.10.0.254" }], routes: [{ dst: "0.0.0.0/0" }], dns: { nameservers: ["8.8.8.8"] } });
  });
  it("CNI_ARGS IP= appends, GATEWAY= applies to those of its family; args.cni.ips replaces; runtimeConfig.ips replaces again", () => {
    const env = { ips: ["10.10.0.9/24", "fd00::9/64"], gateways: ["10.10.0.253"] };
    assert.deepEqual(loadStaticIpamConfig(base({ addresses: ADDRS }), env).addresses, [
      { address: "10.10.0.1/24", gateway: "10.10.0.254" },
      { address: "10.10.0.9/24", gateway: "10.10.0.253" },
      { address: "fd00::9/64" },
    ]);
    const withArgs = base({ addresses: ADDRS }, { args: { cni: { ips: ["10.1.1.1/24"] } } });
    assert.deepEqual(loadStaticIpamConfig(withArgs, env).addresses, [{ address: "10.1.1.1/24" }]);
    const withRc = base({ addresses: ADDRS }, { args: { cni: { ips: ["10.1.1.1/24"] } }, runtimeConfig: { ips: ["10.2.2.2/24"] } });
    assert.deepEqual(loadStaticIpamConfig(withRc, env).addresses, [{ address: "10.2.2.2/24" }]);
  });
  it("prints addresses, gateways and routes as the reference static plugin does (Go's canonical text)", () => {
    // Each expectation is what /usr/lib/cni/static printed for the same configuration.
    const cfg = loadStaticIpamConfig(
      base({
        addresses: [{ address: "FD00:0::1/64", gateway: "FD00::FE" }, { address: "10.0.0.5/0024" }, { address: "::ffff:10.0.1.5/120" }, { address: "::ffff:10.0.2.5/64" }],
        routes: [{ dst: "FD00:0::/8", gw: "::ffff:10.0.0.1" }, { dst: "10.1.2.3/016" }],
      }),
      { ips: ["10.3.0.5/024"], gateways: ["::FFFF:10.3.0.1"] },
    );
    assert.deepEqual(staticAdd(cfg), {
      ips: [
        { address: "fd00::1/64", gateway: "fd00::fe" },
        { address: "10.0.0.5/24" },
        { address: "10.0.1.5/24" },
        { address: "10.0.2.5/0" },
        { address: "10.3.0.5/24", gateway: "10.3.0.1" },
      ],
      routes: [{ dst: "fd00::/8", gw: "10.0.0.1" }, { dst: "10.1.2.3/16" }],
    });
    assert.doesNotThrow(() => staticCheck(cfg, { cniVersion: "1.0.0", ips: [{ address: "fd00::1/64", gateway: "fd00::fe" }, { address: "10.0.0.5/24" }, { address: "10.0.1.5/24" }, { address: "10.0.2.5/0" }, { address: "10.3.0.5/24", gateway: "10.3.0.1" }] }, "eth0"));
  });
  it("every address must be a CIDR, wherever it comes from; a pool and static addresses do not mix", () => {
    const code7 = (re: RegExp) => refusedWith(7, re);
    assert.throws(() => loadStaticIpamConfig(base({ addresses: [{ address: "10.10.0.1" }] })), code7(/ipam\.addresses\[0\]\.address: "10\.10\.0\.1" is not in CIDR/));
    assert.throws(() => loadStaticIpamConfig(base({ addresses: [] }), { ips: ["10.0.0.1"] }), code7(/CNI_ARGS IP/));
    assert.throws(() => loadStaticIpamConfig(base({ addresses: [] }, { runtimeConfig: { ips: ["10.0.0.1"] } })), code7(/runtimeConfig\.ips\[0\]/));
    assert.throws(() => loadStaticIpamConfig(base({ addresses: ADDRS, subnet: "10.0.0.0/24" })), code7(/cannot be combined/));
    assert.throws(() => loadIpamConfig(base({ addresses: ADDRS })), code7(/ipam\.addresses/));
    assert.throws(() => loadStaticIpamConfig({ ...base({ addresses: [{ address: "10.0.0.1/24" }, { address: "10.0.0.2/24" }] }), cniVersion: "0.2.0" }), code7(/more than one IPv4/));
  });
  it("CHECK: each configured address (and gateway) must be in prevResult", () => {
    const cfg = loadStaticIpamConfig(base({ addresses: [...ADDRS, { address: "fd00::1/64" }] }));
    const prev = { cniVersion: "1.0.0", ips: [{ address: "10.10.0.1/24", gateway: "10.10.0.254" }, { address: "fd00:0::1/64" }, { address: "10.9.9.9/24" }] };
    staticCheck(cfg, prev, "eth0");
    const code104 = refusedWith(104);
    assert.throws(() => staticCheck(cfg, { ...prev, ips: [{ address: "10.10.0.1/24", gateway: "10.10.0.1" }, { address: "fd00::1/64" }] }, "eth0"), code104);
    assert.throws(() => staticCheck(cfg, { ...prev, ips: [{ address: "10.10.0.1/24", gateway: "10.10.0.254" }] }, "eth0"), code104);
    assert.throws(() => staticCheck(cfg, undefined, "eth0"), refusedWith(7));
  });
});
