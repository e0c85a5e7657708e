/**
 * One attachment's calls one at a time: ADD, DEL and CHECK of the same (network, container id,
 * ifname) hold an flock on
 *   /run/tether/locks/<network hash>/<attachment hash>.lock     (0700 directories, 0600 file)
 * The spec says a runtime never overlaps them; runtimes have bugs, and an ADD racing its own DEL
 * ends with reservations or rules no interface matches. Serialised, the last call wins cleanly.
 *
 * A lock file exists only while a call holds it: every call removes it on the way out, while still
 * holding it, and so do GC and `tether doctor --fix` for a file a killed call left (they lock it
 * without waiting, and leave a held one alone). The one rule that makes removal safe: a file is
 * unlinked only by the holder of its flock. A caller that gets the lock on a file that was unlinked
 * meanwhile (the path names another file, or none) lets it go and tries again, so two holders never
 * believe they hold the same path. The network's directory goes with its last file (a caller that
 * finds it gone makes it again). Locks are flocks: a holder that dies releases its lock (its file
 * stays: GC and doctor remove it). /run is a tmpfs: nothing outlives a reboot. A call writes its
 * attachment's key in the file it holds, so GC knows which attachments have a call running.
 */
import fs = require("node:fs");
import { join } from "node:path";
import type { Handlers, Invocation } from "../cni/dispatch";
import type { NetConf } from "../config/netconf";
import type { AttachmentKey } from "../firewall/key";
import { LOCK_EX, LOCK_NB, LOCK_UN, flock } from "../sys/libc";
import { stringFields } from "../util/jsonObject";
import { log } from "../util/log";
import { ownedDirProblem } from "../util/ownedDir";
import { sleepSync } from "../util/sleep";
import { LockError } from "../util/lockError";

export const ATTACHMENT_LOCK_ROOT = "/run/tether/locks";
/** Longer than the IPAM lock's: the holder may be a whole ADD (DAD alone can take 10 s). */
export const ATTACHMENT_LOCK_TIMEOUT_MS = 30_000;

const { O_CREAT, O_NOFOLLOW, O_RDONLY, O_RDWR, O_NONBLOCK } = fs.constants;

/**
 * Make (0700) or reuse one level, refusing one that is not ours. Looks before it makes: no error is
 * thrown on the common path. Another call may remove an empty network directory between the make
 * and the look: made again, a bounded number of times.
 */
function ensureDir(dir: string): void {
  for (let attempt = 0; ; attempt++) {
    const problem = ownedDirProblem(dir, "attachment lock directory", 0o022);
    if (problem === undefined) return;
    if ((problem.cause as NodeJS.ErrnoException | undefined)?.code !== "ENOENT" || attempt >= 100) {
      throw new LockError("io", problem.message, { cause: problem.cause });
    }
    try {
      fs.mkdirSync(dir, { mode: 0o700 });
    } catch (e) {
      const code = (e as NodeJS.ErrnoException).code;
      if (code !== "EEXIST") throw new LockError("io", `cannot create the attachment lock directory ${dir}: ${code ?? String(e)}`, { cause: e });
    }
  }
}

export interface LockOptions {
  root?: string;
  timeoutMs?: number;
}

/** Where an attachment's lock lives, relative to the lock root: the network's directory and the file's name (pure). */
export function lockFileNames(key: AttachmentKey): { dir: string; file: string } {
  // Hashes, not names: any name or id fits, and none can leave the directory.
  return { dir: networkLockDir(key.network), file: `${lockName(`${key.network}\0${key.containerId}\0${key.ifname}`)}.lock` };
}

export function networkLockDir(network: string): string {
  return lockName(`network\0${network}`);
}

export function attachmentLockPath(key: AttachmentKey, root: string = ATTACHMENT_LOCK_ROOT): string {
  const n = lockFileNames(key);
  return join(root, n.dir, n.file);
}

