/**
 * tether's owner index beside a host-local store: (containerId, ifname) -> addresses in O(1).
 *
 * host-local keeps no index: it reads every file of `<dataDir>/<network>` on each ADD (duplicate
 * check) and DEL (release by owner). tether keeps one file per network in a sibling directory,
 * `<dataDir>/.tether-index/<network>`, which host-local never reads (it only walks its own network
 * directory) and which no network name can collide with (names start with a letter or digit).
 *
 * The host-local files stay authoritative. The index is a hint that is trusted only when its stamp
 * matches the store: the network directory's inode, mtime and ctime (nanoseconds; every create or
 * unlink by anyone changes them) and the content and times of each `last_reserved_ip.<i>` (host-local
 * rewrites it on every reservation). Anything else (a host-local ADD or DEL, a wiped directory, a
 * crash of tether mid-operation, which leaves the header marked dirty) makes the next call rebuild
 * the index from the directory, as host-local's own scan would. Every answer the index gives is
 * checked against the address file's content before it is acted on or returned, so a stale entry can
 * cost a lookup but never a wrong release.
 *
 * Layout: a 4096-byte header (magic, clean flag, slot count, used and tombstone counts, the stamp as
 * JSON), then an open-addressing hash table of 32-byte slots (state, family, 96-bit owner hash,
 * 16-byte address), linear probing, grown by a rebuild above 60 % load. Lookups read one 2 KiB
 * chunk of slots per pread; updates write one slot.
 */
import * as fs from "node:fs";
import { basename, dirname, join } from "node:path";
import { ownedDirProblem } from "../util/ownedDir";
import type { Family, Ip } from "./ip";

const { O_CREAT, O_NOFOLLOW, O_RDWR, O_EXCL } = fs.constants;

export const INDEX_DIR = ".tether-index";
const MAGIC = "TETHIDX1";
const HEADER = 4096;
const SLOT = 32;
const CHUNK = 64;
const EMPTY = 0;
const USED = 1;
const TOMB = 2;
const MAX_LOAD = 0.6;

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
}

export const LAST_RESERVED_PREFIX = "last_reserved_ip.";

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

