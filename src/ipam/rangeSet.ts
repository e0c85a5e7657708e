/**
 * Range sets as host-local understands them (pure): canonicalisation with host-local's defaults,
 * overlap rules, membership. Errors are IpamError "config" naming the offending field path.
 */
import { IpamError } from "./errors";
import { GO_PREFIX_LENGTH } from "../ip/text";
import { type Family, type Ip, bitsOf, formatIp, ipEquals, isV4Mapped, lastOf, networkOf, parseIp } from "../ip/ip";

/** One range as written in the config, with where it came from (for error messages). */
export interface RangeInput {
  subnet: string;
  rangeStart?: string;
  rangeEnd?: string;
  gateway?: string;
  /** Field path prefix, e.g. `ipam.ranges[1][0]`, `runtimeConfig.ipRanges[0][0]` or `ipam` (legacy). */
  path: string;
}

export interface RangeSetInput {
  ranges: RangeInput[];
  /** e.g. `ipam.ranges[1]`. */
  path: string;
}

export interface Range {
  readonly subnet: Ip;
  readonly prefix: number;
  readonly rangeStart: Ip;
  readonly rangeEnd: Ip;
  readonly gateway: Ip;
}

export interface RangeSet {
  readonly family: Family;
  readonly ranges: readonly Range[];
  /** Where the set came from, for messages. */
  readonly path: string;
}

function invalid(path: string, what: string): IpamError {
  return new IpamError("config", `${path}: ${what}`);
}

export function subnetText(r: Range): string {
  return `${formatIp(r.subnet)}/${r.prefix}`;
}

/** "start-end", as host-local prints a range. */
export function rangeText(r: Range): string {
  return `${formatIp(r.rangeStart)}-${formatIp(r.rangeEnd)}`;
}

export function rangeSetText(set: RangeSet): string {
  return set.ranges.map(rangeText).join(",");
}

function parseSubnet(text: string, path: string): { subnet: Ip; prefix: number } {
  const slash = text.indexOf("/");
  const ipText = slash < 0 ? text : text.slice(0, slash);
  const ip = parseIp(ipText);
  const prefixText = text.slice(slash + 1);
  if (slash < 0 || ip === undefined || !GO_PREFIX_LENGTH.test(prefixText)) throw invalid(path, `${text} is not a CIDR`);
  // Go yields a 4-byte address with a 16-byte mask here and refuses the pair.
  if (isV4Mapped(ipText)) throw invalid(path, `${text}: IPv4-mapped IPv6 subnets are not supported`);
  const prefix = Number(prefixText);
  const bits = bitsOf(ip.family);
  if (prefix > bits) throw invalid(path, `${text} is not a CIDR`);
  // Nothing to hand out in a /31, /32, /127 or /128 (host-local: "too small to allocate from").
  if (prefix > bits - 2) throw invalid(path, `${text} is too small to allocate from`);
  const network = networkOf(ip, prefix);
  if (network.value !== ip.value) {
    throw invalid(path, `${text} has host bits set (the network address is ${formatIp(network)}/${prefix})`);
  }
  return { subnet: ip, prefix };
}

function parseAddress(text: string, path: string, family: Family): Ip {
  const ip = parseIp(text);
  if (ip === undefined) throw invalid(path, `${text} is not an IP address`);
  if (ip.family !== family) throw invalid(path, `${text} is not an IPv${family} address like its subnet`);
  return ip;
}

function inSubnet(ip: Ip, subnet: Ip, prefix: number): boolean {
  return ip.family === subnet.family && networkOf(ip, prefix).value === subnet.value;
}

/**
 * host-local's defaults: gateway = network+1, rangeStart = network+1 (the iterator skips the gateway),
 * rangeEnd = broadcast-1 for IPv4, the last address for IPv6.
 */
