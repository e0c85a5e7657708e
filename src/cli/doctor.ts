/**
 * `tether doctor [--conf FILE] [--fix]`: finds what leaked on this node (src/doctor/diagnose.ts
 * judges; this module gathers the snapshot and carries out the fixes).
 */
import fs = require("node:fs");
import { join } from "node:path";
import { Command } from "commander";
import { DEFAULT_BRIDGE, DEFAULT_DATA_DIR, PLUGIN_TYPE } from "../util/defaults";
import { diagnose, type Finding, type Snapshot } from "../doctor/diagnose";
import { realFirewall } from "../firewall/index";
import { attachmentTag } from "../firewall/key";
import { listRecordFiles, readRecordState, recordNetworks, recordsDataDir, removeRecord } from "../attach/attachmentRecord";
import { attachmentLockHeld, attachmentLockPath, removeLockFile, tryAttachmentLock, unheldLockFiles } from "../plugins/attachmentLock";
import { hostVethAlias } from "../attach/hostVeth";
import { MAX_RESERVATION_BYTES, listReservations, parseOwnerKey, readBounded, reservationBuffer, validateNetworkName } from "../ipam/diskStore";
import { containerIdProblem, ifnameProblem } from "../util/ids";
import { printable, quoteForeign } from "../util/quote";
import { release } from "../ipam/index";
import { parseIp } from "../ip/ip";
import { realKernel } from "../kernel/port";
import type { CliIo, CliStatus } from "./index";
import { diagnoseAgent } from "../agent/doctor";
import { Rtnl, deleteRoute, listRoutes } from "../netlink/index";
import { RTPROT_TETHER } from "../agent/routes";
import { DEFAULT_STATE_DIR, readState, statePath } from "../agent/state";

/** The agent's findings when its state file is there (the node runs, or ran, `tether agent`). */
async function agentFindings(stateFile: string): Promise<Finding[]> {
  const state = readState(stateFile);
  if (state === undefined) return [];
  const rtnl = Rtnl.open();
  let routes;
  try {
    routes = await listRoutes(rtnl, { protocol: RTPROT_TETHER, table: "all" });
  } finally {
    rtnl.close();
  }
  let conflist: string | undefined;
  try {
    conflist = fs.readFileSync(state.conflist, "utf8");
  } catch {
    conflist = undefined;
  }
  return diagnoseAgent(state, routes, conflist);
}
import { readNetworkConfig } from "./runtime";

/** A reservation's content as tether and host-local write it: "<container id>[\r\n<ifname>]". */
function ownerProblem(text: string): string | undefined {
  const owner = parseOwnerKey(text);
  if (containerIdProblem(owner.containerId) !== undefined) return "reservation content is not <container id>\\r\\n<ifname>";
  if (owner.ifname !== "" && ifnameProblem(owner.ifname) !== undefined) return "reservation content is not <container id>\\r\\n<ifname>";
  return undefined;
}

/** Files of a host-local store that are not a lock, a round-robin hint or a readable reservation. */
export function badStoreFiles(dataDir: string): { path: string; why: string; dir?: boolean }[] {
  const out: { path: string; why: string; dir?: boolean }[] = [];
  let networks: string[];
  try {
    networks = fs.readdirSync(dataDir).filter((n) => !n.startsWith("."));
  } catch {
    return out;
  }
  const buf = reservationBuffer();
  for (const net of networks) {
    const dir = join(dataDir, net);
    if (!fs.lstatSync(dir).isDirectory()) continue;
    for (const d of fs.readdirSync(dir, { withFileTypes: true })) {
      const path = join(dir, d.name);
      if (d.name === "lock" || /^last_reserved_ip\.\d+$/.test(d.name)) continue;
      if (parseIp(d.name) === undefined) out.push({ path, why: "not an address, a lock or a last_reserved_ip file" });
      else if (d.isDirectory()) out.push({ path, why: "a directory where a reservation goes", dir: true });
      else if (!d.isFile()) out.push({ path, why: "a reservation that is not a regular file" });
      else {
        const read = readBounded(path, buf);
        if ("tooLarge" in read) out.push({ path, why: `larger than any reservation (${MAX_RESERVATION_BYTES} bytes)` });
        else if ("text" in read) {
          const problem = ownerProblem(read.text.trim());
          if (problem !== undefined) out.push({ path, why: problem });
        }
      }
    }
  }
  for (const f of listRecordFiles(dataDir)) if (f.record === undefined) out.push({ path: f.path, why: "attachment record does not parse" });
  return out;
}

