/**
 * nftables rule text and the parsing of `nft -j -a list table` output. Pure: src/firewall/system.ts
 * runs the text. Everything of tether lives in two tables named `tether`:
 *
 *   table inet tether    chain postrouting (nat, postrouting)   ipMasq, both modes
 *                        chain spoofcheck  (filter, prerouting)  spoof checks on a routed host veth (ptp)
 *   table bridge tether  chain spoofcheck  (filter, prerouting)  spoof checks on a bridge port
 *
 * Each rule carries its attachment's comment (key.ts). One batch is one nft transaction: a rule set of
 * an ADD lands whole or not at all, and concurrent ADDs never overwrite each other's rules.
 */
import { MULTICAST, checkedAddress, checkedIfname, checkedMac, type MasqSource } from "./sources";

export type NftFamily = "inet" | "bridge";
export type NftChain = "postrouting" | "spoofcheck";

export const NFT_TABLE = "tether";
/** Before conntrack and NAT (raw priority), so no state is created for a spoofed packet. */
const SPOOFCHECK_PRIORITY = -300;

function chainDefinition(family: NftFamily, chain: NftChain): string {
  if (chain === "postrouting") {
    if (family !== "inet") throw new Error("masquerade lives in the inet family");
    return `add chain inet ${NFT_TABLE} postrouting { type nat hook postrouting priority srcnat; policy accept; }`;
  }
  return `add chain ${family} ${NFT_TABLE} spoofcheck { type filter hook prerouting priority ${SPOOFCHECK_PRIORITY}; policy accept; }`;
}

function header(family: NftFamily, chain: NftChain): string[] {
  return [`add table ${family} ${NFT_TABLE}`, chainDefinition(family, chain)];
}

function quoted(comment: string): string {
  if (!/^[A-Za-z0-9:_.-]+$/.test(comment)) throw new Error(`${JSON.stringify(comment)} cannot be a rule comment`);
  return `"${comment}"`;
}

/**
 * Masquerade what each source sends outside its own subnet, except multicast (the reference
 * plugins' semantics), one rule per address.
 */
export function nftMasqueradeBatch(comment: string, sources: readonly MasqSource[]): string {
  const lines = header("inet", "postrouting");
  for (const s of sources) {
    const ip = s.family === 4 ? "ip" : "ip6";
    lines.push(
      `add rule inet ${NFT_TABLE} postrouting ${ip} saddr ${s.address} ${ip} daddr != ${s.subnet} ${ip} daddr != ${MULTICAST[s.family]} masquerade comment ${quoted(comment)}`,
    );
  }
  return lines.join("\n") + "\n";
}

export interface SpoofCheckSpec {
  /** bridge: the host veth is a bridge port (bridge family); inet: a routed host veth (ptp). */
  family: NftFamily;
  /** The host end of the attachment's veth: frames from the container enter there. */
  hostIfname: string;
  /** macspoofchk: the only source MAC allowed. */
  mac?: string | undefined;
  /** ipspoofchk: the only source addresses allowed (CIDRs or bare addresses). */
  addresses?: readonly string[] | undefined;
}

/**
 * Drop what enters from the container with a source MAC / address not its own. IPv6 link-local and
 * unspecified sources stay allowed (neighbour discovery and DAD need them); a family the container
 * has no address of is dropped whole. On a bridge port ARP is held to the same addresses, and
 * VLAN-tagged frames (which would carry IP past the checks) are dropped.
 */
export function nftSpoofCheckBatch(comment: string, spec: SpoofCheckSpec): string {
  const { family } = spec;
  const match = `add rule ${family} ${NFT_TABLE} spoofcheck iifname "${checkedIfname(spec.hostIfname)}"`;
  const tail = `drop comment ${quoted(comment)}`;
  const lines = header(family, "spoofcheck");
  if (spec.mac !== undefined) lines.push(`${match} ether saddr != ${checkedMac(spec.mac)} ${tail}`);
  if (spec.addresses !== undefined) {
    const addrs = spec.addresses.map(checkedAddress);
    const v4 = addrs.filter((a) => a.family === 4).map((a) => a.address);
    const v6 = addrs.filter((a) => a.family === 6).map((a) => a.address);
    if (family === "bridge") lines.push(`${match} ether type { 8021q, 8021ad } ${tail}`);
    if (v4.length > 0) {
      lines.push(`${match} ip saddr != { ${v4.join(", ")} } ${tail}`);
      if (family === "bridge") lines.push(`${match} arp saddr ip != { ${v4.join(", ")} } ${tail}`);
    } else {
      lines.push(family === "bridge" ? `${match} ether type { ip, arp } ${tail}` : `${match} meta nfproto ipv4 ${tail}`);
    }
    if (v6.length > 0) lines.push(`${match} ip6 saddr != { ${[...v6, "fe80::/10", "::"].join(", ")} } ${tail}`);
    else lines.push(family === "bridge" ? `${match} ether type ip6 ${tail}` : `${match} meta nfproto ipv6 ${tail}`);
  }
  return lines.join("\n") + "\n";
}

export interface NftRule {
  family: string;
  chain: string;
  handle: number;
  comment?: string;
}

/** The rules in `nft -j -a list table ...` output. */
export function parseNftRules(json: string): NftRule[] {
  const doc = JSON.parse(json) as { nftables?: unknown };
  if (!Array.isArray(doc.nftables)) throw new Error("nft JSON output has no nftables array");
  const out: NftRule[] = [];
  for (const item of doc.nftables as unknown[]) {
    const rule = (item as { rule?: Record<string, unknown> } | null)?.rule;
    if (!rule || typeof rule["handle"] !== "number" || typeof rule["chain"] !== "string" || typeof rule["family"] !== "string") continue;
    const r: NftRule = { family: rule["family"], chain: rule["chain"], handle: rule["handle"] };
    if (typeof rule["comment"] === "string") r.comment = rule["comment"];
    out.push(r);
  }
  return out;
}

/**
 * The batch that deletes `doomed` from table `family tether`; the whole table when nothing else
 * is left in it (callers hold the firewall lock, so no ADD slips in between list and delete).
 */
export function nftDeleteBatch(family: NftFamily, all: readonly NftRule[], doomed: readonly NftRule[]): string | undefined {
  if (all.length === 0) return `delete table ${family} ${NFT_TABLE}\n`; // left empty by an older run
  if (doomed.length === 0) return undefined;
  const gone = new Set(doomed.map((r) => r.handle));
  if (all.every((r) => gone.has(r.handle))) return `delete table ${family} ${NFT_TABLE}\n`;
  return doomed.map((r) => `delete rule ${family} ${NFT_TABLE} ${r.chain} handle ${r.handle}`).join("\n") + "\n";
}
