/**
 * One attachment's calls one at a time: ADD, DEL and CHECK of the same (network, container id,
 * ifname) hold an flock on
 *   /run/tether/locks/<network hash>/<attachment hash>.lock     (0700 directories, 0600 file)
 * The spec says a runtime never overlaps them; runtimes have bugs, and an ADD racing its own DEL
 * ends with reservations or rules no interface matches. Serialised, the last call wins cleanly.
 * /run is a tmpfs: nothing outlives a reboot. A DEL that worked removes the file while holding it;
 * a waiter that then gets the lock on the removed file notices (the path names another file, or
 * none) and tries again; the network's directory goes with its last file. Locks are flocks: a
 * holder that dies releases its lock.
 */
import * as fs from "node:fs";
import { join } from "node:path";
import { CniError, ErrorCode } from "../cni/errors";
import type { Handlers, Invocation } from "../cni/dispatch";
import type { NetConf } from "../config/netconf";
import type { AttachmentKey } from "../firewall/key";
import { LOCK_EX, LOCK_NB, LOCK_UN, flock } from "../sys/libc";
import { log } from "../util/log";
import { ownedDirProblem } from "../util/ownedDir";
import { sleepSync } from "../util/sleep";

export const ATTACHMENT_LOCK_ROOT = "/run/tether/locks";
/** Longer than the IPAM lock's: the holder may be a whole ADD (DAD alone can take 10 s). */
export const ATTACHMENT_LOCK_TIMEOUT_MS = 30_000;

const { O_CREAT, O_NOFOLLOW, O_RDONLY, O_NONBLOCK } = fs.constants;

/** Make (0700) or reuse one level, refusing one that is not ours. Looks before it makes: no error is thrown on the common path. */
function ensureDir(dir: string): void {
  let problem = ownedDirProblem(dir, "attachment lock directory", 0o022);
  if (problem !== undefined && (problem.cause as NodeJS.ErrnoException | undefined)?.code === "ENOENT") {
    try {
      fs.mkdirSync(dir, { mode: 0o700 });
    } catch (e) {
      const code = (e as NodeJS.ErrnoException).code;
      if (code !== "EEXIST") throw new CniError(ErrorCode.IoFailure, `cannot create the attachment lock directory ${dir}: ${code ?? String(e)}`, undefined, { cause: e });
    }
    problem = ownedDirProblem(dir, "attachment lock directory", 0o022);
  }
  if (problem !== undefined) throw new CniError(ErrorCode.IoFailure, problem.message, undefined, { cause: problem.cause });
}

export interface LockOptions {
  root?: string;
  timeoutMs?: number;
}

/** Run fn holding the attachment's lock; `release` says whether to remove the lock file on the way out. */
export async function withAttachmentLock<T>(key: AttachmentKey, fn: () => Promise<T>, removeAfter: (ok: boolean) => boolean, opts: LockOptions = {}): Promise<T> {
  const root = opts.root ?? ATTACHMENT_LOCK_ROOT;
  const timeoutMs = opts.timeoutMs ?? ATTACHMENT_LOCK_TIMEOUT_MS;
  const parent = join(root, "..");
  try {
    fs.mkdirSync(parent, { recursive: true, mode: 0o755 });
  } catch (e) {
    throw new CniError(ErrorCode.IoFailure, `cannot create ${parent}: ${(e as NodeJS.ErrnoException).code ?? String(e)}`, undefined, { cause: e });
  }
  ensureDir(root);
  // Hashes, not names: any name or id fits, and none can leave the directory.
  const dir = join(root, lockName(`network\0${key.network}`));
  ensureDir(dir);
  const path = join(dir, `${lockName(`${key.network}\0${key.containerId}\0${key.ifname}`)}.lock`);
  const fd = acquire(path, () => ensureDir(dir), timeoutMs);
  let ok = false;
  try {
    const out = await fn();
    ok = true;
    return out;
  } finally {
    try {
      if (removeAfter(ok)) {
        fs.rmSync(path, { force: true });
        removeIfEmpty(dir);
      }
    } catch (e) {
      log.warn("attachment lock file not removed", { error: String(e) });
    }
    flock(fd, LOCK_UN);
    fs.closeSync(fd);
  }
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
function acquire(path: string, remakeDir: () => void, timeoutMs: number): number {
  const deadline = Date.now() + timeoutMs;
  let pause = 1;
  for (;;) {
    let fd: number;
    try {
      fd = fs.openSync(path, O_RDONLY | O_CREAT | O_NOFOLLOW | O_NONBLOCK, 0o600);
    } catch (e) {
      // A DEL removed the network's directory with its last lock: make it again.
      if ((e as NodeJS.ErrnoException).code === "ENOENT" && Date.now() < deadline) {
        remakeDir();
        continue;
      }
      throw new CniError(ErrorCode.IoFailure, `cannot open the attachment lock ${path}: ${(e as NodeJS.ErrnoException).code ?? String(e)}`, undefined, { cause: e });
    }
    let held = false;
    try {
      while (!flock(fd, LOCK_EX | LOCK_NB)) {
        if (Date.now() >= deadline) {
          throw new CniError(ErrorCode.TryAgainLater, `timed out after ${timeoutMs} ms waiting for another call on the same attachment (lock ${path})`);
        }
        sleepSync(pause + Math.random() * pause);
        pause = Math.min(pause * 2, 16);
      }
      held = true;
      // The previous holder (a DEL) may have removed the file: our lock is then on a file no one else will lock.
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

/** The handlers with ADD, DEL and CHECK serialised per attachment. */
export function serialisedPerAttachment(h: Handlers<NetConf>, opts: LockOptions = {}): Handlers<NetConf> {
  return {
    ...h,
    add: (inv) => withAttachmentLock(keyOf(inv), () => h.add(inv), () => false, opts),
    // A DEL that worked leaves nothing of the attachment: its lock file goes too.
    del: (inv) => withAttachmentLock(keyOf(inv), () => h.del(inv), (ok) => ok, opts),
    check: (inv) => withAttachmentLock(keyOf(inv), () => h.check(inv), () => false, opts),
  };
}
