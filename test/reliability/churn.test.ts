/**
 * Churn: 2,000 attachments, each ADDed then DELeted, by 64 parallel workers, half on a bridge network and
 * half on a ptp network, dual-stack, all in one node namespace the test creates. Asserted: every
 * call succeeds, no address is held by two live attachments at any moment (the live set is tracked:
 * an attachment joins it when its ADD returns and leaves it just before its DEL starts), and at the
 * end the node is as before, both stores are empty and every container namespace is clean.
 */
import assert from "node:assert/strict";
import { join } from "node:path";
import { describe, test } from "node:test";
import { cniWorld, tetherCommand, type CniOutcome } from "../helpers/binary";
import { netnsUnavailable } from "../helpers/netns";
import { containerLeftovers, footprint, footprintDiff, report, reservationsIn, Semaphore, stableFootprint } from "../helpers/reliability";

const skip = netnsUnavailable();
const ATTACHMENTS = Number(process.env["TETHER_CHURN_ATTACHMENTS"] ?? 2000);
const PARALLEL = 64;
/**
 * tether processes running at once (TETHER_CHURN_PROCESSES). 64 workers keep 64 to 128 attachments
 * live and calls queued 64-way; on 2 shared cores, 16 processes at a time give the same throughput
 * (the calls are CPU-bound) without starving a lock holder into the 10 s IPAM lock timeout.
 */
const PROCESSES = Number(process.env["TETHER_CHURN_PROCESSES"] ?? 16);

interface Result {
  ips?: { address: string }[];
}

describe("reliability: churn", { skip, timeout: 3_600_000 }, () => {
  test(`${PARALLEL}-way parallel ADD/DEL over ${ATTACHMENTS} attachments, bridge and ptp, dual-stack`, async (t) => {
    const tether = tetherCommand();
    const w = cniWorld(t, { label: "churn" });
    const bridgeConf = { ...w.conf("1.1.0", { isGateway: true, isDefaultGateway: true }), name: `${w.network}-b` };
    const ptpConf = {
      ...w.conf("1.1.0", { mode: "ptp" }),
      name: `${w.network}-p`,
      ipam: { type: "tether-ipam", dataDir: w.dataDir, ranges: [[{ subnet: "10.89.0.0/24" }], [{ subnet: "fd00:89::/64" }]] },
    };
    const containers = Array.from({ length: PARALLEL }, (_, i) => w.container(`ch${i}`));
    // Shared state first (bridge, gateway, forwarding): the baseline is the node after one ADD + DEL of each.
    for (const cf of [bridgeConf, ptpConf]) {
      const c = containers[0]!;
      assert.equal(w.cni("ADD", c, cf, { tether }).status, 0);
      assert.equal(w.cni("DEL", c, cf, { tether }).status, 0);
    }
    const baseline = stableFootprint(footprint(w.node));

    const live = new Map<string, string>(); // address -> attachment
    const failures: string[] = [];
    const duplicates: string[] = [];
    let calls = 0;
    let maxLive = 0;
    let next = 0;
    const describeFailure = (what: string, o: CniOutcome): string => `${what}: exit ${o.status} ${o.signal ?? ""} ${o.stdout} ${o.stderr.slice(-500)}`;
    const started = performance.now();
    const sem = new Semaphore(PROCESSES);
    // Each worker keeps its last attachment while it makes the next one (eth0 and eth1 in turn in its
    // container), so 64 to 128 attachments are live at any moment, half bridge and half ptp.
    interface Live {
      id: string;
      cf: Record<string, unknown>;
      ifname: string;
      addresses: string[];
    }
    const del = async (c: (typeof containers)[number], a: Live): Promise<void> => {
      // Leaves the live set before DEL starts: once released, the address may go to another ADD.
      for (const ip of a.addresses) if (live.get(ip) === a.id) live.delete(ip);
      const o = await sem.run(() => w.cniAsync("DEL", c, a.cf, { tether, containerId: a.id, ifname: a.ifname }));
      calls++;
      if (o.status !== 0 || o.stdout !== "") failures.push(describeFailure(`DEL ${a.id}`, o));
    };
    const worker = async (slot: number): Promise<void> => {
      const c = containers[slot]!;
      let prev: Live | undefined;
      for (;;) {
        const i = next++;
        if (i >= ATTACHMENTS) break;
        // eth0 on the bridge network, eth1 on the ptp one: never two attachments of one network in a
        // container (their routes would clash, as with the reference plugins).
        const ifname = prev?.ifname === "eth0" ? "eth1" : "eth0";
        const cur: Live = { id: `churn-${i}`, cf: ifname === "eth0" ? bridgeConf : ptpConf, ifname, addresses: [] };
        const add = await sem.run(() => w.cniAsync("ADD", c, cur.cf, { tether, containerId: cur.id, ifname: cur.ifname }));
        calls++;
        if (add.status !== 0) failures.push(describeFailure(`ADD ${cur.id}`, add));
        else {
          for (const ip of (JSON.parse(add.stdout) as Result).ips ?? []) {
            const a = ip.address.split("/")[0]!;
            const holder = live.get(a);
            if (holder !== undefined) duplicates.push(`${a}: ${cur.id} and ${holder}`);
            live.set(a, cur.id);
            cur.addresses.push(a);
          }
          maxLive = Math.max(maxLive, live.size);
        }
        if (prev) await del(c, prev);
        prev = cur;
      }
      if (prev) await del(c, prev);
    };
    await Promise.all(containers.map((_, slot) => worker(slot)));
    const seconds = (performance.now() - started) / 1000;

    const leaks = [
      ...footprintDiff(baseline, stableFootprint(footprint(w.node))),
      ...[`${w.network}-b`, `${w.network}-p`].flatMap((net) => [...reservationsIn(join(w.dataDir, net))].map(([ip, o]) => `${net}: ${ip} ${JSON.stringify(o)}`)),
      ...containers.flatMap((c) => containerLeftovers(c).map((l) => `${c.name}: ${l}`)),
    ];
    report(t, {
      binary: tether.label,
      attachments: ATTACHMENTS,
      parallel: PARALLEL,
      processes: PROCESSES,
      calls,
      failedCalls: failures.length,
      duplicateAddresses: duplicates.length,
      maxLiveAddresses: maxLive,
      leaks: leaks.length,
      seconds: seconds.toFixed(0),
      callsPerSecond: (calls / seconds).toFixed(1),
    });
    assert.deepEqual(failures.slice(0, 5), [], `${failures.length} failed calls`);
    assert.deepEqual(duplicates, [], "addresses held twice");
    assert.deepEqual(leaks, [], "left behind");
    assert.equal(calls, 2 * ATTACHMENTS);
  });
});