function netnsAlive(path: string): boolean {
  try {
    return fs.statSync(path) !== undefined;
  } catch {
    return false;
  }
}

async function snapshot(dataDirs: readonly string[], bridges: ReadonlySet<string>, networks: ReadonlySet<string>): Promise<Snapshot> {
  const k = realKernel();
  const host = await k.open();
  let links;
  try {
    links = await k.listLinks(host);
  } finally {
    k.close(host);
  }
  return {
    records: dataDirs.flatMap((dataDir) => listRecordFiles(dataDir).flatMap((f) => (f.record ? [{ dataDir, path: f.path, record: f.record, intent: f.intent }] : []))),
    reservations: dataDirs.flatMap((dataDir) => listReservations(dataDir).map((r) => ({ dataDir, ...r }))),
    links,
    recordNetworks: new Set(dataDirs.flatMap(recordNetworks)),
    bridges,
    rules: await realFirewall().listTags(),
    badFiles: dataDirs.flatMap(badStoreFiles),
    netnsAlive,
    lockHeld: (key) => attachmentLockHeld(key),
    // The lock files of the networks looked at (those with records, and --conf's): the lock root is the node's.
    locks: [...new Set([...networks, ...dataDirs.flatMap(recordNetworks)])].flatMap((n) => unheldLockFiles(n)),
    lockPathOf: (key) => attachmentLockPath(key),
  };
}

/**
 * An attachment whose netns is gone, or whose ADD was killed: rolled back as its DEL would, holding
 * its lock (taken without waiting: a call running on it now is left alone), looking again once
 * locked, and the lock file removed last.
 */
async function rollBack(f: Extract<Finding, { kind: "leaked-attachment" | "interrupted-add" }>): Promise<void> {
  const r = f.record;
  validateNetworkName(r.network);
  const lock = tryAttachmentLock(r);
  if (lock === undefined) throw new Error("an ADD, DEL or CHECK of this attachment runs now: left alone (run doctor again once it is done)");
  try {
    const now = readRecordState(f.dataDir, r);
    if (now === undefined) return; // its DEL (or GC) ran meanwhile
    if (f.kind === "interrupted-add" && (!now.intent || now.record.netns !== r.netns)) {
      throw new Error("its ADD finished, or another began, since doctor looked: left alone");
    }
    release({ dataDir: f.dataDir, network: r.network }, { containerId: r.containerId, ifname: r.ifname });
    await realFirewall().removeTagged(new Set([attachmentTag(r)]));
    // The host end goes, and the container end with it: by the label, or (an ADD killed before it labelled it) by the name the record gave it.
    const k = realKernel();
    const host = await k.open();
    try {
      const alias = hostVethAlias(r);
      for (const l of await k.listLinks(host)) {
        if (l.kind !== "veth") continue;
        const labelled = l.alias !== undefined && l.alias !== "";
        if ((labelled && l.alias === alias) || (!labelled && l.name === now.record.hostIfname)) await k.deleteLink(host, l.index);
      }
    } finally {
      k.close(host);
    }
    removeRecord(f.dataDir, r);
  } finally {
    lock.release(true);
  }
}

async function fix(f: Finding): Promise<void> {
  const k = realKernel();
  switch (f.kind) {
    case "leaked-attachment":
    case "interrupted-add":
      await rollBack(f);
      return;
    case "stale-lock":
      // "held": a call took it since doctor looked; it removes the file itself.
      removeLockFile(f.path);
      return;
    case "orphan-veth": {
      const host = await k.open();
      try {
        await k.deleteLink(host, f.link);
      } finally {
        k.close(host);
      }
      return;
    }
    case "orphan-rules":
      await realFirewall().removeTagged(new Set([f.attachment]));
      return;
    case "bad-store-file":
      removeBadFile(f.path);
      return;
    case "agent-stale-route": {
      const rtnl = Rtnl.open();
      try {
        await deleteRoute(rtnl, { dst: f.dst, ...(f.gw === undefined ? {} : { gw: f.gw }), protocol: RTPROT_TETHER });
      } finally {
        rtnl.close();
      }
      return;
    }
    case "agent-conflist":
      throw new Error("left to the agent");
  }
}

