/**
 * host-local's on-disk store, byte for byte, so the reference plugin and tether can share a data
 * directory at the same time:
 *   <dataDir>/<network>/            0755
 *   <dataDir>/<network>/<ip>        "<containerID>\r\n<ifname>", 0600, created whole (O_TMPFILE, then
 *                                   linkat, which fails when the name exists), else O_CREAT|O_EXCL
 *   <dataDir>/<network>/last_reserved_ip.<rangeSetIndex>   the last reserved address, no newline
 *   <dataDir>/<network>/lock        empty; flock(LOCK_EX) around each critical section
 * Symlinks are never followed inside the network directory; names are validated before use.
 */
import fs = require("node:fs");
import { join } from "node:path";
import { MAX_CONTAINER_ID_LENGTH, containerIdProblem, ifnameProblem, isNetworkName } from "../util/ids";
import { IpamError } from "./errors";
import { quoteForeign } from "../util/quote";
import { ownedDirProblem } from "../util/ownedDir";
import { sleepSync as sleepMs } from "../util/sleep";
import { LOCK_EX, LOCK_NB, LOCK_UN, flock, linkOpenFile } from "../sys/libc";
import { type Ip, formatIp, parseIp } from "../ip/ip";
import type { IpamStore, Owner } from "./store";

const { O_CREAT, O_EXCL, O_NOFOLLOW, O_NONBLOCK, O_RDONLY, O_TRUNC, O_WRONLY } = fs.constants;

export const LINE_BREAK = "\r\n";
export const LAST_RESERVED_PREFIX = "last_reserved_ip.";
export const LOCK_FILE = "lock";
export const DEFAULT_LOCK_TIMEOUT_MS = 10_000;
/**
 * The largest reservation file read: the longest owner key ADD accepts ("<id>\r\n<ifname>") and room
 * for stray whitespace. A larger file is refused whole, never read in part (a cut key could match).
 */
export const MAX_RESERVATION_BYTES = MAX_CONTAINER_ID_LENGTH + 2 + 15 + 64;

export type { Owner } from "./store";

export interface Reservation {
  network: string;
  address: string;
  containerId: string;
  /** "" for legacy files that hold only the container id. */
  ifname: string;
}

export interface StoreOptions {
  lockTimeoutMs?: number;
}

export function validateNetworkName(name: string): void {
  if (!isNetworkName(name)) {
    throw new IpamError("config", `name: ${JSON.stringify(name)} is not a valid network name`);
  }
}

/** The CNI rules (skel's): they also keep ids and ifnames from breaking the "id\r\nifname" format. */
export function validateOwner(owner: Owner): void {
  const problem = containerIdProblem(owner.containerId);
  if (problem !== undefined) {
    throw new IpamError("environment", `CNI_CONTAINERID: ${quoteForeign(owner.containerId)} ${problem}`);
  }
  const ifn = owner.ifname;
  if (ifnameProblem(ifn) !== undefined) {
    throw new IpamError("environment", `CNI_IFNAME: ${quoteForeign(ifn)} is not a valid interface name`);
  }
}

export function ownerKey(owner: Owner): string {
  return `${owner.containerId.trim()}${LINE_BREAK}${owner.ifname}`;
}

function errnoCode(err: unknown): string | undefined {
  return err instanceof Error && "code" in err && typeof err.code === "string" ? err.code : undefined;
}

function ioError(msg: string, cause?: unknown): IpamError {
  return new IpamError("io", msg, { cause });
}

function writeAll(fd: number, text: string, path: string): void {
  const bytes = Buffer.from(text);
  try {
    for (let off = 0; off < bytes.length; ) off += fs.writeSync(fd, bytes, off, bytes.length - off);
  } catch (err) {
    throw ioError(`cannot write ${path}: ${errnoCode(err) ?? String(err)}`, err);
  }
}

/** O_TMPFILE = __O_TMPFILE | O_DIRECTORY; node:fs exports only the latter, whose value differs by architecture. */
const O_TMPFILE = 0o20000000 | fs.constants.O_DIRECTORY;
/** What open(O_TMPFILE) fails with where the kernel or the filesystem lacks it. */
const TMPFILE_UNSUPPORTED = new Set(["EOPNOTSUPP", "ENOTSUP", "EISDIR", "EINVAL"]);


/** What reading a store file gave: its text, or why there is none. */
export type FileRead = { text: string } | { tooLarge: true } | { unreadable: string };

