/**
 * Whether a pool can still hand out an address, cheaply enough for STATUS: the owner index's header
 * gives the number of reservations when it is trusted (no file read per address); only when that
 * count could fill a range set are the store's names listed (names only, never their content).
 */
import fs = require("node:fs");
import { join } from "node:path";
import { parseIp } from "../ip/ip";
import { OwnerIndex } from "./ownerIndex";
import { type RangeSet, isGatewayOf, rangeSetCapacity, rangeSetContains } from "./rangeSet";

/** Reservations among `names` that fall in the set (its gateway excluded). */
export function inUseCount(names: Iterable<string>, set: RangeSet): number {
  let n = 0;
  for (const name of names) {
    const ip = parseIp(name);
    if (ip !== undefined && rangeSetContains(set, ip) && !isGatewayOf(set, ip)) n++;
  }
  return n;
}

/** Indexes of the sets with no free address, given the store's names (pure). */
export function exhaustedSets(sets: readonly RangeSet[], names: Iterable<string>): number[] {
  const list = [...names];
  return sets.flatMap((set, i) => (BigInt(inUseCount(list, set)) >= rangeSetCapacity(set) ? [i] : []));
}

/** Whether `reserved` reservations in all could fill any set (pure). */
export function couldBeFull(sets: readonly RangeSet[], reserved: number): boolean {
  return sets.some((set) => BigInt(reserved) >= rangeSetCapacity(set));
}

/** The exhausted range sets of a network's store (none when the store does not exist yet). */
export function exhaustedRangeSets(dataDir: string, network: string, sets: readonly RangeSet[]): number[] {
  const dir = join(dataDir, network);
  const count = OwnerIndex.trustedCount(dataDir, network, dir, sets.length);
  if (count !== undefined && !couldBeFull(sets, count)) return [];
  let names: string[];
  try {
    names = fs.readdirSync(dir);
  } catch {
    return [];
  }
  return exhaustedSets(sets, names);
}
