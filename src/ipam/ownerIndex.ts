/**
 * tether's owner index beside a host-local store: (containerId, ifname) -> addresses in O(1).
 *
 * host-local keeps no index: it reads every file of `<dataDir>/<network>` on each ADD (duplicate
 * check) and DEL (release by owner). tether keeps one file per network in a sibling directory,
 * `<dataDir>/.tether-index/<network>`, which host-local never reads (it only walks its own network
 * directory) and which no network name can collide with (names start with a letter or digit).
 *
 * The host-local files stay authoritative. The index is a hint that is trusted as is only when its
 * stamp matches the store: the network directory's inode, mtime and ctime (nanoseconds; every create
 * or unlink by anyone changes them) and the content and times of each `last_reserved_ip.<i>`
 * (host-local rewrites it on every reservation). Otherwise (host-local reserved or released, a crash
 * of tether mid-operation left the header dirty) the index is refreshed incrementally: one listing
 * of the directory and an lstat per address name (storeScan.ts); each slot remembers the inode and
 * ctime of the file it was read from, so only files that are new or changed (a new inode or ctime:
 * host-local creates a new file for every reservation) are read, and slots whose file is gone are
 * dropped. Every answer the index gives is still checked against the address file's content before
 * it is acted on or returned, so a stale entry can cost a lookup but never a wrong release.
 *
 * Times prove something only once the kernel's coarse clock has moved past them (storeScan.settled):
 * a change in the same tick can carry the very same time. A multigrain kernel settles the store
 * directory's ctime at once (settleDir); elsewhere the stamp is written marked unsettled, without a
 * wait under the lock, and the next call that finds the directory's times still equal to it checks
 * the directory's names and inodes (one getdents64 listing, no stat) against the table before it
 * trusts it (namesMatch). A slot whose file's ctime was not settled when recorded is flagged (S_FLAGS) and read again by
 * the next refresh, unless a trusted call settled it first (the header's pending list).
 *
 * Layout: a 1024-byte header (magic, clean flag, slot count, used and tombstone counts, the stamp as
 * JSON), then an open-addressing hash table of 48-byte slots (state, family, flags, 96-bit owner
 * hash, 16-byte address, the file's inode and ctime), linear probing, sized for at most 50 % load when
 * (re)built and rehashed above 75 %. It starts at 16 slots (under 2 KiB): an index reserves no space
 * it does not need, and one that cannot be written (ENOSPC, say) is removed and not used.
 */
import fs = require("node:fs");
import { join } from "node:path";
import { clock, ctimeMs, fileSettled, listNames, quietJit, scanStore, settled, timeMs } from "./storeScan";
import { ownedDirProblem } from "../util/ownedDir";
import { type Family, type Ip, formatIp, parseIp } from "../ip/ip";
import { lazy } from "../util/lazy";

const { O_CREAT, O_NOFOLLOW, O_RDWR } = fs.constants;

export const INDEX_DIR = ".tether-index";
const MAGIC = "TETHIDX2";
const HEADER = 1024;
const SLOT = 48;
const CHUNK = 64;
const EMPTY = 0;
const USED = 1;
const TOMB = 2;
/** Above this load (used + tombstones) the table is rehashed. */
const MAX_LOAD = 0.75;
/** A (re)built table is sized for at most this load. */
const BUILD_LOAD = 0.5;
const MIN_SLOTS = 16;
/** Slot fields. */
const S_FAMILY = 1;
/** Flags: F_UNSETTLED when the ctime was recorded in the clock's tick that wrote it (see storeScan.settled). */
const S_FLAGS = 2;
const F_UNSETTLED = 1;
const S_HASH = 4;
const S_IP = 16;
const S_INO = 32;
const S_CTIME = 40;

export interface IndexEntry {
  slot: number;
  ip: Ip;
}

/** What must be unchanged for the index to be trusted. */
interface Stamp {
  ino: string;
  mtime: string;
  ctime: string;
  /** last_reserved_ip.<i>: [content, mtime, ctime] or null when absent. */
  lr: Record<string, [string, string, string] | null>;
  /** Slots whose ctime was not settled at the last commit (PENDING_MAX at most). */
  p?: number[];
  /** Set when the directory's ctime was of the clock's current tick when written (see settleDir). */
  u?: 1;
}

export const LAST_RESERVED_PREFIX = "last_reserved_ip.";

/** A file's identity as the index remembers it: an entry is re-read when either differs. */
export interface FileId {
  ino: number;
  ctimeMs: number;
}

/** How open() came to trust the index (tests and the benchmark look at it). */
export type IndexRefresh = "trusted" | "incremental" | "full";