/** The lock root and the network's directory, made (0700) or reused when they are ours. */
function prepareDirs(root: string, network: string): string {
  const parent = join(root, "..");
  try {
    fs.mkdirSync(parent, { recursive: true, mode: 0o755 });
  } catch (e) {
    throw new LockError("io", `cannot create ${parent}: ${(e as NodeJS.ErrnoException).code ?? String(e)}`, { cause: e });
  }
  ensureDir(root);
  const dir = join(root, networkLockDir(network));
  ensureDir(dir);
  return dir;
}

/**
 * Run fn holding the attachment's lock. The lock file goes on the way out (removed while held, see
 * the header) unless `removeAfter` says to keep it.
 */
export async function withAttachmentLock<T>(key: AttachmentKey, fn: () => Promise<T>, removeAfter: (ok: boolean) => boolean = () => true, opts: LockOptions = {}): Promise<T> {
  const root = opts.root ?? ATTACHMENT_LOCK_ROOT;
  const timeoutMs = opts.timeoutMs ?? ATTACHMENT_LOCK_TIMEOUT_MS;
  const dir = prepareDirs(root, key.network);
  const path = attachmentLockPath(key, root);
  const fd = acquire(path, () => ensureDir(dir), timeoutMs);
  let ok = false;
  try {
    nameHolder(fd, key);
    const out = await fn();
    ok = true;
    return out;
  } finally {
    unlock(fd, path, dir, removeAfter(ok));
  }
}

/**
 * The holder writes its attachment's key in the file before it does anything else, so GC, which
 * cannot invert the file's hashed name, knows which attachment a running call is about (heldLockKeys).
 * Best effort: a full /run only costs GC that knowledge (records still protect built-in IPAM networks).
 */
function nameHolder(fd: number, key: AttachmentKey): void {
  try {
    const text = Buffer.from(JSON.stringify({ network: key.network, containerId: key.containerId, ifname: key.ifname }));
    fs.ftruncateSync(fd, 0);
    fs.writeSync(fd, text, 0, text.length, 0);
  } catch (e) {
    log.warn("attachment lock: holder's key not written", { error: String(e) });
  }
}

/** Let go of a held lock, first removing its file (and the network's directory when it was the last) if asked. */
function unlock(fd: number, path: string, dir: string, remove: boolean): void {
  try {
    if (remove) {
      fs.rmSync(path, { force: true });
      removeIfEmpty(dir);
    }
  } catch (e) {
    log.warn("attachment lock file not removed", { error: String(e) });
  }
  flock(fd, LOCK_UN);
  fs.closeSync(fd);
}

/** A lock taken without waiting (tryAttachmentLock); `release` removes its file unless told to keep it. */
export interface HeldLock {
  readonly path: string;
  release(removeFile?: boolean): void;
}

/**
 * The attachment's lock if no one holds it now, else undefined: for `tether doctor --fix`, which
 * must leave an attachment alone while an ADD or DEL of it runs (an ADD in progress holds its lock).
 */
export function tryAttachmentLock(key: AttachmentKey, opts: LockOptions = {}): HeldLock | undefined {
  const root = opts.root ?? ATTACHMENT_LOCK_ROOT;
  const dir = prepareDirs(root, key.network);
  const path = attachmentLockPath(key, root);
  const fd = acquire(path, () => ensureDir(dir), 0, true);
  if (fd === undefined) return undefined;
  let released = false;
  return {
    path,
    release(removeFile = true) {
      if (released) return;
      released = true;
      unlock(fd, path, dir, removeFile);
    },
  };
}

/** Whether a call holds the attachment's lock right now (no file: no). Takes nothing: looks and lets go. */
export function attachmentLockHeld(key: AttachmentKey, opts: LockOptions = {}): boolean {
  return lockFileHeld(attachmentLockPath(key, opts.root ?? ATTACHMENT_LOCK_ROOT));
}

function lockFileHeld(path: string): boolean {
  let fd: number;
  try {
    fd = fs.openSync(path, O_RDONLY | O_NOFOLLOW | O_NONBLOCK);
  } catch {
    return false;
  }
  try {
    if (!flock(fd, LOCK_EX | LOCK_NB)) return true;
    flock(fd, LOCK_UN);
    return false;
  } finally {
    fs.closeSync(fd);
  }
}