/**
 * Read a whole store file without following a symlink or blocking on a FIFO. A file larger than
 * `buf` (less one byte) is refused, never cut.
 */
export function readBounded(path: string, buf: Buffer): FileRead {
  let fd: number;
  try {
    fd = fs.openSync(path, O_RDONLY | O_NOFOLLOW | O_NONBLOCK);
  } catch (err) {
    return { unreadable: errnoCode(err) ?? String(err) };
  }
  try {
    let len = 0;
    for (;;) {
      const n = fs.readSync(fd, buf, len, buf.length - len, null);
      if (n === 0) break;
      len += n;
      if (len >= buf.length) return { tooLarge: true };
    }
    return { text: buf.toString("utf8", 0, len) };
  } catch (err) {
    return { unreadable: errnoCode(err) ?? String(err) };
  } finally {
    fs.closeSync(fd);
  }
}

/** A buffer for readBounded of reservation files (one more byte than the largest accepted). */
export function reservationBuffer(): Buffer {
  return Buffer.allocUnsafe(MAX_RESERVATION_BYTES + 1);
}

/** A reservation file's text; undefined if unreadable or too large to be one. */
function readSmall(path: string, buf: Buffer): string | undefined {
  const r = readBounded(path, buf);
  return "text" in r ? r.text : undefined;
}

/** Check that a directory we are about to use is a real directory, ours, and not world-writable. */
function checkDirectory(dir: string): void {
  const problem = ownedDirProblem(dir, "IPAM directory", 0o002);
  if (problem !== undefined) throw ioError(problem.message, problem.cause);
}

/** One network's directory. Methods other than open/withLock must run inside withLock. */
export class DiskStore implements IpamStore {
  private readonly buf = reservationBuffer();

  private constructor(
    readonly dir: string,
    private readonly lockTimeoutMs: number,
  ) {}

  get lockPath(): string {
    return join(this.dir, LOCK_FILE);
  }

  /** The directory path for a network; refuses names that could leave the data directory. */
  static dirFor(dataDir: string, network: string): string {
    validateNetworkName(network);
    return join(dataDir, network);
  }

  /** Open (creating when `create`) the network's directory. Returns undefined if absent and !create. */
  static open(dataDir: string, network: string, opts: StoreOptions & { create: boolean }): DiskStore | undefined {
    const dir = DiskStore.dirFor(dataDir, network);
    if (opts.create) {
      try {
        fs.mkdirSync(dataDir, { recursive: true, mode: 0o755 });
        fs.mkdirSync(dir, { mode: 0o755 });
      } catch (err) {
        if (errnoCode(err) !== "EEXIST") throw ioError(`cannot create IPAM directory ${dir}: ${errnoCode(err) ?? String(err)}`, err);
      }
    } else if (!fs.existsSync(dir)) {
      return undefined;
    }
    checkDirectory(dir);
    return new DiskStore(dir, opts.lockTimeoutMs ?? DEFAULT_LOCK_TIMEOUT_MS);
  }

  /** Run fn holding flock(LOCK_EX) on `lock`; polls with LOCK_NB and gives up with code 11. */
  withLock<T>(fn: () => T): T {
    let fd: number;
    try {
      fd = fs.openSync(this.lockPath, O_RDONLY | O_CREAT | O_NOFOLLOW | O_NONBLOCK, 0o600);
    } catch (err) {
      throw ioError(`cannot open lock file ${this.lockPath}: ${errnoCode(err) ?? String(err)}`, err);
    }
    try {
      if (!fs.fstatSync(fd).isFile()) throw ioError(`lock file ${this.lockPath} is not a regular file`);
      this.acquire(fd);
      try {
        return fn();
      } finally {
        flock(fd, LOCK_UN);
      }
    } finally {
      fs.closeSync(fd);
    }
  }

  private acquire(fd: number): void {
    const deadline = Date.now() + this.lockTimeoutMs;
    let pause = 1;
    while (!flock(fd, LOCK_EX | LOCK_NB)) {
      if (Date.now() >= deadline) {
        throw new IpamError(
          "busy",
          `timed out after ${this.lockTimeoutMs} ms waiting for the IPAM lock ${this.lockPath}`,
        );
      }
      // Jitter keeps many waiting processes from polling in step.
      sleepMs(pause + Math.random() * pause);
      pause = Math.min(pause * 2, 8);
    }
  }

  /** File names present in the directory (reserved addresses among them). */
  names(): Set<string> {
    return new Set(fs.readdirSync(this.dir));
  }