/** Three 32-bit string hashes (seeded murmur-like mixing): 96 bits, no crypto module to load. */
export function ownerHash(key: string): Buffer {
  const out = Buffer.alloc(12);
  for (let s = 0; s < 3; s++) {
    let h = (0x9747b28c ^ Math.imul(s + 1, 0x85ebca6b)) >>> 0;
    for (let i = 0; i < key.length; i++) {
      let k = Math.imul(key.charCodeAt(i), 0xcc9e2d51);
      k = (k << 15) | (k >>> 17);
      h ^= Math.imul(k, 0x1b873593);
      h = (h << 13) | (h >>> 19);
      h = (Math.imul(h, 5) + 0xe6546b64) | 0;
    }
    h ^= key.length;
    h ^= h >>> 16;
    h = Math.imul(h, 0x85ebca6b);
    h ^= h >>> 13;
    h = Math.imul(h, 0xc2b2ae35);
    h ^= h >>> 16;
    out.writeUInt32BE(h >>> 0, s * 4);
  }
  return out;
}

function ipBytes(ip: Ip, buf: Buffer, off: number): void {
  let v = ip.value;
  for (let i = 15; i >= 0; i--) {
    buf[off + i] = Number(v & 0xffn);
    v >>= 8n;
  }
}

function ipFrom(buf: Buffer, off: number, family: Family): Ip {
  let v = 0n;
  for (let i = 0; i < 16; i++) v = (v << 8n) | BigInt(buf[off + i] ?? 0);
  return { family, value: v };
}

/** The file name of a slot's address (as formatIp writes it), without BigInt work for IPv4. */
function slotName(buf: Buffer, off: number): string {
  if (buf[off + S_FAMILY] === 4) {
    const b = off + S_IP + 12;
    return `${buf[b]}.${buf[b + 1]}.${buf[b + 2]}.${buf[b + 3]}`;
  }
  return formatIp(ipFrom(buf, off + S_IP, 6));
}

function slotsFor(entries: number): number {
  let p = MIN_SLOTS;
  while (p * BUILD_LOAD < entries + 1) p *= 2;
  return p;
}

const MATCHED = 1;
const IPV6 = 2;

/**
 * What an unsettled slot's ctime is taken as in a refresh: -1 (no file's ctime), so the file is read
 * again; as the two 32-bit words of the double KnownSlots.addSlot copies (IEEE 754 0xbff0000000000000).
 */
const UNSETTLED_LO = 0;
const UNSETTLED_HI = 0xbff00000 | 0;
/** Pending (unsettled) slots the header remembers, to settle them at a later commit without a scan. */
const PENDING_MAX = 32;

/**
 * The used slots of a table keyed by address, for one refresh: parallel typed arrays and an
 * open-addressing table over them (IPv4); IPv6 names in a Map. Each entry matches one file at most.
 * Entry e is the table's e-th used slot (in slot order): no slot number is kept (see refreshInner).
 */
class KnownSlots {
  private n = 0;
  /** IPv4 addresses as signed 32-bit integers (small integers to V8: no number allocated per read). */
  private addr: Int32Array;
  private ino: Float64Array;
  private ctime: Float64Array;
  /** The same as ino and ctime, as 32-bit words: addSlot copies a double's bits through these. */
  private inoW: Int32Array;
  private ctimeW: Int32Array;
  /** MATCHED, IPV6 bits per entry. */
  private flags: Uint8Array;
  /** Entry index + 1 per bucket; 0 is empty. */
  private table: Int32Array;
  private shift: number;
  private v6: Map<string, number[]> | undefined;
  tombs = 0;

  constructor(expected: number) {
    this.addr = new Int32Array(expected);
    this.ino = new Float64Array(expected);
    this.ctime = new Float64Array(expected);
    this.inoW = new Int32Array(this.ino.buffer);
    this.ctimeW = new Int32Array(this.ctime.buffer);
    this.flags = new Uint8Array(expected);
    [this.table, this.shift] = KnownSlots.tableFor(expected);
  }

  /** Buckets for at most 80 % load (linear probing: about 3 probes per hit; 50,000 entries fit 2^16). */
  private static tableFor(entries: number): [Int32Array, number] {
    let bits = 4;
    while (1 << bits < entries * 1.25) bits++;
    return [new Int32Array(1 << bits), 32 - bits];
  }

  private home(v4: number): number {
    return Math.imul(v4, 0x9e3779b1) >>> this.shift;
  }

