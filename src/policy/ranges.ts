/**
 * ipBlock arithmetic: a CIDR minus its `except` CIDRs, as a sorted list of disjoint closed
 * intervals of addresses of one family, and their nftables element text.
 */
import { bitsOf, formatIp, parseIp, readCidr, type Family } from "../ip/ip";

export interface Interval {
  readonly lo: bigint;
  readonly hi: bigint;
}

export interface ParsedCidr {
  readonly family: Family;
  readonly lo: bigint;
  readonly hi: bigint;
  readonly prefix: number;
}

export class CidrError extends Error {
  override readonly name = "CidrError";
}

/** Parse "a.b.c.d/n" or "x::/n"; host bits are cleared, as the API server's validation expects none. */
export function parseCidr(text: string): ParsedCidr {
  const c = readCidr(text);
  if (c === "no-prefix") throw new CidrError(`${JSON.stringify(text)} is not a CIDR (no prefix length)`);
  const ipText = text.slice(0, text.indexOf("/"));
  if (c === "bad-ip" || c === "bad-prefix" || ipText.includes("::ffff:")) {
    throw new CidrError(`${JSON.stringify(text)} is not a CIDR`);
  }
  if (c === "prefix-too-long") {
    // Error path only: parse again for the family's bit count.
    throw new CidrError(`${JSON.stringify(text)}: prefix length above ${bitsOf(parseIp(ipText)?.family ?? 4)}`);
  }
  return { family: c.ip.family, lo: c.network.value, hi: c.last, prefix: c.prefix };
}

/** cidr minus every except (excepts of another family or outside cidr change nothing). */
export function blockIntervals(cidr: string, except: readonly string[] = []): { family: Family; intervals: Interval[] } {
  const base = parseCidr(cidr);
  let out: Interval[] = [{ lo: base.lo, hi: base.hi }];
  const cuts = except.map(parseCidr).filter((c) => c.family === base.family);
  for (const cut of cuts) {
    const next: Interval[] = [];
    for (const iv of out) {
      if (cut.hi < iv.lo || cut.lo > iv.hi) {
        next.push(iv);
        continue;
      }
      if (cut.lo > iv.lo) next.push({ lo: iv.lo, hi: cut.lo - 1n });
      if (cut.hi < iv.hi) next.push({ lo: cut.hi + 1n, hi: iv.hi });
    }
    out = next;
  }
  return { family: base.family, intervals: out };
}

/** Sort and merge overlapping or adjacent intervals. */
export function mergeIntervals(list: readonly Interval[]): Interval[] {
  const sorted = [...list].sort((a, b) => (a.lo < b.lo ? -1 : a.lo > b.lo ? 1 : 0));
  const out: Interval[] = [];
  for (const iv of sorted) {
    const last = out[out.length - 1];
    if (last !== undefined && iv.lo <= last.hi + 1n) {
      if (iv.hi > last.hi) out[out.length - 1] = { lo: last.lo, hi: iv.hi };
    } else out.push(iv);
  }
  return out;
}

/** nftables element text of an interval: a prefix when it is one, otherwise "lo-hi". */
export function intervalElement(family: Family, iv: Interval): string {
  const bits = bitsOf(family);
  const size = iv.hi - iv.lo + 1n;
  if ((size & (size - 1n)) === 0n && (iv.lo & (size - 1n)) === 0n) {
    const prefix = bits - (size.toString(2).length - 1);
    const addr = formatIp({ family, value: iv.lo });
    return prefix === bits ? addr : `${addr}/${prefix}`;
  }
  return `${formatIp({ family, value: iv.lo })}-${formatIp({ family, value: iv.hi })}`;
}

export function containsAddress(intervals: readonly Interval[], value: bigint): boolean {
  return intervals.some((iv) => iv.lo <= value && value <= iv.hi);
}
