/**
 * allocateIn() on the two stores: the same requests give the same answers on the in-memory store and
 * on the host-local disk store (round robin, requested addresses, duplicates, exhaustion, rollback of
 * a later range set's failure).
 */
import assert from "node:assert/strict";
import { isIP } from "node:net";
import { describe, it } from "node:test";
import { ErrorCode } from "../../src/cni/errors";
import { allocateIn, openStore } from "../../src/ipam/index";
import type { IpamStore } from "../../src/ipam/store";
import { config, dataDirs } from "../helpers/ipamFixtures";
import { MemoryStore } from "../helpers/memoryStore";
import { refusedWith } from "../helpers/refusal";

const dataDir = dataDirs();
const IPAM = { ranges: [[{ subnet: "10.5.0.0/29" }], [{ subnet: "fd05::/125" }]] };

function stores(): { name: string; make: () => { store: IpamStore; held: () => string[] } }[] {
  return [
    {
      name: "memory",
      make: () => {
        const m = new MemoryStore();
        return { store: m, held: () => [...m.held.keys()].sort() };
      },
    },
    {
      name: "disk",
      make: () => {
        const cfg = config(dataDir(), IPAM);
        const s = openStore(cfg, {}, true);
        // Reserved addresses are the names that parse as one (the store also holds lock, last_reserved_ip.N).
        return { store: s, held: () => s.withLock(() => [...s.names()].filter((n) => isIP(n) !== 0).sort()) };
      },
    },
  ];
}

for (const { name, make } of stores()) {
  describe(`allocateIn on the ${name} store`, () => {
    it("round robin per range set, one address per set, requested addresses honoured", () => {
      const { store, held } = make();
      const cfg = config("/nonexistent", IPAM);
      const a = allocateIn(() => store, cfg, { containerId: "c1", ifname: "eth0" });
      assert.deepEqual(a.ips.map((i) => i.address), ["10.5.0.2/29", "fd05::2/125"]);
      const b = allocateIn(() => store, cfg, { containerId: "c2", ifname: "eth0" });
      assert.deepEqual(b.ips.map((i) => i.address), ["10.5.0.3/29", "fd05::3/125"]);
      const c = allocateIn(() => store, cfg, { containerId: "c3", ifname: "eth0", requestedIps: ["10.5.0.6", "fd05::6"] });
      assert.deepEqual(c.ips.map((i) => i.address), ["10.5.0.6/29", "fd05::6/125"]);
      assert.deepEqual(held(), ["10.5.0.2", "10.5.0.3", "10.5.0.6", "fd05::2", "fd05::3", "fd05::6"]);
    });

    it("a duplicate owner, a taken requested address and an exhausted set are refused; a failed later set releases the earlier", () => {
      const { store, held } = make();
      const cfg = config("/nonexistent", IPAM);
      allocateIn(() => store, cfg, { containerId: "c1", ifname: "eth0" });
      const code = (c: number) => refusedWith(c);
      assert.throws(() => allocateIn(() => store, cfg, { containerId: "c1", ifname: "eth0" }), code(ErrorCode.AddressUnavailable));
      assert.throws(() => allocateIn(() => store, cfg, { containerId: "c2", ifname: "eth0", requestedIps: ["10.5.0.2", "fd05::5"] }), code(ErrorCode.AddressUnavailable));
      assert.deepEqual(held(), ["10.5.0.2", "fd05::2"], "the failed request left nothing behind");
      // /29: .2 to .6 usable (.1 the gateway, .7 broadcast): 4 more, then exhausted.
      for (const id of ["c2", "c3", "c4", "c5"]) allocateIn(() => store, cfg, { containerId: id, ifname: "eth0" });
      assert.throws(() => allocateIn(() => store, cfg, { containerId: "c6", ifname: "eth0" }), code(ErrorCode.IpamExhausted));
      assert.equal(held().filter((n) => n.includes(":")).length, 5, "no IPv6 address kept for the refused c6");
    });
  });
}