/** A bad file goes; a directory only when empty: what is inside it is not tether's to judge. */
function removeBadFile(path: string): void {
  let st: fs.Stats;
  try {
    st = fs.lstatSync(path);
  } catch {
    return; // already gone
  }
  if (!st.isDirectory()) {
    fs.rmSync(path, { force: true });
    return;
  }
  try {
    fs.rmdirSync(path);
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    if (code === "ENOTEMPTY" || code === "EEXIST") {
      throw new Error(`${quoteForeign(path, 200)} is a directory that is not empty: look at what it holds, then remove it yourself (rm -r -- ${quoteForeign(path, 200)})`);
    }
    throw e;
  }
}

function publicFields(f: Finding, fixed?: boolean, error?: string): Record<string, unknown> {
  const out: Record<string, unknown> = { kind: f.kind, subject: f.subject, detail: f.detail, action: f.action };
  if (fixed !== undefined) out["fixed"] = fixed;
  if (error !== undefined) out["error"] = error;
  return out;
}

export function doctorCommand(io: CliIo, status: CliStatus): Command {
  return new Command("doctor")
    .description("find what leaked: attachments whose netns is gone, orphan host veths and firewall rules, unreadable store files")
    .option("--conf <file>", "a network configuration: its bridge and IPAM data directory are looked at too")
    .option("--data-dir <dir>", "an IPAM data directory to look at", DEFAULT_DATA_DIR)
    .option("--fix", "remove what was found, saying what was removed")
    .option("--json", "print the findings as a JSON array")
    .option("--agent-state <file>", "the agent's state file: its routes and conflist are checked when it exists", statePath(DEFAULT_STATE_DIR))
    .addHelpText(
      "after",
      "\nLooks at the network namespace it runs in (links, nft / iptables rules) and the data directories.\n" +
        "Exit codes: 0 nothing found (or, with --fix, everything found was removed), 1 leaks found\n" +
        "(without --fix) or a fix failed, 2 usage error or unreadable --conf.\n",
    )
    .action(async (opts: { conf?: string; dataDir: string; fix?: boolean; json?: boolean; agentState: string }) => {
      const dataDirs = new Set([opts.dataDir]);
      const bridges = new Set<string>([DEFAULT_BRIDGE]);
      const networks = new Set<string>();
      if (opts.conf !== undefined) {
        try {
          const list = readNetworkConfig(opts.conf);
          networks.add(list.name);
          for (const p of list.plugins) {
            if (p["type"] !== PLUGIN_TYPE) continue;
            if ((p["mode"] ?? "bridge") === "bridge") bridges.add(typeof p["bridge"] === "string" ? p["bridge"] : DEFAULT_BRIDGE);
            const dir = recordsDataDir(p["ipam"]);
            if (dir !== undefined) dataDirs.add(dir);
          }
        } catch (e) {
          io.err(`tether doctor: ${(e as Error).message}\n`);
          status.code = 2;
          return;
        }
      }
      const findings = [...diagnose(await snapshot([...dataDirs], bridges, networks)), ...(await agentFindings(opts.agentState))];
      const rows: Record<string, unknown>[] = [];
      for (const f of findings) {
        if (!opts.fix) {
          rows.push(publicFields(f));
          continue;
        }
        try {
          await fix(f);
          rows.push(publicFields(f, true));
        } catch (e) {
          rows.push(publicFields(f, false, (e as Error).message));
        }
      }
      if (opts.json) io.out(JSON.stringify(rows, null, 2) + "\n");
      else if (rows.length === 0) io.out(`nothing leaked (looked at ${[...dataDirs].join(", ")} and this namespace)\n`);
      else {
        for (const r of rows) {
          const state = r["fixed"] === true ? "removed: " : r["fixed"] === false ? `NOT removed (${String(r["error"])}): ` : "";
          const line = `${String(r["kind"])}: ${String(r["subject"])}: ${String(r["detail"])}\n  ${state}${String(r["action"])}`;
          // Paths and ids come from the store and the kernel: no byte of them reaches the terminal raw.
          io.out(line.split("\n").map((l) => printable(l)).join("\n") + "\n");
        }
        if (!opts.fix) io.out("run with --fix to remove these\n");
      }
      if (rows.some((r) => r["fixed"] !== true)) status.code = 1;
    });
}