  private place(e: number): void {
    const mask = this.table.length - 1;
    let i = this.home(this.addr[e] ?? 0);
    while (this.table[i] !== 0) i = (i + 1) & mask;
    this.table[i] = e + 1;
  }

  private next(): number {
    if (this.n === this.addr.length) {
      const cap = Math.max(16, this.n * 2);
      const grow = <T extends Float64Array | Int32Array | Uint8Array>(a: T, make: (n: number) => T): T => {
        const b = make(cap);
        b.set(a);
        return b;
      };
      this.addr = grow(this.addr, (k) => new Int32Array(k));
      this.ino = grow(this.ino, (k) => new Float64Array(k));
      this.ctime = grow(this.ctime, (k) => new Float64Array(k));
      this.inoW = new Int32Array(this.ino.buffer);
      this.ctimeW = new Int32Array(this.ctime.buffer);
      this.flags = grow(this.flags, (k) => new Uint8Array(k));
      [this.table, this.shift] = KnownSlots.tableFor(cap);
      for (let e = 0; e < this.n; e++) if (((this.flags[e] ?? 0) & IPV6) === 0) this.place(e);
    }
    return this.n++;
  }

  /**
   * The used slot at `off` of a chunk of the table (`words`: the chunk's Int32Array view). `ctimes`
   * false: every ctime is taken as 0 (namesMatch compares names and inodes alone). The inode and
   * ctime (doubles) are copied as their two 32-bit words: small integers to V8 in every tier, where
   * Buffer#readDoubleLE, or a double read from a Float64Array before V8 optimizes this function,
   * allocated a number each (1.6 MiB at 50,000 slots).
   */
  addSlot(buf: Buffer, words: Int32Array, off: number, ctimes: boolean): void {
    const e = this.next();
    const i = (off + S_INO) >> 2;
    this.inoW[2 * e] = words[i] ?? 0;
    this.inoW[2 * e + 1] = words[i + 1] ?? 0;
    const c = (off + S_CTIME) >> 2;
    const unsettled = ((buf[off + S_FLAGS] ?? 0) & F_UNSETTLED) !== 0;
    this.ctimeW[2 * e] = !ctimes ? 0 : unsettled ? UNSETTLED_LO : (words[c] ?? 0);
    this.ctimeW[2 * e + 1] = !ctimes ? 0 : unsettled ? UNSETTLED_HI : (words[c + 1] ?? 0);
    if (buf[off + S_FAMILY] === 4) {
      this.addr[e] = int32BE(buf, off + S_IP + 12);
      this.place(e);
      return;
    }
    this.flags[e] = IPV6;
    const v6 = slotName(buf, off);
    this.v6 ??= new Map();
    const list = this.v6.get(v6);
    if (list === undefined) this.v6.set(v6, [e]);
    else list.push(e);
  }

  /**
   * Whether an unmatched slot records this file (address, inode, ctime `sec` and `nsec`); marks it matched. The IPv4 path compares inline (see addSlot).
   */
  match(v4: number, v6: string | undefined, ino: number, sec: number, nsec: number): boolean {
    // No closure in here: one capturing an argument makes V8 allocate a context on every call.
    if (v6 !== undefined) return this.matchV6(v6, ino, timeMs(sec, nsec));
    const key = v4 | 0;
    const mask = this.table.length - 1;
    for (let i = this.home(key); this.table[i] !== 0; i = (i + 1) & mask) {
      const e = (this.table[i] ?? 0) - 1;
      if (this.addr[e] !== key) continue;
      const f = this.flags[e] ?? 0;
      if ((f & MATCHED) === 0 && this.ino[e] === ino && this.ctime[e] === timeMs(sec, nsec)) {
        this.flags[e] = f | MATCHED;
        return true;
      }
    }
    return false;
  }

  private matchV6(v6: string, ino: number, ctime: number): boolean {
    return this.v6?.get(v6)?.some((e) => this.take(e, ino, ctime)) ?? false;
  }

  private take(e: number, ino: number, ctime: number): boolean {
    const f = this.flags[e] ?? 0;
    if ((f & MATCHED) !== 0 || this.ino[e] !== ino || this.ctime[e] !== ctime) return false;
    this.flags[e] = f | MATCHED;
    return true;
  }

  get size(): number {
    return this.n;
  }

  /** Whether no file matched entry e. */
  unmatched(e: number): boolean {
    return ((this.flags[e] ?? 0) & MATCHED) === 0;
  }
}

/** The big-endian 32 bits at `at`, as a signed small integer (Buffer#readUInt32BE allocates a number per read). */
function int32BE(buf: Buffer, at: number): number {
  return ((buf[at] ?? 0) << 24) | ((buf[at + 1] ?? 0) << 16) | ((buf[at + 2] ?? 0) << 8) | (buf[at + 3] ?? 0);
}

