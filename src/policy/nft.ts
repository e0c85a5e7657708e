/**
 * The compiled ruleset as data, and its nftables text: the whole table (replaced in one
 * transaction) or the difference between two rulesets (also one transaction). Pure: the applier
 * (apply.ts) feeds the text to `nft -f`.
 */

export const POLICY_TABLE = "tether-policy";
export const FAMILY_TABLE = `inet ${POLICY_TABLE}`;

export interface NftSet {
  readonly name: string;
  /** nftables type, e.g. "ipv4_addr" or "ipv6_addr . inet_service". */
  readonly type: string;
  readonly interval: boolean;
  /** Element texts, sorted, unique. */
  readonly elements: readonly string[];
  /** A delta changes single elements (few change at a time) instead of refilling the set. */
  readonly elementDelta?: boolean;
}

export interface NftChain {
  readonly name: string;
  readonly rules: readonly string[];
}

/** The verdict maps from a pod address to the chain of its direction. */
export const VERDICT_MAPS = {
  egress4: { type: "ipv4_addr", match: "ip saddr" },
  egress6: { type: "ipv6_addr", match: "ip6 saddr" },
  ingress4: { type: "ipv4_addr", match: "ip daddr" },
  ingress6: { type: "ipv6_addr", match: "ip6 daddr" },
} as const;
export type VerdictMapName = keyof typeof VERDICT_MAPS;
export const VERDICT_MAP_NAMES = Object.keys(VERDICT_MAPS) as VerdictMapName[];

export interface PolicyRuleset {
  readonly sets: ReadonlyMap<string, NftSet>;
  readonly chains: ReadonlyMap<string, NftChain>;
  /** address -> chain name, per map */
  readonly maps: Readonly<Record<VerdictMapName, ReadonlyMap<string, string>>>;
}

/**
 * The sets of (address . same address) of this node's policed pods: a pod reaching itself through a
 * Service (hairpin: out to the node, DNAT back to its own address) is let through, as the API
 * documents that a pod cannot block access to itself. Always present, possibly empty.
 */
export const SELF_SETS = { 4: "self4", 6: "self6" } as const;

/** The base chain: fixed; every pod-specific decision sits behind the verdict maps. */
export function baseChainRules(): string[] {
  return [
    "ct state established,related accept",
    // Only from the pod's own side (the route back to the source leaves by the interface the packet
    // came in on): a packet forged elsewhere with the pod's address as source is not let through.
    `ip saddr . ip daddr @${SELF_SETS[4]} fib saddr . iif oif exists accept`,
    `ip6 saddr . ip6 daddr @${SELF_SETS[6]} fib saddr . iif oif exists accept`,
    ...VERDICT_MAP_NAMES.filter((m) => m.startsWith("egress")).map((m) => `${VERDICT_MAPS[m].match} vmap @${m}`),
    ...VERDICT_MAP_NAMES.filter((m) => m.startsWith("ingress")).map((m) => `${VERDICT_MAPS[m].match} vmap @${m}`),
  ];
}

function setBody(s: NftSet, withElements: boolean): string {
  const flags = s.interval ? " flags interval;" : "";
  const elems = withElements && s.elements.length > 0 ? ` elements = { ${s.elements.join(", ")} }` : "";
  return `{ type ${s.type};${flags}${elems} }`;
}

function mapElements(m: ReadonlyMap<string, string>): string[] {
  return [...m.entries()].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)).map(([addr, chain]) => `${addr} : jump ${chain}`);
}

/** The whole table, as one transaction that replaces whatever table of that name exists. */
export function renderFull(rs: PolicyRuleset): string {
  const out: string[] = [`table ${FAMILY_TABLE} {}`, `delete table ${FAMILY_TABLE}`, `table ${FAMILY_TABLE} {`];
  // Order matters to nft within one file: sets before the rules using them, chains before the
  // map elements jumping to them, maps before the base chain looking them up.
  for (const s of sorted(rs.sets)) out.push(`\tset ${s.name} ${setBody(s, true)}`);
  for (const c of sorted(rs.chains)) {
    out.push(`\tchain ${c.name} {`);
    for (const r of c.rules) out.push(`\t\t${r}`);
    out.push("\t}");
  }
  for (const m of VERDICT_MAP_NAMES) {
    const elems = mapElements(rs.maps[m]);
    const body = elems.length > 0 ? ` elements = { ${elems.join(", ")} }` : "";
    out.push(`\tmap ${m} { type ${VERDICT_MAPS[m].type} : verdict;${body} }`);
  }
  out.push("\tchain forward {", "\t\ttype filter hook forward priority filter; policy accept;");
  for (const r of baseChainRules()) out.push(`\t\t${r}`);
  out.push("\t}", "}");
  return out.join("\n") + "\n";
}

