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
import type { Family } from "../ip/ip";
import { spawn } from "node:child_process";
import { FirewallError, findTool } from "../firewall/exec";
import { type DesiredState, collapsePrefixes, parsePrefix, type Prefix } from "./desired";

export const AGENT_TABLE = "tether-agent";
const MULTICAST: Record<Family, string> = { 4: "224.0.0.0/4", 6: "ff00::/8" };

export interface MasqueradeState {
  local: Record<Family, string[]>;
  cluster: Record<Family, string[]>;
}

/**
 * The table a desired state asks for. While this node is missing from the API or has no pod CIDR
 * (deleted and re-registering, `waiting`), its pods still run with their addresses: they keep being
 * masqueraded from the CIDRs last applied, and those stay cluster destinations (pod to pod on this
 * node keeps its source), instead of every local pod losing its way out until the node is back.
 */
export function masqueradeWant(desired: Pick<DesiredState, "ownCidrs" | "clusterCidrs">, previous: MasqueradeState | undefined): MasqueradeState {
  const own = { 4: desired.ownCidrs.filter((p) => p.family === 4).map((p) => p.text), 6: desired.ownCidrs.filter((p) => p.family === 6).map((p) => p.text) };
  if (desired.ownCidrs.length > 0 || previous === undefined || previous.local[4].length + previous.local[6].length === 0) {
    return { local: own, cluster: desired.clusterCidrs };
  }
  const local = { 4: [...previous.local[4]], 6: [...previous.local[6]] };
  const cluster = (f: Family): string[] =>
    collapsePrefixes([...desired.clusterCidrs[f], ...local[f]].map((t) => parsePrefix(t)).filter((p): p is Prefix => p !== undefined)).map((p) => p.text);
  return { local, cluster: { 4: cluster(4), 6: cluster(6) } };
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

/** nft prints addresses in canonical text (inet_ntop), as desired.ts writes them: no parsing needed. */
function elementText(e: unknown): string | undefined {
  if (typeof e === "string") return `${e}/${e.includes(":") ? 128 : 32}`;
  const prefix = (e as { prefix?: { addr?: unknown; len?: unknown } } | null)?.prefix;
  if (prefix !== undefined && typeof prefix.addr === "string" && typeof prefix.len === "number") return `${prefix.addr}/${prefix.len}`;
  return undefined;
}

export function sameMasquerade(a: MasqueradeState, b: MasqueradeState): boolean {
  const key = (s: MasqueradeState): string => JSON.stringify([s.local[4], s.local[6], s.cluster[4], s.cluster[6]].map((l) => [...l].sort()));
  return key(a) === key(b);
}

/** Run nft without blocking the agent's event loop (watch events and health checks go on meanwhile). */
function nft(args: readonly string[], input?: string): Promise<{ status: number | null; stdout: string; stderr: string }> {
  const path = findTool("nft");
  const op = `nft ${args.join(" ")}`;
  if (path === undefined) return Promise.reject(new FirewallError(op, "", "nft is not installed"));
  return new Promise((resolve, reject) => {
    const child = spawn(path, args, { stdio: ["pipe", "pipe", "pipe"], env: { ...process.env, LC_ALL: "C" } });
    const out: Buffer[] = [];
    const err: Buffer[] = [];
    child.stdout.on("data", (c: Buffer) => out.push(c));
    child.stderr.on("data", (c: Buffer) => err.push(c));
    child.once("error", (e) => reject(new FirewallError(op, "", `nft: ${e.message}`)));
    child.once("close", (status) => resolve({ status, stdout: Buffer.concat(out).toString("utf8"), stderr: Buffer.concat(err).toString("utf8") }));
    child.stdin.on("error", () => undefined);
    child.stdin.end(input ?? "");
  });
}

/** Read the table back; undefined when it is missing or not as ours. */
export async function readMasquerade(): Promise<MasqueradeState | undefined> {
  const r = await nft(["-j", "list", "table", "inet", AGENT_TABLE]);
  if (r.status !== 0) return undefined;
  return parseMasqueradeTable(r.stdout);
}

/**
 * The element changes that turn `actual` into `want` (one transaction), or undefined when there is
 * nothing to change. Used when the table is there and ours: a node event changes two elements, not
 * the 2,000 of a whole rewrite.
 */
export function masqueradeDelta(actual: MasqueradeState, want: MasqueradeState): string | undefined {
  const t = `inet ${AGENT_TABLE}`;
  const lines: string[] = [];
  for (const [name] of SETS) {
    const have = new Set(elementsOf(actual, name));
    const next = elementsOf(want, name);
    for (const e of next) if (parsePrefix(e) === undefined) throw new Error(`${JSON.stringify(e)} is not a CIDR`);
    const nextSet = new Set(next);
    const gone = [...have].filter((e) => !nextSet.has(e));
    const added = next.filter((e) => !have.has(e));
    if (gone.length > 0) lines.push(`delete element ${t} ${name} { ${gone.join(", ")} }`);
    if (added.length > 0) lines.push(`add element ${t} ${name} { ${added.join(", ")} }`);
  }
  return lines.length === 0 ? undefined : lines.join("\n") + "\n";
}

/**
 * Make the table match `state`; returns whether it had to be written. With `known` (what this agent
 * applied last, on an event), the change is a delta from it without reading the table back; if the
 * table is not as known (the delta fails), it is read back and repaired. Without it (start, resync),
 * the table is read back first.
 */
export async function reconcileMasquerade(state: MasqueradeState, known?: MasqueradeState): Promise<boolean> {
  if (known !== undefined) {
    const delta = masqueradeDelta(known, state);
    if (delta === undefined) return false;
    const r = await nft(["-f", "-"], delta);
    if (r.status === 0) return true;
  }
  const actual = await readMasquerade();
  const text = actual === undefined ? masqueradeBatch(state) : masqueradeDelta(actual, state);
  if (text === undefined) return false;
  const r = await nft(["-f", "-"], text);
  if (r.status !== 0) throw new FirewallError("nft -f -", `${r.stderr.trim()}\ninput:\n${text.slice(0, 2000)}`);
  return true;
}