/** Slots per read of the table when walking it: 64 KiB. */
const SLOTS_PER_READ = 1365;
const slotChunk = lazy(() => {
  const ab = new ArrayBuffer(SLOTS_PER_READ * SLOT);
  return { buf: Buffer.from(ab), words: new Int32Array(ab) };
});

/**
 * Whether the store directory's ctime in `stamp` is settled (see storeScan.settled), so that the
 * stamp proves the next call that nobody created or removed a file since: a create or unlink by
 * host-local right after we let the lock go, in the same tick, would otherwise stamp the directory
 * with the very same time. (Every create and unlink sets the ctime, which no one can set by hand, so
 * it alone decides.) When the time is the clock's current tick, the directory's ctime is touched
 * once more (chmod to its own mode): a multigrain kernel (6.13+) stamps that finely, ahead of the
 * coarse clock, and the stamp is settled at once. Elsewhere it is not, and no one waits for the tick
 * under the lock (that would hold every concurrent ADD and DEL a tick each): the caller marks the
 * stamp unsettled and the next call checks the names (OwnerIndex.namesMatch).
 */
function settleDir(dir: string, stamp: Stamp): boolean {
  const split = (ns: bigint): [number, number] => [Number(ns / 1_000_000_000n), Number(ns % 1_000_000_000n)];
  const [sec, nsec] = split(BigInt(stamp.ctime));
  if (settled(sec, nsec, clock.coarseNow(), true)) return true;
  if (nsec === 0) return false; // a filesystem of whole seconds: no finer stamp to get
  try {
    fs.chmodSync(dir, Number(fs.lstatSync(dir, { bigint: true }).mode & 0o7777n));
    const st = fs.lstatSync(dir, { bigint: true });
    if (String(st.ino) !== stamp.ino) return false;
    stamp.mtime = String(st.mtimeNs);
    stamp.ctime = String(st.ctimeNs);
    return settled(...split(st.ctimeNs), clock.coarseNow(), true);
  } catch {
    return false; // not ours to touch
  }
}

function tryStat(path: string): fs.BigIntStats | undefined {
  try {
    return fs.lstatSync(path, { bigint: true });
  } catch {
    return undefined;
  }
}

function readText(path: string): string | undefined {
  try {
    const fd = fs.openSync(path, fs.constants.O_RDONLY | O_NOFOLLOW | fs.constants.O_NONBLOCK);
    try {
      const buf = Buffer.allocUnsafe(256);
      const n = fs.readSync(fd, buf, 0, buf.length, null);
      return buf.toString("utf8", 0, n);
    } finally {
      fs.closeSync(fd);
    }
  } catch {
    return undefined;
  }
}

/**
 * How the index reads the store: the trimmed content of an address file ("id\r\nifname", or "id"
 * for legacy files), or undefined when it is not a readable regular file.
 */
export type ReadHolder = (ip: Ip) => string | undefined;

/**
 * The index of one network. Every method must run while the caller holds the store's flock.
 * `open` returns undefined when the index cannot be kept (unwritable data directory, a symlink or
 * a foreign file in its place, no space left): the caller then works from the directory alone, as
 * host-local does.
 */
export class OwnerIndex {
  private slots = 0;
  private used = 0;
  private tombs = 0;
  private clean = false;
  private stampLr: string[] = [];
  private readonly chunk = Buffer.allocUnsafe(CHUNK * SLOT);
  /** Set when the table needs a rehash at commit (grown past MAX_LOAD, or GC changed much). */
  private rebuildAtCommit = false;
  /** How this process came to trust the index. */
  refresh: IndexRefresh = "trusted";
  /** Whether open() had to refresh the index from the directory (incrementally or in full). */
  get rebuilt(): boolean {
    return this.refresh !== "trusted";
  }
  /** Files read by the refresh (for tests and the benchmark). */
  filesRead = 0;

  private constructor(
    private fd: number,
    readonly path: string,
    private readonly storeDir: string,
    private readonly lrCount: number,
    private readonly readHolder: ReadHolder,
  ) {}

  static pathFor(dataDir: string, network: string): string {
    return join(dataDir, INDEX_DIR, network);
  }

