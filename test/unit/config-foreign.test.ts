/**
 * Foreign bytes of a network configuration in error messages (issue 18 item 10, review): a 50 KB
 * value with control bytes in any field appears quoted and cut; a bridge name the kernel cannot take
 * is refused as a configuration error (7), not left for the kernel to refuse (103, 200 KB message).
 */
import assert from "node:assert/strict";
import { describe, test } from "node:test";
import { CniError } from "../../src/cni/errors";
import { loadIpamConfig, type IpamNetConf } from "../../src/config/ipam";
import { loadNetConf } from "../../src/config/netconf";
import { refusal } from "../helpers/refusal";

const HUGE = "w".repeat(50_000) + "\x1b[31m";
const base = { cniVersion: "1.1.0", name: "n", type: "tether" };
const ipam = (over: Record<string, unknown>) => ({ type: "tether-ipam", dataDir: "/tmp/x", ranges: [[{ subnet: "10.0.0.0/24" }]], ...over });


function assertTame(e: CniError, code: number, names: RegExp): void {
  assert.equal(e.code, code, e.message.slice(0, 200));
  assert.match(e.message, names);
  assert.ok(e.message.length + (e.details ?? "").length < 500, `message of ${e.message.length} characters`);
  assert.doesNotMatch(e.message + (e.details ?? ""), /[\x00-\x1f\x7f]/);
}

const ipamLoad = (i: Record<string, unknown>) => loadIpamConfig({ cniVersion: "1.1.0", name: "n", ipam: i } as unknown as IpamNetConf);

describe("foreign bytes of a configuration in messages", () => {
  test("name", () => assertTame(refusal(() => loadNetConf({ ...base, name: HUGE })), 7, /^name/));
  test("bridge: longer than an interface name can be", () => assertTame(refusal(() => loadNetConf({ ...base, bridge: HUGE })), 7, /^bridge/));
  test("bridge: 16 bytes is refused as configuration, 15 taken", () => {
    assertTame(refusal(() => loadNetConf({ ...base, bridge: "b".repeat(16) })), 7, /^bridge.*15/);
    assert.equal(loadNetConf({ ...base, bridge: "b".repeat(15) }).bridge, "b".repeat(15));
  });
  test("bridge: a slash", () => assertTame(refusal(() => loadNetConf({ ...base, bridge: "a/b" })), 7, /^bridge/));
  test("ipam.dataDir relative", () => assertTame(refusal(() => ipamLoad(ipam({ dataDir: HUGE }))), 7, /dataDir/));
  test("ipam subnet", () => assertTame(refusal(() => ipamLoad(ipam({ ranges: [[{ subnet: HUGE }]] }))), 7, /subnet/));
  test("ipam gateway", () => assertTame(refusal(() => ipamLoad(ipam({ ranges: [[{ subnet: "10.0.0.0/24", gateway: HUGE }]] }))), 7, /gateway/));
  test("ipam route", () => assertTame(refusal(() => ipamLoad(ipam({ routes: [{ dst: HUGE }] }))), 7, /dst/));
});