/**
 * Remove one lock file a killed call left: only when no one holds it, and only while holding it
 * (a caller that opened it meanwhile finds it unlinked and tries again). Never creates one.
 * "removed", "held" (left alone) or "gone" (nothing there).
 */
export function removeLockFile(path: string): "removed" | "held" | "gone" {
  let fd: number;
  try {
    fd = fs.openSync(path, O_RDONLY | O_NOFOLLOW | O_NONBLOCK);
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === "ENOENT") return "gone";
    throw e;
  }
  try {
    if (!fs.fstatSync(fd).isFile()) return "gone";
    if (!flock(fd, LOCK_EX | LOCK_NB)) return "held";
    try {
      if (!sameFile(fd, path)) return "gone"; // its holder removed it before we locked it
      fs.rmSync(path, { force: true });
      removeIfEmpty(join(path, ".."));
      return "removed";
    } finally {
      flock(fd, LOCK_UN);
    }
  } finally {
    fs.closeSync(fd);
  }
}

/** The lock files (paths) of a network, held or not; none when its directory is absent or not a real one. */
export function networkLockFiles(network: string, root: string = ATTACHMENT_LOCK_ROOT): string[] {
  const dir = join(root, networkLockDir(network));
  try {
    if (!fs.lstatSync(dir).isDirectory()) return [];
    return fs
      .readdirSync(dir)
      .filter((n) => n.endsWith(".lock"))
      .sort()
      .map((n) => join(dir, n));
  } catch {
    return [];
  }
}

/** A lock file holds at most one key (a container id is at most 128 KiB). */
const MAX_LOCK_CONTENT = 256 * 1024;

/**
 * The attachments of `network` whose calls (ADD, DEL, CHECK) run now: the keys their holders wrote
 * in the lock files they hold. A holder that has not written its key yet has made nothing yet; GC's
 * own locks (`except`) and files no one holds are skipped.
 */
export function heldLockKeys(network: string, except: ReadonlySet<string> = new Set(), root: string = ATTACHMENT_LOCK_ROOT): AttachmentKey[] {
  const out: AttachmentKey[] = [];
  for (const path of networkLockFiles(network, root)) {
    if (except.has(path)) continue;
    let fd: number;
    try {
      fd = fs.openSync(path, O_RDONLY | O_NOFOLLOW | O_NONBLOCK);
    } catch {
      continue;
    }
    try {
      const st = fs.fstatSync(fd);
      if (!st.isFile() || st.size === 0 || st.size > MAX_LOCK_CONTENT) continue;
      if (flock(fd, LOCK_EX | LOCK_NB)) {
        flock(fd, LOCK_UN);
        continue;
      }
      const key = parseHolderKey(fs.readFileSync(fd, "utf8"));
      if (key !== undefined && key.network === network) out.push(key);
    } catch {
      // unreadable: no key known
    } finally {
      fs.closeSync(fd);
    }
  }
  return out;
}

/** The key a holder wrote (nameHolder); undefined for anything else. */
export function parseHolderKey(text: string): AttachmentKey | undefined {
  return stringFields(text, ["network", "containerId", "ifname"]);
}

/** The lock files of a network that no call holds now (what killed calls left). */
export function unheldLockFiles(network: string, root: string = ATTACHMENT_LOCK_ROOT): string[] {
  return networkLockFiles(network, root).filter((p) => !lockFileHeld(p));
}

/**
 * GC: remove the lock files of the network's attachments that are not in `valid` and that no call
 * holds (each as removeLockFile). The number removed.
 */
export function removeStaleLocks(network: string, valid: readonly AttachmentKey[], root: string = ATTACHMENT_LOCK_ROOT): number {
  const keep = new Set(valid.map((k) => lockFileNames(k).file));
  let removed = 0;
  for (const path of networkLockFiles(network, root)) {
    if (keep.has(path.slice(path.lastIndexOf("/") + 1))) continue;
    if (removeLockFile(path) === "removed") removed++;
  }
  removeIfEmpty(join(root, networkLockDir(network)));
  return removed;
}