function sorted<T extends { name: string }>(m: ReadonlyMap<string, T>): T[] {
  return [...m.values()].sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
}

function sameList(a: readonly string[], b: readonly string[]): boolean {
  return a.length === b.length && a.every((x, i) => x === b[i]);
}

/**
 * What turns the table `prev` made into `next`, as one transaction: new sets and chains first,
 * then set contents and map elements, then what nothing references any more. Empty string when
 * nothing changed. Chain names are content hashes (a name always means the same rules); a set
 * whose type or flags changed is recreated under the same name only if unreferenced, so the
 * compiler keys set names on type too.
 */
export function renderDelta(prev: PolicyRuleset, next: PolicyRuleset): string {
  const T = FAMILY_TABLE;
  const out: string[] = [];
  for (const s of sorted(next.sets)) {
    const old = prev.sets.get(s.name);
    if (old === undefined) {
      out.push(`add set ${T} ${s.name} ${setBody(s, false)}`);
      if (s.elements.length > 0) out.push(`add element ${T} ${s.name} { ${s.elements.join(", ")} }`);
    } else if (!sameList(old.elements, s.elements)) {
      if (s.elementDelta === true) {
        const had = new Set(old.elements);
        const has = new Set(s.elements);
        const gone = old.elements.filter((e) => !has.has(e));
        const added = s.elements.filter((e) => !had.has(e));
        if (gone.length > 0) out.push(`delete element ${T} ${s.name} { ${gone.join(", ")} }`);
        if (added.length > 0) out.push(`add element ${T} ${s.name} { ${added.join(", ")} }`);
        continue;
      }
      out.push(`flush set ${T} ${s.name}`);
      if (s.elements.length > 0) out.push(`add element ${T} ${s.name} { ${s.elements.join(", ")} }`);
    }
  }
  for (const c of sorted(next.chains)) {
    if (prev.chains.has(c.name)) continue;
    out.push(`add chain ${T} ${c.name}`);
    for (const r of c.rules) out.push(`add rule ${T} ${c.name} ${r}`);
  }
  for (const m of VERDICT_MAP_NAMES) {
    const before = prev.maps[m];
    const after = next.maps[m];
    const del: string[] = [];
    const add: string[] = [];
    for (const [addr, chain] of before) {
      const now = after.get(addr);
      if (now === undefined || now !== chain) del.push(addr);
    }
    for (const [addr, chain] of after) if (before.get(addr) !== chain) add.push(`${addr} : jump ${chain}`);
    if (del.length > 0) out.push(`delete element ${T} ${m} { ${del.sort().join(", ")} }`);
    if (add.length > 0) out.push(`add element ${T} ${m} { ${add.sort().join(", ")} }`);
  }
  for (const c of sorted(prev.chains)) if (!next.chains.has(c.name)) out.push(`delete chain ${T} ${c.name}`);
  for (const s of sorted(prev.sets)) if (!next.sets.has(s.name)) out.push(`delete set ${T} ${s.name}`);
  return out.length === 0 ? "" : out.join("\n") + "\n";
}

export interface RulesetStats {
  sets: number;
  setElements: number;
  chains: number;
  rules: number;
  mapElements: number;
}

export function rulesetStats(rs: PolicyRuleset): RulesetStats {
  let setElements = 0;
  for (const s of rs.sets.values()) setElements += s.elements.length;
  let rules = 0;
  for (const c of rs.chains.values()) rules += c.rules.length;
  let mapElements = 0;
  for (const m of VERDICT_MAP_NAMES) mapElements += rs.maps[m].size;
  return { sets: rs.sets.size, setElements, chains: rs.chains.size, rules, mapElements };
}