  /** Create `<ip>` exclusively with the owner's key; false when it already exists. */
  reserve(ip: Ip, owner: Owner, rangeSetIndex: number): boolean {
    const path = join(this.dir, formatIp(ip));
    const key = ownerKey(owner);
    const created = this.createWhole(path, key) ?? this.createExclusive(path, key);
    if (created) this.writeLastReserved(rangeSetIndex, ip);
    return created;
  }

  /**
   * The reservation appears whole or not at all: an unnamed file (O_TMPFILE) is written, then
   * linked under its name, which fails when the name exists. A process killed half way leaves
   * nothing, where create-then-write could leave an empty file that no DEL would ever release.
   * Undefined when the filesystem (or a missing /proc) does not allow it.
   */
  private createWhole(path: string, content: string): boolean | undefined {
    let fd: number;
    try {
      fd = fs.openSync(this.dir, O_TMPFILE | O_WRONLY, 0o600);
    } catch (err) {
      if (TMPFILE_UNSUPPORTED.has(errnoCode(err) ?? "")) return undefined;
      throw ioError(`cannot reserve ${path}: ${errnoCode(err) ?? String(err)}`, err);
    }
    try {
      writeAll(fd, content, path);
      linkOpenFile(fd, path);
      return true;
    } catch (err) {
      const code = errnoCode(err);
      if (code === "EEXIST") return false;
      if (code === "ENOENT" && !fs.existsSync("/proc/self/fd")) return undefined;
      throw err instanceof IpamError ? err : ioError(`cannot reserve ${path}: ${code ?? String(err)}`, err);
    } finally {
      fs.closeSync(fd);
    }
  }

  /** host-local's own way: create exclusively, then write. */
  private createExclusive(path: string, content: string): boolean {
    let fd: number;
    try {
      fd = fs.openSync(path, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW, 0o600);
    } catch (err) {
      if (errnoCode(err) === "EEXIST") return false;
      throw ioError(`cannot reserve ${path}: ${errnoCode(err) ?? String(err)}`, err);
    }
    try {
      writeAll(fd, content, path);
    } catch (err) {
      fs.closeSync(fd);
      fs.rmSync(path, { force: true });
      throw err;
    }
    fs.closeSync(fd);
    return true;
  }

  lastReserved(rangeSetIndex: number): Ip | undefined {
    const text = readSmall(join(this.dir, `${LAST_RESERVED_PREFIX}${rangeSetIndex}`), this.buf);
    return text === undefined ? undefined : parseIp(text.trim());
  }

  /**
   * Best effort, like a hint should be: a failure only costs round-robin order. A symlink planted in
   * its place is replaced, never written through.
   */
  private writeLastReserved(rangeSetIndex: number, ip: Ip): void {
    const path = join(this.dir, `${LAST_RESERVED_PREFIX}${rangeSetIndex}`);
    const text = formatIp(ip);
    const write = (flags: number): void => {
      const fd = fs.openSync(path, O_WRONLY | O_CREAT | O_NOFOLLOW | O_NONBLOCK | flags, 0o600);
      try {
        fs.writeSync(fd, text);
      } finally {
        fs.closeSync(fd);
      }
    };
    try {
      write(O_TRUNC);
    } catch (err) {
      if (errnoCode(err) !== "ELOOP") return;
      try {
        fs.unlinkSync(path);
        write(O_EXCL);
      } catch {
        // a hint only
      }
    }
  }

  /** Content of a reservation file (not following symlinks), or undefined. */
  holderOf(ip: Ip): string | undefined {
    return readSmall(join(this.dir, formatIp(ip)), this.buf);
  }

  /** Regular files whose name is an address, with their trimmed content. O(files) reads. */
  private *entries(): Generator<{ name: string; ip: Ip; content: string }> {
    for (const d of fs.readdirSync(this.dir, { withFileTypes: true })) {
      if (!d.isFile()) continue;
      const ip = parseIp(d.name);
      if (ip === undefined) continue;
      const content = readSmall(join(this.dir, d.name), this.buf);
      if (content !== undefined) yield { name: d.name, ip, content: content.trim() };
    }
  }

  /** Every address file with its trimmed content (what the owner index is rebuilt from). O(files) reads. */
  scan(): { ip: Ip; key: string }[] {
    const out: { ip: Ip; key: string }[] = [];
    for (const e of this.entries()) out.push({ ip: e.ip, key: e.content });
    return out;
  }