function nextPow2(n: number): number {
  let p = 1024;
  while (p < n) p *= 2;
  return p;
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

/** One entry found when scanning the store directory. */
export interface ScannedEntry {
  ip: Ip;
  /** The trimmed file content: "id\r\nifname", or "id" for legacy files. */
  key: string;
}

/**
 * The index of one network. Every method must run while the caller holds the store's flock.
 * `open` returns undefined when the index cannot be kept (unwritable data directory, a symlink or
 * a foreign file in its place): the caller then works from the directory alone, as host-local does.
 */
export class OwnerIndex {
  private slots = 0;
  private used = 0;
  private tombs = 0;
  private clean = false;
  private stampLr: string[] = [];
  private readonly chunk = Buffer.allocUnsafe(CHUNK * SLOT);
  /** Set when the table needs a rebuild at commit (grown past MAX_LOAD, or GC changed much). */
  private rebuildAtCommit = false;
  /** How this process came to trust the index: for tests and the benchmark's sanity checks. */
  rebuilt = false;

  private constructor(
    private fd: number,
    readonly path: string,
    private readonly storeDir: string,
    private readonly lrCount: number,
  ) {}

  static pathFor(dataDir: string, network: string): string {
    return join(dataDir, INDEX_DIR, network);
  }

  /**
   * Open (creating when missing) and validate against the store; rebuilds from `scan` when the stamp
   * does not match. `lrCount`: how many range sets the caller's config has (their last_reserved
   * files take part in the stamp).
   */
  static open(dataDir: string, network: string, storeDir: string, lrCount: number, scan: () => ScannedEntry[]): OwnerIndex | undefined {
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
    const idx = new OwnerIndex(fd, path, storeDir, lrCount);
    try {
      const fst = fs.fstatSync(fd);
      if (!fst.isFile() || (euid !== undefined && fst.uid !== euid)) {
        idx.close();
        return undefined;
      }
      if (!idx.readHeader() || !idx.stampMatches()) idx.rebuild(scan());
    } catch {
      idx.close();
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
    const idx = new OwnerIndex(fd, "", storeDir, lrCount);
    try {
      return idx.readHeader() && idx.stampMatches() ? idx.used : undefined;
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

  private readHeader(): boolean {
    const h = Buffer.alloc(HEADER);
    const n = fs.readSync(this.fd, h, 0, HEADER, 0);
    if (n < HEADER || h.toString("latin1", 0, 8) !== MAGIC || h[8] !== 1) return false;
    this.slots = h.readUInt32LE(12);
    this.used = h.readUInt32LE(16);
    this.tombs = h.readUInt32LE(20);
    const len = h.readUInt32LE(24);
    if (this.slots === 0 || (this.slots & (this.slots - 1)) !== 0 || len > HEADER - 32) return false;
    if (fs.fstatSync(this.fd).size < HEADER + this.slots * SLOT) return false;
    try {
      this.stored = JSON.parse(h.toString("utf8", 32, 32 + len)) as Stamp;
    } catch {
      return false;
    }
    this.clean = true;
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

  private stampMatches(): boolean {
    const want = this.stored;
    if (want === undefined) return false;
    const now = this.currentStamp(this.lrIndices(Object.keys(want.lr)));
    if (now === undefined || now.ino !== want.ino || now.mtime !== want.mtime || now.ctime !== want.ctime) return false;
    for (const [i, v] of Object.entries(now.lr)) {
      const w = want.lr[i] ?? null;
      if (v === null || w === null ? v !== w : v[0] !== w[0] || v[1] !== w[1] || v[2] !== w[2]) return false;
    }
    this.stampLr = Object.keys(want.lr);
    return true;
  }

  /** Replace the table with the directory's entries (written to a new file, renamed over the old). */
  rebuild(entries: readonly ScannedEntry[]): void {
    const slots = nextPow2(Math.ceil((entries.length + 1) / 0.3));
    const buf = Buffer.alloc(HEADER + slots * SLOT);
    let used = 0;
    for (const e of entries) {
      const hash = ownerHash(e.key);
      let i = hash.readUInt32BE(0) & (slots - 1);
      while (buf[HEADER + i * SLOT] !== EMPTY) i = (i + 1) & (slots - 1);
      const off = HEADER + i * SLOT;
      buf[off] = USED;
      buf[off + 1] = e.ip.family;
      hash.copy(buf, off + 4);
      ipBytes(e.ip, buf, off + 16);
      used++;
    }
    buf.write(MAGIC, 0, "latin1");
    buf[8] = 0; // dirty until commit writes the stamp
    buf.writeUInt32LE(slots, 12);
    // A leading dot: no network name can look like it.
    const tmp = join(dirname(this.path), `.tmp-${process.pid}-${basename(this.path)}`);
    fs.rmSync(tmp, { force: true });
    const fd = fs.openSync(tmp, O_RDWR | O_CREAT | O_EXCL | O_NOFOLLOW, 0o600);
    try {
      fs.writeSync(fd, buf, 0, buf.length, 0);
    } catch (err) {
      fs.closeSync(fd);
      fs.rmSync(tmp, { force: true });
      throw err;
    }
    fs.renameSync(tmp, this.path);
    fs.closeSync(this.fd);
    this.fd = fd;
    this.slots = slots;
    this.used = used;
    this.tombs = 0;
    this.clean = false;
    this.rebuilt = true;
    this.rebuildAtCommit = false;
    this.stampLr = [];
    this.writeHeader();
  }

  /** Call before changing the store or the table: a crash from here on leaves the index untrusted. */
  markDirty(): void {
    if (!this.clean) return;
    fs.writeSync(this.fd, Buffer.from([0]), 0, 1, 8);
    this.clean = false;
  }

  /** Record the store's current state as the one the table describes. */
  commit(scan: () => ScannedEntry[]): void {
    if (this.rebuildAtCommit || (this.used + this.tombs) > this.slots * MAX_LOAD) this.rebuild(scan());
    this.clean = true;
    this.writeHeader();
  }

  /** Something changed the store in a way the table did not follow: rebuild at commit. */
  invalidate(): void {
    this.markDirty();
    this.rebuildAtCommit = true;
  }

  private writeHeader(): void {
    const h = Buffer.alloc(HEADER);
    h.write(MAGIC, 0, "latin1");
    h.writeUInt32LE(this.slots, 12);
    h.writeUInt32LE(this.used, 16);
    h.writeUInt32LE(this.tombs, 20);
    if (this.clean) {
      const stamp = this.currentStamp(this.lrIndices(this.stampLr));
      const json = stamp === undefined ? "" : JSON.stringify(stamp);
      const len = Buffer.byteLength(json);
      if (stamp !== undefined && len <= HEADER - 32) {
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
      if (state === USED && this.chunk.compare(hash, 0, 12, off + 4, off + 16) === 0) {
        const fam = this.chunk[off + 1] === 6 ? 6 : 4;
        out.push({ slot, ip: ipFrom(this.chunk, off + 16, fam) });
      }
      return false;
    });
    return out;
  }

  insert(key: string, ip: Ip): void {
    this.markDirty();
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
    s[1] = ip.family;
    hash.copy(s, 4);
    ipBytes(ip, s, 16);
    fs.writeSync(this.fd, s, 0, SLOT, HEADER + target * SLOT);
    this.used++;
    if (targetState === TOMB) this.tombs--;
  }

  remove(slot: number): void {
    this.markDirty();
    fs.writeSync(this.fd, Buffer.from([TOMB]), 0, 1, HEADER + slot * SLOT);
    this.used--;
    this.tombs++;
  }

  /** Remove the slot of (key, ip), if recorded. */
  removeEntry(key: string, ip: Ip): void {
    for (const e of this.lookup(key)) if (e.ip.family === ip.family && e.ip.value === ip.value) this.remove(e.slot);
  }
}
