/** An IpamStore in memory: the allocator's tests run on it as well as on the host-local disk store. */
import { type Ip, formatIp } from "../../src/ip/ip";
import type { IpamStore, Owner } from "../../src/ipam/store";

export class MemoryStore implements IpamStore {
  readonly held = new Map<string, { ip: Ip; owner: Owner }>();
  readonly last = new Map<number, Ip>();
  locked = 0;

  withLock<T>(fn: () => T): T {
    this.locked++;
    try {
      return fn();
    } finally {
      this.locked--;
    }
  }
  names(): Set<string> {
    this.inLock();
    return new Set(this.held.keys());
  }
  reserve(ip: Ip, owner: Owner, rangeSetIndex: number): boolean {
    this.inLock();
    const key = formatIp(ip);
    if (this.held.has(key)) return false;
    this.held.set(key, { ip, owner: { ...owner } });
    this.last.set(rangeSetIndex, ip);
    return true;
  }
  lastReserved(rangeSetIndex: number): Ip | undefined {
    this.inLock();
    return this.last.get(rangeSetIndex);
  }
  holderOf(ip: Ip): string | undefined {
    this.inLock();
    const h = this.held.get(formatIp(ip));
    return h === undefined ? undefined : `${h.owner.containerId}\r\n${h.owner.ifname}`;
  }
  findByOwner(owner: Owner): Ip[] {
    this.inLock();
    return [...this.held.values()].filter((h) => sameOwner(h.owner, owner)).map((h) => h.ip);
  }
  releaseByOwner(owner: Owner): Ip[] {
    return this.releaseUnless((o) => !sameOwner(o, owner));
  }
  releaseIp(ip: Ip, owner: Owner): boolean {
    this.inLock();
    const key = formatIp(ip);
    const h = this.held.get(key);
    if (h === undefined || !sameOwner(h.owner, owner)) return false;
    this.held.delete(key);
    return true;
  }
  releaseUnless(keep: (owner: Owner) => boolean): Ip[] {
    this.inLock();
    const out: Ip[] = [];
    for (const [key, h] of this.held) {
      if (keep(h.owner)) continue;
      this.held.delete(key);
      out.push(h.ip);
    }
    return out;
  }
  private inLock(): void {
    if (this.locked === 0) throw new Error("store used outside withLock");
  }
}

function sameOwner(a: Owner, b: Owner): boolean {
  return a.containerId === b.containerId && a.ifname === b.ifname;
}