  /**
   * Open (creating when missing) and validate against the store; refreshes from the directory when
   * the stamp does not match. `lrCount`: how many range sets the caller's config has (their
   * last_reserved files take part in the stamp). Any failure to write it (ENOSPC on a small store
   * filesystem, say) removes the index file, so it holds no space, and returns undefined.
   */
  static open(dataDir: string, network: string, storeDir: string, lrCount: number, readHolder: ReadHolder): OwnerIndex | undefined {
    const dir = join(dataDir, INDEX_DIR);
    try {
      fs.mkdirSync(dir, { mode: 0o700 });
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== "EEXIST") return undefined;
    }
    if (ownedDirProblem(dir, "IPAM index directory", 0o022) !== undefined) return undefined;
    const euid = process.geteuid?.();
    const path = join(dir, network);
    let fd: number;
    try {
      fd = fs.openSync(path, O_RDWR | O_CREAT | O_NOFOLLOW, 0o600);
    } catch {
      return undefined;
    }
    const idx = new OwnerIndex(fd, path, storeDir, lrCount, readHolder);
    try {
      const fst = fs.fstatSync(fd);
      if (!fst.isFile() || (euid !== undefined && fst.uid !== euid)) {
        idx.close();
        return undefined;
      }
      const readable = idx.readHeader();
      if (!readable || !idx.clean || !idx.stampMatches(true)) idx.refreshFromStore(readable);
    } catch {
      idx.discard();
      return undefined;
    }
    return idx;
  }

  /**
   * The number of reservations the index holds, read-only and without a scan; undefined unless the
   * index is clean and its stamp still matches the store (STATUS's cheap pool check).
   */
  static trustedCount(dataDir: string, network: string, storeDir: string, lrCount: number): number | undefined {
    let fd: number;
    try {
      fd = fs.openSync(join(dataDir, INDEX_DIR, network), fs.constants.O_RDONLY | O_NOFOLLOW);
    } catch {
      return undefined;
    }
    const idx = new OwnerIndex(fd, "", storeDir, lrCount, () => undefined);
    try {
      return idx.readHeader() && idx.clean && idx.stampMatches(false) ? idx.used : undefined;
    } catch {
      return undefined;
    } finally {
      idx.close();
    }
  }

  close(): void {
    if (this.fd >= 0) fs.closeSync(this.fd);
    this.fd = -1;
  }

  /** Close and remove the index file: an index that cannot be written is not kept (nor its space). */
  discard(): void {
    this.close();
    if (this.path !== "") fs.rmSync(this.path, { force: true });
  }

  /** Reads the header; true when the table behind it is usable (clean or not). */
  private readHeader(): boolean {
    const h = Buffer.alloc(HEADER);
    const n = fs.readSync(this.fd, h, 0, HEADER, 0);
    if (n < HEADER || h.toString("latin1", 0, 8) !== MAGIC) return false;
    this.slots = h.readUInt32LE(12);
    this.used = h.readUInt32LE(16);
    this.tombs = h.readUInt32LE(20);
    const len = h.readUInt32LE(24);
    if (this.slots < MIN_SLOTS || (this.slots & (this.slots - 1)) !== 0 || len > HEADER - 32) return false;
    if (fs.fstatSync(this.fd).size < HEADER + this.slots * SLOT) return false;
    this.clean = h[8] === 1;
    if (this.clean) {
      try {
        this.stored = JSON.parse(h.toString("utf8", 32, 32 + len)) as Stamp;
      } catch {
        this.clean = false;
      }
    }
    return true;
  }

  private stored: Stamp | undefined;

  private lrIndices(extra: readonly string[]): string[] {
    const set = new Set(extra);
    for (let i = 0; i < this.lrCount; i++) set.add(String(i));
    return [...set].sort();
  }

  private currentStamp(indices: readonly string[]): Stamp | undefined {
    const d = tryStat(this.storeDir);
    if (d === undefined) return undefined;
    const lr: Stamp["lr"] = {};
    for (const i of indices) {
      const p = join(this.storeDir, `${LAST_RESERVED_PREFIX}${i}`);
      const st = tryStat(p);
      const text = st === undefined ? undefined : readText(p);
      lr[i] = st === undefined || text === undefined ? null : [text, String(st.mtimeNs), String(st.ctimeNs)];
    }
    return { ino: String(d.ino), mtime: String(d.mtimeNs), ctime: String(d.ctimeNs), lr };
  }

  /**
   * Whether the store is as the header's stamp describes it. An unsettled stamp (u) is checked by
   * the names and inodes too; when they match and the clock has since moved past the directory's
   * ctime, `settle` writes the stamp back settled (the next call then needs no listing).
   */
  private stampMatches(settle: boolean): boolean {
    const want = this.stored;
    if (want === undefined) return false;
    const now = this.currentStamp(this.lrIndices(Object.keys(want.lr)));
    if (now === undefined || now.ino !== want.ino || now.mtime !== want.mtime || now.ctime !== want.ctime) return false;
    for (const [i, v] of Object.entries(now.lr)) {
      const w = want.lr[i] ?? null;
      if (v === null || w === null ? v !== w : v[0] !== w[0] || v[1] !== w[1] || v[2] !== w[2]) return false;
    }
    if (want.u !== undefined && !this.namesMatch()) return false;
    this.stampLr = Object.keys(want.lr);
    this.pending = new Set(Array.isArray(want.p) ? want.p : []);
    if (want.u !== undefined && settle) {
      const ns = BigInt(want.ctime);
      if (settled(Number(ns / 1_000_000_000n), Number(ns % 1_000_000_000n), clock.coarseNow(), true)) this.writeHeader();
    }
    return true;
  }

  /** Listings of an unsettled stamp's directory (tests look at it). */
  namesChecked = 0;

  /**
   * Whether the store directory holds exactly the address names and inodes the table records: what a
   * create or unlink by host-local in the tick of our last change (same directory times) would alter.
   * Left open: a file deleted and created again under the same name within that tick that gets the
   * very inode back (ext4 reuses a freed inode at once): nothing tells it apart but its content, so
   * the new owner's lookup misses it until a refresh (a wrong release cannot follow: every answer is
   * checked against the file's content). Without getdents64: false (the call refreshes).
   */
  private namesMatch(): boolean {
    this.namesChecked++;
    const known = new KnownSlots(this.used + 16);
    this.forEachSlot((_slot, buf, off, state, words) => {
      if (state === USED) known.addSlot(buf, words, off, false);
    });
    let listed = 0;
    let same = true;
    const complete = listNames(this.storeDir, (v4, v6, ino) => {
      listed++;
      if (same && !known.match(v4, v6, ino, 0, 0)) same = false;
    });
    return complete && same && listed === this.used;
  }

  /** Unsettled slots to look at again at commit (see S_FLAGS). */
  private pending = new Set<number>();

  /**
   * Clear the flag of pending slots whose ctime the clock has passed. Sound because the file is the
   * one recorded: the index was trusted since (no create or unlink by anyone, or, for an unsettled
   * stamp, the same names and inodes: see namesMatch for the one hole), or this call recorded it.
   */
  private settlePending(): void {
    if (this.pending.size === 0) return;
    const now = clock.coarseNow();
    const s = Buffer.alloc(SLOT);
    for (const slot of [...this.pending]) {
      if (!Number.isInteger(slot) || slot < 0 || slot >= this.slots) {
        this.pending.delete(slot);
        continue;
      }
      this.readSlot(slot, s);
      const flagged = s[0] === USED && ((s[S_FLAGS] ?? 0) & F_UNSETTLED) !== 0;
      if (flagged && !fileSettled(s.readDoubleLE(S_CTIME), now)) continue;
      if (flagged) fs.writeSync(this.fd, Buffer.from([(s[S_FLAGS] ?? 0) & ~F_UNSETTLED]), 0, 1, HEADER + slot * SLOT + S_FLAGS);
      this.pending.delete(slot);
    }
  }

  /**
   * Bring the table in line with the directory: one listing and an lstat per address name; read only
   * the files whose (inode, ctime) no slot records, drop the slots whose file is gone. With no
   * usable table (`keep` false: new, corrupt, or another format) every address file is read.
   */
  private refreshFromStore(keep: boolean): void {
    quietJit(this.used, () => this.refreshInner(keep));
  }

  private refreshInner(keep: boolean): void {
    // The table's used slots, keyed by address: typed arrays, no object per entry (at 50,000 a Map
    // and its strings cost 8 MiB of peak RSS; these 1.8).
    const known = keep ? this.knownSlots() : undefined;
    if (known === undefined) this.reset(slotsFor(0));
    const fresh: { key: string; ip: Ip; id: FileId }[] = [];
    let seen = 0;
    scanStore(this.storeDir, (v4, v6, st) => {
      if (known !== undefined && known.match(v4, v6, st.ino, st.ctimeSec, st.ctimeNsec)) {
        seen++;
        return;
      }
      const ip: Ip | undefined = v4 >= 0 ? { family: 4, value: BigInt(v4) } : v6 === undefined ? undefined : parseIp(v6);
      if (ip === undefined) return;
      const key = this.readHolder(ip);
      this.filesRead++;
      if (key !== undefined) fresh.push({ key, ip, id: { ino: st.ino, ctimeMs: ctimeMs(st) } });
    });
    let tombs = known?.tombs ?? 0;
    // A used slot no file matched is gone from the directory (or was changed, and is re-read above).
    // Found by a second pass over the table, whose e-th used slot is entry e (the table is unchanged
    // since knownSlots read it); only when there is one (none after a host-local ADD).
    if (known !== undefined && seen < known.size) {
      let e = 0;
      this.forEachSlot((slot, _buf, _off, state) => {
        if (state === USED && known.unmatched(e++)) {
          this.writeState(slot, TOMB);
          tombs++;
        }
      });
    }
    this.used = seen;
    this.tombs = tombs;
    if (seen + fresh.length + 1 > this.slots * MAX_LOAD || this.tombs > this.slots / 4) this.rehash(seen + fresh.length);
    this.pending.clear(); // every unsettled slot was read again above (or is gone)
    for (const e of fresh) this.insert(e.key, e.ip, e.id);
    this.refresh = known !== undefined ? "incremental" : "full";
    this.rebuildAtCommit = false;
    this.stampLr = [];
  }

  /** The used slots of the current table, for refreshFromStore. */
  private knownSlots(): KnownSlots {
    this.markDirty();
    // The header's count sizes it (it may be off after a crash mid-update: the arrays then grow).
    const known = new KnownSlots(this.used + 16);
    let tombs = 0;
    this.forEachSlot((_slot, buf, off, state, words) => {
      if (state === TOMB) tombs++;
      if (state === USED) known.addSlot(buf, words, off, true);
    });
    known.tombs = tombs;
    return known;
  }

  /**
   * Calls fn for every slot, reading the table in chunks (`words`: an Int32Array view of `buf`) into
   * one buffer for the process (a refresh walks the table two or three times). Not reentrant.
   */
  private forEachSlot(fn: (slot: number, buf: Buffer, off: number, state: number, words: Int32Array) => void): void {
    const per = SLOTS_PER_READ;
    const { buf, words } = slotChunk();
    for (let first = 0; first < this.slots; first += per) {
      const count = Math.min(per, this.slots - first);
      fs.readSync(this.fd, buf, 0, count * SLOT, HEADER + first * SLOT);
      for (let k = 0; k < count; k++) fn(first + k, buf, k * SLOT, buf[k * SLOT] ?? EMPTY, words);
    }
  }

  private readSlot(slot: number, into: Buffer): void {
    fs.readSync(this.fd, into, 0, SLOT, HEADER + slot * SLOT);
  }

  private writeState(slot: number, state: number): void {
    fs.writeSync(this.fd, Buffer.from([state]), 0, 1, HEADER + slot * SLOT);
  }

  /** An empty table of `slots` slots, written in place (the header says dirty until commit). */
  private reset(slots: number): void {
    this.slots = slots;
    this.used = 0;
    this.tombs = 0;
    this.clean = false;
    this.writeHeader();
    fs.ftruncateSync(this.fd, HEADER);
    fs.ftruncateSync(this.fd, HEADER + slots * SLOT);
  }

  /**
   * Re-insert the used slots into a table sized for `entries` (no file is read). Built in memory and
   * written in place: the header is dirty throughout, so a crash half way only costs a refresh.
   */
  private rehash(entries: number): void {
    const slots = slotsFor(entries);
    const table = Buffer.alloc(slots * SLOT);
    let used = 0;
    this.pending.clear();
    this.forEachSlot((_slot, buf, off, state) => {
      if (state !== USED) return;
      let i = int32BE(buf, off + S_HASH) & (slots - 1);
      while (table[i * SLOT] !== EMPTY) i = (i + 1) & (slots - 1);
      buf.copy(table, i * SLOT, off, off + SLOT);
      if (((buf[off + S_FLAGS] ?? 0) & F_UNSETTLED) !== 0 && this.pending.size < PENDING_MAX) this.pending.add(i);
      used++;
    });
    this.markDirty();
    fs.ftruncateSync(this.fd, HEADER);
    for (let off = 0; off < table.length; ) off += fs.writeSync(this.fd, table, off, table.length - off, HEADER + off);
    this.slots = slots;
    this.used = used;
    this.tombs = 0;
    this.clean = false;
    this.rebuildAtCommit = false;
    this.writeHeader();
  }

  /** Call before changing the store or the table: a crash from here on leaves the index untrusted. */
  markDirty(): void {
    if (!this.clean) return;
    fs.writeSync(this.fd, Buffer.from([0]), 0, 1, 8);
    this.clean = false;
  }

  /** Record the store's current state as the one the table describes. */
  commit(): void {
    if (this.rebuildAtCommit || this.used + this.tombs + 1 > this.slots * MAX_LOAD) this.rehash(this.used);
    this.settlePending();
    this.clean = true;
    this.writeHeader();
  }

  /** Something changed the store in a way the table did not follow: refresh at the next open. */
  invalidate(): void {
    this.markDirty();
    this.stored = undefined;
    this.invalidated = true;
  }

  /** After invalidate(): commit leaves the header dirty, so the next open refreshes. */
  private invalidated = false;

  private writeHeader(): void {
    const h = Buffer.alloc(HEADER);
    h.write(MAGIC, 0, "latin1");
    h.writeUInt32LE(this.slots, 12);
    h.writeUInt32LE(this.used, 16);
    h.writeUInt32LE(this.tombs, 20);
    if (this.clean && !this.invalidated) {
      const stamp = this.currentStamp(this.lrIndices(this.stampLr));
      const ok = stamp !== undefined;
      if (ok && !settleDir(this.storeDir, stamp)) stamp.u = 1;
      if (ok && this.pending.size > 0) stamp.p = [...this.pending];
      const json = ok ? JSON.stringify(stamp) : "";
      const len = Buffer.byteLength(json);
      if (ok && len <= HEADER - 32) {
        h.writeUInt32LE(len, 24);
        h.write(json, 32, "utf8");
        h[8] = 1;
      } else {
        this.clean = false;
      }
    }
    fs.writeSync(this.fd, h, 0, HEADER, 0);
  }

  /** Probe from the owner's home slot; calls visit(slotIndex, offsetInChunk) until it returns true or an empty slot ends the run. */
  private probe(hash: Buffer, visit: (slot: number, off: number, state: number) => boolean): void {
    const mask = this.slots - 1;
    let i = hash.readUInt32BE(0) & mask;
    for (let seen = 0; seen < this.slots; ) {
      const count = Math.min(CHUNK, this.slots - i);
      fs.readSync(this.fd, this.chunk, 0, count * SLOT, HEADER + i * SLOT);
      for (let k = 0; k < count; k++, seen++) {
        const off = k * SLOT;
        const state = this.chunk[off] ?? EMPTY;
        if (visit(i + k, off, state) || state === EMPTY) return;
      }
      i = (i + count) & mask;
    }
  }

  /** The addresses recorded for an owner key ("id\r\nifname" or a legacy "id"). */
  lookup(key: string): IndexEntry[] {
    const hash = ownerHash(key);
    const out: IndexEntry[] = [];
    this.probe(hash, (slot, off, state) => {
      if (state === USED && this.chunk.compare(hash, 0, 12, off + S_HASH, off + S_HASH + 12) === 0) {
        const fam = this.chunk[off + S_FAMILY] === 6 ? 6 : 4;
        out.push({ slot, ip: ipFrom(this.chunk, off + S_IP, fam) });
      }
      return false;
    });
    return out;
  }

  /** Record the file of `ip` (identity `id`: its inode and ctime) as held by `key`. */
  insert(key: string, ip: Ip, id: FileId): void {
    this.markDirty();
    if (this.used + this.tombs + 1 > this.slots * MAX_LOAD) this.rehash(this.used + 1);
    const hash = ownerHash(key);
    let target = -1;
    let targetState = EMPTY;
    this.probe(hash, (slot, _off, state) => {
      if (state === USED) return false;
      target = slot;
      targetState = state;
      return true;
    });
    if (target < 0) {
      this.rebuildAtCommit = true;
      return;
    }
    const s = Buffer.alloc(SLOT);
    s[0] = USED;
    s[S_FAMILY] = ip.family;
    hash.copy(s, S_HASH);
    ipBytes(ip, s, S_IP);
    s.writeDoubleLE(id.ino, S_INO);
    s.writeDoubleLE(id.ctimeMs, S_CTIME);
    // A ctime of the clock's current tick (a file just made, nearly always) proves nothing yet.
    if (!fileSettled(id.ctimeMs, clock.coarseNow())) {
      s[S_FLAGS] = F_UNSETTLED;
      if (this.pending.size < PENDING_MAX) this.pending.add(target);
    }
    fs.writeSync(this.fd, s, 0, SLOT, HEADER + target * SLOT);
    this.used++;
    if (targetState === TOMB) this.tombs--;
  }

  remove(slot: number): void {
    this.markDirty();
    this.writeState(slot, TOMB);
    this.used--;
    this.tombs++;
  }

  /** Remove the slot of (key, ip), if recorded. */
  removeEntry(key: string, ip: Ip): void {
    for (const e of this.lookup(key)) if (e.ip.family === ip.family && e.ip.value === ip.value) this.remove(e.slot);
  }
}
