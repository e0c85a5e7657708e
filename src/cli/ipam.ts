/**
 * `tether ipam list`: every reservation of a host-local compatible store (tether-ipam's or
 * host-local's; they are the same files), for people (a table) and scripts (--json). Reads without
 * taking the store lock: a listing is a snapshot, and it must never block an ADD.
 */
import { readFileSync, readdirSync } from "node:fs";
import { join } from "node:path";
import { Command } from "commander";
import { loadIpamConfig } from "../config/ipam";
import { DEFAULT_DATA_DIR, IPAM_TYPE } from "../util/defaults";
import { listReservations } from "../ipam/index";
import { parseIp } from "../ip/ip";
import { type RangeSet, rangeIndexFor, rangeText } from "../ipam/rangeSet";
import { containerIdProblem, ifnameProblem } from "../util/ids";
import { listingText, quoteForeign } from "../util/quote";
import type { CliIo, CliStatus } from "./index";

export const DEFAULT_CONF_DIR = "/etc/cni/net.d";

export interface ListedReservation {
  network: string;
  address: string;
  containerId: string;
  ifname: string;
  /** "start-end" of the configured range holding the address; null when no config names it. */
  range: string | null;
  /** Index of its range set (last_reserved_ip.<i>); null when unknown. */
  rangeSet: number | null;
}

/** The range sets of each network configured in confDir with a host-local compatible IPAM. */
export function rangeSetsByNetwork(confDir: string): Map<string, RangeSet[]> {
  const out = new Map<string, RangeSet[]>();
  let files: string[];
  try {
    files = readdirSync(confDir).filter((f) => /\.(conf|conflist|json)$/.test(f)).sort();
  } catch {
    return out;
  }
  for (const f of files) {
    try {
      const doc = JSON.parse(readFileSync(join(confDir, f), "utf8")) as Record<string, unknown>;
      const plugins = Array.isArray(doc["plugins"]) ? (doc["plugins"] as unknown[]) : [doc];
      for (const p of plugins) {
        const ipam = (p as Record<string, unknown> | null)?.["ipam"] as Record<string, unknown> | undefined;
        if (!ipam || (ipam["type"] !== IPAM_TYPE && ipam["type"] !== "host-local") || out.has(String(doc["name"]))) continue;
        const cfg = loadIpamConfig({ name: doc["name"], cniVersion: doc["cniVersion"], ipam: { ...ipam, type: IPAM_TYPE } });
        out.set(cfg.network, cfg.rangeSets);
      }
    } catch {
      // not a config we can read: its addresses are listed without a range
    }
  }
  return out;
}

export function listWithRanges(dataDir: string, network: string | undefined, confDir: string): ListedReservation[] {
  const sets = rangeSetsByNetwork(confDir);
  return listReservations(dataDir, network).map((r) => {
    const ip = parseIp(r.address);
    let range: string | null = null;
    let rangeSet: number | null = null;
    const netSets = sets.get(r.network) ?? [];
    for (const [i, set] of netSets.entries()) {
      const ri = ip === undefined ? -1 : rangeIndexFor(set, ip);
      const found = set.ranges[ri];
      if (found !== undefined) {
        range = rangeText(found);
        rangeSet = i;
        break;
      }
    }
    return { network: r.network, address: r.address, ...shownOwner(r.containerId, r.ifname), range, rangeSet };
  });
}

/**
 * A store file's owner as listed: a valid container id and ifname as they are; anything else (a
 * planted or damaged file) quoted, escaped and cut, so it can neither fill a screen nor drive a terminal.
 */
function shownOwner(containerId: string, ifname: string): { containerId: string; ifname: string } {
  const validId = containerIdProblem(containerId) === undefined;
  const validIf = ifname === "" || ifnameProblem(ifname) === undefined;
  return { containerId: validId ? containerId : quoteForeign(containerId), ifname: validIf ? ifname : quoteForeign(ifname) };
}

function table(rows: ListedReservation[]): string {
  const head = ["NETWORK", "ADDRESS", "CONTAINER", "IFNAME", "RANGE"];
  // Quoted values (shownOwner's) stay as they are: a valid id or ifname never starts with a quote.
  const cell = (v: string): string => (v.startsWith('"') ? v : listingText(v));
  const cells = rows.map((r) => [r.network, r.address, cell(r.containerId), r.ifname === "" ? "-" : cell(r.ifname), r.range ?? "-"]);
  const widths = head.map((h, i) => Math.max(h.length, ...cells.map((c) => (c[i] ?? "").length)));
  const line = (c: string[]): string => c.map((v, i) => (i === c.length - 1 ? v : v.padEnd(widths[i] ?? 0))).join("  ");
  return [line(head), ...cells.map(line)].join("\n") + "\n";
}

export function ipamCommand(io: CliIo, status: CliStatus): Command {
  const ipam = new Command("ipam").description("inspect tether-ipam / host-local stores");
  ipam
    .command("list")
    .description("every reservation: address, container id, ifname and range")
    .option("--data-dir <dir>", "the IPAM data directory", DEFAULT_DATA_DIR)
    .option("--network <name>", "only this network")
    .option("--conf-dir <dir>", "CNI configs to read range definitions from", DEFAULT_CONF_DIR)
    .option("--json", "print a JSON array")
    .addHelpText(
      "after",
      "\nExit codes: 0 listed (also when there is nothing to list), 1 the store could not be read\n" +
        "(or --network is not a valid name), 2 usage error.\n",
    )
    .action((opts: { dataDir: string; network?: string; confDir: string; json?: boolean }) => {
      let rows: ListedReservation[];
      try {
        rows = listWithRanges(opts.dataDir, opts.network, opts.confDir);
      } catch (e) {
        io.err(`tether ipam list: ${(e as Error).message}\n`);
        status.code = 1;
        return;
      }
      if (opts.json) io.out(JSON.stringify(rows, null, 2) + "\n");
      else if (rows.length === 0) io.out(`no reservations in ${opts.dataDir}${opts.network ? ` for network ${opts.network}` : ""}\n`);
      else io.out(table(rows));
    });
  return ipam;
}
