/**
 * What allocation needs from a store, so an indexed store (container -> addresses in O(1)) can later
 * replace or wrap the host-local directory scan without touching the allocation logic.
 * Every method except withLock must be called inside withLock.
 */
import type { Ip } from "../ip/ip";

export interface Owner {
  containerId: string;
  ifname: string;
}

export interface IpamStore {
  /** Run fn inside the store's critical section (cross-process). */
  withLock<T>(fn: () => T): T;
  /** Names present in the store: reserved addresses in canonical text, among others. */
  names(): Set<string>;
  /** Reserve exactly this address for the owner; false when already taken. Records the round-robin hint. */
  reserve(ip: Ip, owner: Owner, rangeSetIndex: number): boolean;
  /** The round-robin hint of a range set. */
  lastReserved(rangeSetIndex: number): Ip | undefined;
  /** Who holds an address (raw key text), for messages. */
  holderOf(ip: Ip): string | undefined;
  /** Addresses the owner holds (including legacy id-only reservations). */
  findByOwner(owner: Owner): Ip[];
  /** Release everything the owner holds (host-local semantics); returns what was released. */
  releaseByOwner(owner: Owner): Ip[];
  /** Release one address if it still belongs to the owner. */
  releaseIp(ip: Ip, owner: Owner): boolean;
  /** Release every reservation whose owner `keep` rejects; returns what was released. */
  releaseUnless(keep: (owner: Owner) => boolean): Ip[];
}
