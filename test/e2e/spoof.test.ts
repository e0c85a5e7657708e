/**
 * macspoofchk and ipspoofchk end to end: a container sends with another source MAC, or with a source
 * address that is not its own, and the packets are dropped; its real ones pass. A network without the
 * checks carries the same spoofed packets (the control), so the drop is the check's doing.
 */
import assert from "node:assert/strict";
import { describe, test, type TestContext } from "node:test";
import { cniWorld, successEmpty, successJson, type CniWorld } from "../helpers/binary";
import { netnsUnavailable, type TestNetns } from "../helpers/netns";

const skip = netnsUnavailable();
const TIMEOUT = 600_000;
const SPOOFED_IP = "10.94.0.200";
const SPOOFED_MAC = "02:de:ad:be:ef:01";

interface Result {
  interfaces?: { name: string; mac?: string; sandbox?: string }[];
  ips?: { address: string }[];
}

function world(t: TestContext, label: string): CniWorld {
  return cniWorld(t, { ranges: [[{ subnet: "10.94.0.0/24" }]], label });
}

/** Ping `to` from `from` with source `src`: true when answered. */
function pingFrom(c: TestNetns, src: string, to: string): boolean {
  return c.tryExec(["ping", "-c1", "-W3", "-I", src, to]).status === 0;
}

/** The container claims an address that is not its own (reachable back through its host veth in ptp). */
function claimSpoofedAddress(w: CniWorld, c: TestNetns, r: Result, mode: string): void {
  c.exec(["ip", "addr", "add", `${SPOOFED_IP}/32`, "dev", "eth0"]);
  if (mode === "ptp") w.node.exec(["ip", "route", "add", `${SPOOFED_IP}/32`, "dev", r.interfaces![0]!.name]);
}

function ipOf(r: Result): string {
  return r.ips![0]!.address.split("/")[0]!;
}

function containerMac(r: Result): string {
  return r.interfaces!.find((i) => i.sandbox !== undefined)!.mac!;
}

describe("anti-spoofing", { skip, timeout: TIMEOUT }, () => {
  for (const mode of ["bridge", "ptp"] as const) {
    test(`${mode} mode: spoofed source MAC and address are dropped with the checks, carried without`, (t) => {
      for (const checked of [false, true]) {
        const w = world(t, `spoof-${mode}-${checked ? "on" : "off"}`);
        const cf = w.conf("1.1.0", { mode, isGateway: true, ...(checked ? { macspoofchk: true, ipspoofchk: true } : {}) });
        const [c1, c2] = [w.container("s1"), w.container("s2")];
        const r1 = successJson<Result>(w.cni("ADD", c1, cf));
        const r2 = successJson<Result>(w.cni("ADD", c2, cf));
        const peer = ipOf(r2);
        assert.ok(c1.ping(peer, 5), `${mode}/${checked}: real packets pass`);
        if (checked) successEmpty(w.cni("CHECK", c1, { ...cf, prevResult: r1 }));

        claimSpoofedAddress(w, c1, r1, mode);
        assert.equal(pingFrom(c1, SPOOFED_IP, peer), !checked, `${mode}: spoofed source address ${checked ? "dropped" : "carried"}`);
        assert.ok(pingFrom(c1, ipOf(r1), peer), `${mode}: the real source address still passes`);

        c1.exec(["ip", "neigh", "flush", "all"]);
        c1.exec(["ip", "link", "set", "eth0", "address", SPOOFED_MAC]);
        assert.equal(c1.ping(peer, 3), !checked, `${mode}: spoofed source MAC ${checked ? "dropped" : "carried"}`);
        c1.exec(["ip", "link", "set", "eth0", "address", containerMac(r1)]);
        c1.exec(["ip", "neigh", "flush", "all"]);
        assert.ok(c1.ping(peer, 5), `${mode}: the real MAC passes again`);

        successEmpty(w.cni("DEL", "", cf, { containerId: w.containerId(c1) }));
        successEmpty(w.cni("DEL", c1, cf));
        successEmpty(w.cni("DEL", c2, { ...cf, prevResult: r2 }));
        assert.doesNotMatch(w.node.exec(["nft", "list", "ruleset"]), /tether/);
      }
    });
  }
});
