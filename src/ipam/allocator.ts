/**
 * Address choice (pure): host-local's round-robin order and the matching of requested addresses to
 * range sets. The store decides what is taken; this module only decides what to try next.
 */
import { IpamError } from "./errors";
import { type Ip, formatIp, ipEquals } from "../ip/ip";
import { type Range, type RangeSet, isGatewayOf, rangeIndexFor, rangeSetCapacity, rangeSetText } from "./rangeSet";

export interface Candidate {
  readonly ip: Ip;
  readonly range: Range;
}

/**
 * Every address of the set once, in host-local's order: from lastReserved+1 when lastReserved lies in
 * the set, else from the first range's start; to each range's end, then on to the next range
 * (wrapping); gateways skipped; stops when back at the first address produced.
 */
export function* roundRobin(set: RangeSet, lastReserved: Ip | undefined): Generator<Candidate> {
  const ranges = set.ranges;
  const lastIdx = lastReserved === undefined ? -1 : rangeIndexFor(set, lastReserved);
  let idx = lastIdx >= 0 ? lastIdx : 0;
  let cur: bigint | undefined = lastIdx >= 0 ? lastReserved?.value : undefined;
  let start: bigint | undefined;
  for (;;) {
    let r = ranges[idx];
    if (r === undefined) return;
    if (cur === undefined) {
      cur = r.rangeStart.value;
    } else if (cur === r.rangeEnd.value) {
      idx = (idx + 1) % ranges.length;
      r = ranges[idx];
      if (r === undefined) return;
      cur = r.rangeStart.value;
    } else {
      cur += 1n;
    }
    if (start === undefined) start = cur;
    else if (cur === start) return;
    if (cur !== r.gateway.value) yield { ip: { family: set.family, value: cur }, range: r };
  }
}

/** The round-robin candidates that `isTaken` does not rule out. */
export function* freeCandidates(
  set: RangeSet,
  lastReserved: Ip | undefined,
  isTaken: (ip: Ip) => boolean,
): Generator<Candidate> {
  for (const c of roundRobin(set, lastReserved)) if (!isTaken(c.ip)) yield c;
}

export function exhaustedError(set: RangeSet, setIndex: number, inUse: number): IpamError {
  const capacity = rangeSetCapacity(set);
  return new IpamError(
    "exhausted",
    `no IP addresses available in range set ${setIndex} (${rangeSetText(set)}): ${inUse} of ${capacity} addresses in use`,
  );
}

export function unavailableError(ip: Ip, why: string): IpamError {
  return new IpamError("unavailable", `requested IP address ${formatIp(ip)} ${why}`);
}

/**
 * Assign each requested address to the range set containing it (host-local merges all sources and
 * allows one per set). Refuses an address outside every set, a gateway, or a second one for a set.
 * Returns one slot per set: the requested address or undefined.
 */
export function matchRequested(sets: readonly RangeSet[], requested: readonly Ip[]): (Ip | undefined)[] {
  const slots: (Ip | undefined)[] = sets.map(() => undefined);
  const seen: Ip[] = [];
  for (const ip of requested) {
    if (seen.some((s) => ipEquals(s, ip))) continue;
    seen.push(ip);
    const setIndex = sets.findIndex((s) => rangeIndexFor(s, ip) >= 0);
    const set = sets[setIndex];
    if (set === undefined) throw unavailableError(ip, "is outside every range set");
    if (isGatewayOf(set, ip)) throw unavailableError(ip, `is the gateway of range set ${setIndex}`);
    const already = slots[setIndex];
    if (already !== undefined) {
      throw unavailableError(ip, `is a second address for range set ${setIndex} (already ${formatIp(already)})`);
    }
    slots[setIndex] = ip;
  }
  return slots;
}