  /** Addresses held by the owner, including legacy id-only files (host-local's GetByID). */
  findByOwner(owner: Owner): Ip[] {
    const key = ownerKey(owner);
    const legacy = owner.containerId.trim();
    const out: Ip[] = [];
    for (const e of this.entries()) if (e.content === key || e.content === legacy) out.push(e.ip);
    return out;
  }

  /**
   * host-local's ReleaseByID: remove files holding exactly "id\r\nifname"; if there were none, those
   * holding just the id (files written by old versions). Returns the addresses released.
   */
  releaseByOwner(owner: Owner): Ip[] {
    const key = ownerKey(owner);
    const legacy = owner.containerId.trim();
    const exact: { name: string; ip: Ip }[] = [];
    const old: { name: string; ip: Ip }[] = [];
    for (const e of this.entries()) {
      if (e.content === key) exact.push(e);
      else if (e.content === legacy) old.push(e);
    }
    const victims = exact.length > 0 ? exact : old;
    const released: Ip[] = [];
    for (const v of victims) {
      if (this.unlink(v.name)) released.push(v.ip);
    }
    return released;
  }

  /** GC: remove reservations whose owner (legacy files: ifname "") `keep` rejects. */
  releaseUnless(keep: (owner: Owner) => boolean): Ip[] {
    const released: Ip[] = [];
    for (const e of [...this.entries()]) {
      if (!keep(parseOwnerKey(e.content)) && this.unlink(e.name)) released.push(e.ip);
    }
    return released;
  }

  /** Remove one reservation if it still belongs to the owner (rollback of this call's own work). */
  releaseIp(ip: Ip, owner: Owner): boolean {
    const content = this.holderOf(ip);
    return content !== undefined && content.trim() === ownerKey(owner) && this.unlink(formatIp(ip));
  }

  /** Remove an address file; false when it was already gone. */
  removeIp(ip: Ip): boolean {
    return this.unlink(formatIp(ip));
  }

  private unlink(name: string): boolean {
    try {
      fs.unlinkSync(join(this.dir, name));
      return true;
    } catch (err) {
      if (errnoCode(err) === "ENOENT") return false;
      throw ioError(`cannot remove ${join(this.dir, name)}: ${errnoCode(err) ?? String(err)}`, err);
    }
  }
}

/** Parse "<id>\r\n<ifname>" (or a legacy "<id>"). */
export function parseOwnerKey(content: string): Owner {
  const text = content.trim();
  const cut = text.indexOf(LINE_BREAK);
  return cut < 0 ? { containerId: text, ifname: "" } : { containerId: text.slice(0, cut), ifname: text.slice(cut + 2) };
}

/** Every reservation under dataDir (or one network), without taking locks; for the CLI. */
export function listReservations(dataDir: string, network?: string): Reservation[] {
  let networks: string[];
  if (network !== undefined) {
    validateNetworkName(network);
    networks = [network];
  } else {
    try {
      networks = fs.readdirSync(dataDir).filter((n) => isNetworkName(n));
    } catch (err) {
      if (errnoCode(err) === "ENOENT") return [];
      throw ioError(`cannot read ${dataDir}: ${errnoCode(err) ?? String(err)}`, err);
    }
  }
  const buf = reservationBuffer();
  const out: Reservation[] = [];
  for (const net of networks.sort()) {
    const dir = join(dataDir, net);
    let dirents: fs.Dirent[];
    try {
      if (!fs.lstatSync(dir).isDirectory()) continue;
      dirents = fs.readdirSync(dir, { withFileTypes: true });
    } catch {
      continue;
    }
    const rows: Reservation[] = [];
    for (const d of dirents) {
      const ip = d.isFile() ? parseIp(d.name) : undefined;
      if (ip === undefined) continue;
      const content = readSmall(join(dir, d.name), buf);
      if (content === undefined) continue;
      rows.push({ network: net, address: formatIp(ip), ...parseOwnerKey(content) });
    }
    rows.sort((a, b) => compareAddresses(a.address, b.address));
    out.push(...rows);
  }
  return out;
}

function compareAddresses(a: string, b: string): number {
  const x = parseIp(a);
  const y = parseIp(b);
  if (x === undefined || y === undefined) return a < b ? -1 : a > b ? 1 : 0;
  if (x.family !== y.family) return x.family - y.family;
  return x.value < y.value ? -1 : x.value > y.value ? 1 : 0;
}
