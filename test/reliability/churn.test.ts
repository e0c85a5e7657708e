/**
 * Churn: 2,000 attachments, each ADDed then DELeted, 64 at a time, half on a bridge network and
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
/** Processes running at once (TETHER_CHURN_PROCESSES; default: as many as attachments in flight). */
const PROCESSES = Number(process.env["TETHER_CHURN_PROCESSES"] ?? PARALLEL);

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
    const worker = async (slot: number): Promise<void> => {
      const c = containers[slot]!;
      for (;;) {
        const i = next++;
        if (i >= ATTACHMENTS) return;
        const cf = i % 2 === 0 ? bridgeConf : ptpConf;
        const id = `churn-${i}`;
        const add = await sem.run(() => w.cniAsync("ADD", c, cf, { tether, containerId: id }));
        calls++;
        const addresses: string[] = [];
        if (add.status !== 0) failures.push(describeFailure(`ADD ${id}`, add));
        else {
          for (const ip of (JSON.parse(add.stdout) as Result).ips ?? []) {
            const a = ip.address.split("/")[0]!;
            const holder = live.get(a);
            if (holder !== undefined) duplicates.push(`${a}: ${id} and ${holder}`);
            live.set(a, id);
            addresses.push(a);
          }
          maxLive = Math.max(maxLive, live.size);
        }
        // Leaves the live set before DEL starts: once released, the address may go to another ADD.
        for (const a of addresses) if (live.get(a) === id) live.delete(a);
        const del = await sem.run(() => w.cniAsync("DEL", c, cf, { tether, containerId: id }));
        calls++;
        if (del.status !== 0 || del.stdout !== "") failures.push(describeFailure(`DEL ${id}`, del));
      }
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
