/**
 * tether-ipam: host-local compatible allocation on top of the pure range/allocator logic and the
 * host-local disk layout. Synchronous on purpose: a CNI call is one short process and sync fs calls
 * are the cheapest way through thousands of small files.
 */
import fs = require("node:fs");
import { IpamError } from "./errors";
import type { Dns, IpamResult } from "../cni/types";
import type { IpamConfig } from "./config";
import { exhaustedError, freeCandidates, matchRequested, unavailableError } from "./allocator";
import { DiskStore, type Reservation, type StoreOptions, listReservations as listStore, validateOwner } from "./diskStore";
import { type Ip, formatIp, readIpMaybeCidr } from "../ip/ip";
import { type Range, type RangeSet, rangeIndexFor, rangeSetContains } from "./rangeSet";
import { IndexedStore } from "./indexedStore";
import { inUseCount } from "./pool";
import { listingText } from "../util/quote";
import type { IpamStore, Owner } from "./store";

export type { Reservation } from "./diskStore";
export type { IpamStore, Owner } from "./store";

export interface AllocateOptions extends Owner, StoreOptions {
  /** "ip" or "ip/prefix"; when given, replaces cfg.requestedIps. */
  requestedIps?: readonly string[];
}

export type ReleaseOptions = Owner & StoreOptions;

type StoreConfig = Pick<IpamConfig, "dataDir" | "network"> & { rangeSets?: IpamConfig["rangeSets"] };

/** resolv.conf -> result dns, as host-local reads it. */
export function parseResolvConf(text: string): Dns {
  const dns: Dns = {};
  for (const raw of text.split("\n")) {
    const line = raw.trim();
    if (line === "" || line.startsWith("#") || line.startsWith(";")) continue;
    const [key, ...rest] = line.split(/\s+/);
    if (rest.length === 0) continue;
    if (key === "nameserver") (dns.nameservers ??= []).push(rest[0] ?? "");
    else if (key === "domain") dns.domain = rest[0] ?? "";
    else if (key === "search") (dns.search ??= []).push(...rest);
    else if (key === "options") (dns.options ??= []).push(...rest);
  }
  return dns;
}

function readDns(path: string): Dns {
  try {
    return parseResolvConf(fs.readFileSync(path, "utf8"));
  } catch (err) {
    const code = err instanceof Error && "code" in err ? String(err.code) : String(err);
    throw new IpamError("config", `ipam.resolvConf: cannot read ${path}: ${code}`, { cause: err });
  }
}

/**
 * What the round robin must skip. Starts empty: a reservation attempt (O_EXCL create) is the truth,
 * and after the last reserved address the next one is nearly always free. Only after a run of
 * taken addresses does it read the directory's names once (no file contents), so a fragmented
 * store costs one listing instead of thousands of failed creates.
 */
class Taken {
  private names: Set<string> | undefined;
  private misses = 0;
  constructor(private readonly store: IpamStore) {}
  has(ip: Ip): boolean {
    return this.names?.has(formatIp(ip)) ?? false;
  }
  add(ip: Ip): void {
    this.names?.add(formatIp(ip));
    if (this.names === undefined && ++this.misses >= TAKEN_RUN_BEFORE_LISTING) this.names = this.store.names();
  }
  all(): Set<string> {
    return (this.names ??= this.store.names());
  }
}
const TAKEN_RUN_BEFORE_LISTING = 32;

interface Reserved {
  ip: Ip;
  range: Range;
}

/** One range set, inside the lock: the requested address, or the next free one in round-robin order. */
function allocateInSet(
  store: IpamStore,
  set: RangeSet,
  setIndex: number,
  owner: Owner,
  requested: Ip | undefined,
  taken: Taken,
  owned: readonly Ip[],
): Reserved {
  if (requested !== undefined) {
    const range = set.ranges[rangeIndexFor(set, requested)];
    if (range === undefined) throw unavailableError(requested, `is outside range set ${setIndex}`);
    if (!store.reserve(requested, owner, setIndex)) {
      const holder = store.holderOf(requested)?.trim().replace("\r\n", "/");
      // The holder is a file's content, maybe planted: quoted and cut.
      throw unavailableError(requested, `is already in use${holder ? ` by ${listingText(holder)}` : ""}`);
    }
    return { ip: requested, range };
  }
  const dup = owned.find((ip) => rangeSetContains(set, ip));
  if (dup !== undefined) {
    throw new IpamError(
      "unavailable",
      `${formatIp(dup)} has been allocated to ${listingText(owner.containerId)}/${owner.ifname}, duplicate allocation is not allowed`,
    );
  }
  for (const c of freeCandidates(set, store.lastReserved(setIndex), (ip) => taken.has(ip))) {
    if (store.reserve(c.ip, owner, setIndex)) return c;
    taken.add(c.ip);
  }
  throw exhaustedError(set, setIndex, inUseCount(taken.all(), set));
}

