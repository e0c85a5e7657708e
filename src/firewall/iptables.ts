/**
 * iptables rule text (iptables-restore input) and the parsing of `iptables-save -t nat`. Pure:
 * src/firewall/system.ts runs it. Each attachment gets its own nat chain, named from its key, with
 * the reference semantics (accept what goes to its own subnet or to multicast, masquerade the rest),
 * jumped to from POSTROUTING for each of its addresses. Every rule carries the attachment's comment.
 */
import { MULTICAST, type MasqSource } from "./sources";

function checkedComment(comment: string): string {
  if (!/^[A-Za-z0-9:_.-]+$/.test(comment)) throw new Error(`${JSON.stringify(comment)} cannot be a rule comment`);
  return comment;
}

/** One iptables-restore --noflush transaction creating the chain and its POSTROUTING jumps (one family). */
export function iptablesMasqueradeRestore(chain: string, comment: string, sources: readonly MasqSource[]): string {
  if (sources.length === 0) throw new Error("no addresses to masquerade");
  const family = sources[0]!.family;
  if (sources.some((s) => s.family !== family)) throw new Error("iptables and ip6tables rules are made separately");
  const host = family === 4 ? 32 : 128;
  const tag = `-m comment --comment "${checkedComment(comment)}"`;
  const lines = ["*nat", `:${chain} - [0:0]`];
  for (const s of sources) lines.push(`-A ${chain} -s ${s.address}/${host} -d ${s.subnet} ${tag} -j ACCEPT`);
  lines.push(`-A ${chain} -d ${MULTICAST[family]} ${tag} -j ACCEPT`);
  lines.push(`-A ${chain} ${tag} -j MASQUERADE`);
  for (const s of sources) lines.push(`-A POSTROUTING -s ${s.address}/${host} ${tag} -j ${chain}`);
  lines.push("COMMIT");
  return lines.join("\n") + "\n";
}

export interface SavedRule {
  chain: string;
  /** The rule as iptables-save printed it after `-A <chain> `. */
  spec: string;
  target?: string;
  comment?: string;
}

export interface SavedNat {
  /** User-defined and built-in chains declared in the nat table. */
  chains: string[];
  rules: SavedRule[];
}

/** The nat table of `iptables-save -t nat` output. */
export function parseIptablesSave(text: string): SavedNat {
  const out: SavedNat = { chains: [], rules: [] };
  let inNat = false;
  for (const line of text.split("\n")) {
    if (line.startsWith("*")) {
      inNat = line === "*nat";
      continue;
    }
    if (!inNat) continue;
    const decl = /^:(\S+) /.exec(line);
    if (decl) {
      out.chains.push(decl[1]!);
      continue;
    }
    const rule = /^-A (\S+) (.*)$/.exec(line);
    if (!rule) continue;
    const r: SavedRule = { chain: rule[1]!, spec: rule[2]! };
    const target = /(?:^| )-j (\S+)/.exec(r.spec);
    if (target) r.target = target[1]!;
    const comment = /--comment "?([^" ]+)"?/.exec(r.spec);
    if (comment) r.comment = comment[1]!;
    out.rules.push(r);
  }
  return out;
}

/**
 * One iptables-restore --noflush transaction removing `chains` and every jump to them; undefined when
 * none of them exists.
 */
export function iptablesTeardownRestore(saved: SavedNat, chains: ReadonlySet<string>): string | undefined {
  const present = saved.chains.filter((c) => chains.has(c));
  const jumps = saved.rules.filter((r) => r.target !== undefined && chains.has(r.target) && !chains.has(r.chain));
  if (present.length === 0 && jumps.length === 0) return undefined;
  const lines = ["*nat"];
  for (const j of jumps) lines.push(`-D ${j.chain} ${j.spec}`);
  for (const c of present) lines.push(`-F ${c}`);
  for (const c of present) lines.push(`-X ${c}`);
  lines.push("COMMIT");
  return lines.join("\n") + "\n";
}