export function canonicalizeRange(input: RangeInput): Range {
  const { subnet, prefix } = parseSubnet(input.subnet, `${input.path}.subnet`);
  const fam = subnet.family;
  const first: Ip = { family: fam, value: subnet.value + 1n };
  const last = lastOf(subnet, prefix);
  const subnetStr = `${formatIp(subnet)}/${prefix}`;

  const gateway = input.gateway === undefined ? first : parseAddress(input.gateway, `${input.path}.gateway`, fam);

  const bound = (key: "rangeStart" | "rangeEnd", dflt: Ip): Ip => {
    const text = input[key];
    if (text === undefined) return dflt;
    const ip = parseAddress(text, `${input.path}.${key}`, fam);
    if (!inSubnet(ip, subnet, prefix)) throw invalid(`${input.path}.${key}`, `${text} is outside subnet ${subnetStr}`);
    return ip;
  };
  const rangeStart = bound("rangeStart", first);
  const rangeEnd = bound("rangeEnd", fam === 4 ? { family: 4, value: last.value - 1n } : last);
  if (rangeEnd.value < rangeStart.value) {
    throw invalid(`${input.path}.rangeEnd`, `${formatIp(rangeEnd)} is before rangeStart ${formatIp(rangeStart)}`);
  }
  return { subnet, prefix, rangeStart, rangeEnd, gateway };
}

/** True when ip lies within [rangeStart, rangeEnd] (host-local's Range.Contains). */
export function rangeContains(r: Range, ip: Ip): boolean {
  return ip.family === r.rangeStart.family && ip.value >= r.rangeStart.value && ip.value <= r.rangeEnd.value;
}

export function rangesOverlap(a: Range, b: Range): boolean {
  return (
    a.rangeStart.family === b.rangeStart.family &&
    a.rangeStart.value <= b.rangeEnd.value &&
    b.rangeStart.value <= a.rangeEnd.value
  );
}

export function rangeIndexFor(set: RangeSet, ip: Ip): number {
  return set.ranges.findIndex((r) => rangeContains(r, ip));
}

export function rangeSetContains(set: RangeSet, ip: Ip): boolean {
  return rangeIndexFor(set, ip) >= 0;
}

/** True when ip is the gateway of the range (of this set) that contains it. */
export function isGatewayOf(set: RangeSet, ip: Ip): boolean {
  const r = set.ranges[rangeIndexFor(set, ip)];
  return r !== undefined && ipEquals(r.gateway, ip);
}

/** How many addresses the set can hand out: every range address except a gateway inside it. */
export function rangeSetCapacity(set: RangeSet): bigint {
  let n = 0n;
  for (const r of set.ranges) {
    n += r.rangeEnd.value - r.rangeStart.value + 1n;
    if (rangeContains(r, r.gateway)) n -= 1n;
  }
  return n;
}

export function canonicalizeRangeSet(input: RangeSetInput): RangeSet {
  const first = input.ranges[0];
  if (first === undefined) throw invalid(input.path, "empty range set");
  const ranges: Range[] = [];
  const family = canonicalizeRange(first).subnet.family;
  input.ranges.forEach((ri, i) => {
    const r = canonicalizeRange(ri);
    if (r.subnet.family !== family) {
      throw invalid(`${ri.path}.subnet`, `${ri.subnet} is IPv${r.subnet.family} but range set ${input.path} is IPv${family}`);
    }
    for (let j = 0; j < i; j++) {
      const other = ranges[j];
      if (other !== undefined && rangesOverlap(other, r)) {
        throw invalid(ri.path, `range ${rangeText(r)} overlaps ${input.ranges[j]?.path ?? ""} (${rangeText(other)})`);
      }
    }
    ranges.push(r);
  });
  return { family, ranges, path: input.path };
}

export function rangeSetsOverlap(a: RangeSet, b: RangeSet): boolean {
  return a.ranges.some((ra) => b.ranges.some((rb) => rangesOverlap(ra, rb)));
}

/** Canonicalise every set and refuse overlaps between sets. */
export function canonicalizeRangeSets(inputs: readonly RangeSetInput[]): RangeSet[] {
  const sets = inputs.map(canonicalizeRangeSet);
  sets.forEach((s, i) => {
    for (let j = 0; j < i; j++) {
      const other = sets[j];
      if (other !== undefined && rangeSetsOverlap(other, s)) {
        throw invalid(s.path, `range set ${rangeSetText(s)} overlaps ${other.path} (${rangeSetText(other)})`);
      }
    }
  });
  return sets;
}