function requestedFrom(opts: Pick<AllocateOptions, "requestedIps">, cfg: IpamConfig): readonly Ip[] {
  if (opts.requestedIps === undefined) return cfg.requestedIps;
  return opts.requestedIps.map((text, i) => {
    const ip = readIpMaybeCidr(text);
    if (ip === undefined) throw new IpamError("config", `requestedIps[${i}]: ${JSON.stringify(text)} is not an IP address`);
    return ip;
  });
}

/**
 * One address per range set for (containerId, ifname), in one critical section; a failure in a later
 * set releases the earlier ones.
 */
export function allocate(cfg: IpamConfig, opts: AllocateOptions): IpamResult {
  return allocateIn(() => openStore(cfg, opts, true), cfg, opts);
}

/**
 * allocate() on any store: `open` is called once the request is known to be valid (so a bad request
 * never creates the host-local directory). Tests run it on an in-memory store as well.
 */
export function allocateIn(open: () => IpamStore, cfg: IpamConfig, opts: Owner & Pick<AllocateOptions, "requestedIps">): IpamResult {
  const owner: Owner = { containerId: opts.containerId, ifname: opts.ifname };
  validateOwner(owner);
  const slots = matchRequested(cfg.rangeSets, requestedFrom(opts, cfg));
  const dns = cfg.resolvConf === undefined ? undefined : readDns(cfg.resolvConf);
  const store = open();

  const reserved = store.withLock(() => {
    const taken = new Taken(store);
    // host-local's duplicate check reads every file; here it is an index lookup, and only needed
    // when some set picks freely.
    const owned = slots.some((s) => s === undefined) ? store.findByOwner(owner) : [];
    const done: Reserved[] = [];
    try {
      cfg.rangeSets.forEach((set, i) => {
        const r = allocateInSet(store, set, i, owner, slots[i], taken, owned);
        done.push(r);
      });
    } catch (err) {
      for (const r of done) store.releaseIp(r.ip, owner);
      throw err;
    }
    return done;
  });

  const result: IpamResult = {
    ips: reserved.map((r) => ({ address: `${formatIp(r.ip)}/${r.range.prefix}`, gateway: formatIp(r.range.gateway) })),
    routes: cfg.routes.map((r) => ({ ...r })),
  };
  if (dns !== undefined) result.dns = dns;
  return result;
}

/** The host-local store of the network with tether's owner index beside it. */
export function openStore(cfg: StoreConfig, opts: StoreOptions, create: true): IndexedStore;
export function openStore(cfg: StoreConfig, opts: StoreOptions, create: false): IndexedStore | undefined;
export function openStore(cfg: StoreConfig, opts: StoreOptions, create: boolean): IndexedStore | undefined {
  const o: StoreOptions & { create: boolean } = { create };
  if (opts.lockTimeoutMs !== undefined) o.lockTimeoutMs = opts.lockTimeoutMs;
  const disk = DiskStore.open(cfg.dataDir, cfg.network, o);
  return disk === undefined ? undefined : new IndexedStore(disk, cfg.dataDir, cfg.network, cfg.rangeSets?.length ?? 0);
}

/**
 * Release everything (containerId, ifname) holds in the network, whichever range it is in (as
 * host-local's DEL). Idempotent: returns 0 when nothing is held or the directory does not exist.
 */
export function release(cfg: StoreConfig, opts: ReleaseOptions): number {
  const owner: Owner = { containerId: opts.containerId, ifname: opts.ifname };
  validateOwner(owner);
  const store = openStore(cfg, opts, false);
  if (store === undefined) return 0;
  return store.withLock(() => store.releaseByOwner(owner).length);
}

/** The addresses (containerId, ifname) holds; throws IpamError "not-held" when it holds none (host-local CHECK). */
export function check(cfg: StoreConfig, opts: ReleaseOptions): string[] {
  const owner: Owner = { containerId: opts.containerId, ifname: opts.ifname };
  validateOwner(owner);
  const store = openStore(cfg, opts, false);
  const held = store === undefined ? [] : store.withLock(() => store.findByOwner(owner));
  if (held.length === 0) {
    throw new IpamError(
      "not-held",
      `no IP address reserved for container ${listingText(owner.containerId)} interface ${owner.ifname} in network ${cfg.network}`,
    );
  }
  return held.map(formatIp);
}

export function listReservations(dataDir: string, network?: string): Reservation[] {
  return listStore(dataDir, network);
}

/**
 * CNI GC: release every reservation in the network not held by one of the valid attachments
 * (a legacy id-only reservation stays when its container has any valid attachment).
 */
export function gc(cfg: StoreConfig, valid: readonly Owner[], opts: StoreOptions = {}): number {
  const keys = new Set(valid.map((o) => `${o.containerId}\n${o.ifname}`));
  const ids = new Set(valid.map((o) => o.containerId));
  const keep = (o: Owner): boolean => (o.ifname === "" ? ids.has(o.containerId) : keys.has(`${o.containerId}\n${o.ifname}`));
  const store = openStore(cfg, opts, false);
  if (store === undefined) return 0;
  return store.withLock(() => store.releaseUnless(keep).length);
}
