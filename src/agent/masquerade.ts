/**
 * The agent's masquerade, in its own nftables table `inet tether-agent` (the plugin's `inet tether`
 * is left alone):
 *
 *   set local4/local6     this node's pod CIDRs (sources)
 *   set cluster4/cluster6 every pod CIDR of the cluster (destinations that keep the source address)
 *   chain postrouting     nat: a pod source to anything outside the cluster's pod CIDRs (and not
 *                         multicast) is masqueraded
 *
 * So pods keep their address towards every pod of the cluster (the receiving pod and any policy see
 * who sent it) and are masqueraded everywhere else. The sets are rewritten in one `nft -f -`
 * transaction per change. The nft binary is run for firewall rules only (as in src/firewall; there is
 * no netlink nf_tables code in tether); everything else goes through netlink.
 */
import type { Family } from "../ipam/ip";
import { FirewallError, mustRunTool, runTool } from "../firewall/exec";
import { parsePrefix } from "./desired";

export const AGENT_TABLE = "tether-agent";
const MULTICAST: Record<Family, string> = { 4: "224.0.0.0/4", 6: "ff00::/8" };

export interface MasqueradeState {
  local: Record<Family, string[]>;
  cluster: Record<Family, string[]>;
}

const SETS = [
  ["local4", "ipv4_addr"],
  ["local6", "ipv6_addr"],
  ["cluster4", "ipv4_addr"],
  ["cluster6", "ipv6_addr"],
] as const;

function elementsOf(state: MasqueradeState, set: (typeof SETS)[number][0]): string[] {
  const family: Family = set.endsWith("4") ? 4 : 6;
  return set.startsWith("local") ? state.local[family] : state.cluster[family];
}

/** The whole table in one transaction: created if missing, then its sets and chain rewritten. */
export function masqueradeBatch(state: MasqueradeState): string {
  const t = `inet ${AGENT_TABLE}`;
  const lines = [`add table ${t}`];
  for (const [name, type] of SETS) {
    lines.push(`add set ${t} ${name} { type ${type}; flags interval; }`, `flush set ${t} ${name}`);
    const elems = elementsOf(state, name).map((e) => {
      if (parsePrefix(e) === undefined) throw new Error(`${JSON.stringify(e)} is not a CIDR`);
      return e;
    });
    if (elems.length > 0) lines.push(`add element ${t} ${name} { ${elems.join(", ")} }`);
  }
  lines.push(`add chain ${t} postrouting { type nat hook postrouting priority srcnat; policy accept; }`, `flush chain ${t} postrouting`);
  for (const f of [4, 6] as const) {
    const ip = f === 4 ? "ip" : "ip6";
    lines.push(`add rule ${t} postrouting ${ip} saddr @local${f} ${ip} daddr != @cluster${f} ${ip} daddr != ${MULTICAST[f]} masquerade comment "tether-agent:v${f}"`);
  }
  return lines.join("\n") + "\n";
}

/**
 * The state found in `nft -j list table inet tether-agent` output, undefined when the table is not
 * there or not as this agent writes it (then the whole table is rewritten).
 */
export function parseMasqueradeTable(json: string): MasqueradeState | undefined {
  let doc: { nftables?: Record<string, unknown>[] };
  try {
    doc = JSON.parse(json) as typeof doc;
  } catch {
    return undefined;
  }
  const state: MasqueradeState = { local: { 4: [], 6: [] }, cluster: { 4: [], 6: [] } };
  const seenSets = new Set<string>();
  const comments: string[] = [];
  for (const item of doc.nftables ?? []) {
    const set = item["set"] as { name?: string; elem?: unknown[] } | undefined;
    if (set?.name !== undefined) {
      const family: Family = set.name.endsWith("4") ? 4 : 6;
      const target = set.name.startsWith("local") ? state.local[family] : set.name.startsWith("cluster") ? state.cluster[family] : undefined;
      if (target === undefined) return undefined;
      seenSets.add(set.name);
      for (const e of set.elem ?? []) {
        const text = elementText(e);
        if (text === undefined) return undefined;
        target.push(text);
      }
    }
    const rule = item["rule"] as { chain?: string; comment?: string } | undefined;
    if (rule?.chain === "postrouting") comments.push(rule.comment ?? "");
  }
  if (seenSets.size !== SETS.length || comments.sort().join(",") !== "tether-agent:v4,tether-agent:v6") return undefined;
  for (const list of [state.local[4], state.local[6], state.cluster[4], state.cluster[6]]) list.sort();
  return state;
}

function elementText(e: unknown): string | undefined {
  if (typeof e === "string") {
    const p = parsePrefix(`${e}/${e.includes(":") ? 128 : 32}`);
    return p?.text;
  }
  const prefix = (e as { prefix?: { addr?: unknown; len?: unknown } } | null)?.prefix;
  if (prefix !== undefined && typeof prefix.addr === "string" && typeof prefix.len === "number") return parsePrefix(`${prefix.addr}/${prefix.len}`)?.text;
  return undefined;
}

export function sameMasquerade(a: MasqueradeState, b: MasqueradeState): boolean {
  const key = (s: MasqueradeState): string => JSON.stringify([s.local[4], s.local[6], s.cluster[4], s.cluster[6]].map((l) => [...l].sort()));
  return key(a) === key(b);
}

/** Read the table back; undefined when it is missing or not as ours. */
export function readMasquerade(): MasqueradeState | undefined {
  const r = runTool("nft", ["-j", "list", "table", "inet", AGENT_TABLE]);
  if (r === undefined) throw new FirewallError("nft -j list table", "", "nft is not installed");
  if (r.status !== 0) return undefined;
  return parseMasqueradeTable(r.stdout);
}

/** Make the table match `state`; returns whether it had to be written. */
export function reconcileMasquerade(state: MasqueradeState): boolean {
  const actual = readMasquerade();
  if (actual !== undefined && sameMasquerade(actual, state)) return false;
  mustRunTool("nft", ["-f", "-"], masqueradeBatch(state));
  return true;
}