/** The network's directory goes with its last lock file (a call opening a file in it meanwhile makes it again). */
function removeIfEmpty(dir: string): void {
  try {
    fs.rmdirSync(dir);
  } catch {
    // not empty, or gone: fine
  }
}

/** Open and flock the lock file, polling with LOCK_NB until the deadline (code 11 then). */
function acquire(path: string, remakeDir: () => void, timeoutMs: number): number;
function acquire(path: string, remakeDir: () => void, timeoutMs: number, noWait: true): number | undefined;
function acquire(path: string, remakeDir: () => void, timeoutMs: number, noWait = false): number | undefined {
  const deadline = Date.now() + timeoutMs;
  let pause = 1;
  for (;;) {
    let fd: number;
    try {
      fd = fs.openSync(path, O_RDWR | O_CREAT | O_NOFOLLOW | O_NONBLOCK, 0o600);
    } catch (e) {
      // A DEL removed the network's directory with its last lock: make it again.
      if ((e as NodeJS.ErrnoException).code === "ENOENT" && (Date.now() < deadline || noWait)) {
        remakeDir();
        continue;
      }
      throw new LockError("io", `cannot open the attachment lock ${path}: ${(e as NodeJS.ErrnoException).code ?? String(e)}`, { cause: e });
    }
    let held = false;
    try {
      while (!flock(fd, LOCK_EX | LOCK_NB)) {
        if (noWait) {
          fs.closeSync(fd);
          return undefined;
        }
        if (Date.now() >= deadline) {
          throw new LockError("busy", `timed out after ${timeoutMs} ms waiting for another call on the same attachment (lock ${path})`);
        }
        sleepSync(pause + Math.random() * pause);
        pause = Math.min(pause * 2, 16);
      }
      held = true;
      // The previous holder (or GC, doctor) removed the file meanwhile: our lock is then on a file no one else will lock.
      if (sameFile(fd, path)) return fd;
    } catch (e) {
      fs.closeSync(fd);
      throw e;
    }
    if (held) flock(fd, LOCK_UN);
    fs.closeSync(fd);
  }
}

function sameFile(fd: number, path: string): boolean {
  try {
    const a = fs.fstatSync(fd);
    const b = fs.lstatSync(path);
    return a.ino === b.ino && a.dev === b.dev;
  } catch {
    return false;
  }
}

/**
 * 16 hex digits (two FNV-1a 32-bit hashes) naming a lock. Not the SHA-256 tags of firewall/key.ts:
 * a collision here only makes two attachments wait for each other, and computing SHA-256 this early
 * costs the single executable about 3.5 MiB of peak RSS (measured; plain node shows nothing).
 */
export function lockName(text: string): string {
  let a = 0x811c9dc5;
  let b = 0x01000193 ^ 0x5bd1e995;
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    a = Math.imul(a ^ c, 0x01000193) >>> 0;
    b = Math.imul(b ^ c, 0x01000193) >>> 0;
    b = (b ^ (b >>> 15)) >>> 0;
  }
  return a.toString(16).padStart(8, "0") + b.toString(16).padStart(8, "0");
}

function keyOf(inv: Invocation<NetConf>): AttachmentKey {
  return { network: inv.conf.name, containerId: inv.env.containerId, ifname: inv.env.ifname };
}

/** The handlers with ADD, DEL and CHECK serialised per attachment; each call removes its lock file on the way out. */
export function serialisedPerAttachment(h: Handlers<NetConf>, opts: LockOptions = {}): Handlers<NetConf> {
  const always = (): boolean => true;
  return {
    ...h,
    add: (inv) => withAttachmentLock(keyOf(inv), () => h.add(inv), always, opts),
    del: (inv) => withAttachmentLock(keyOf(inv), () => h.del(inv), always, opts),
    check: (inv) => withAttachmentLock(keyOf(inv), () => h.check(inv), always, opts),
  };
}
