/**
 * One lock around every change tether makes to the firewall. nft batches are atomic on their own;
 * the lock is for DEL, which lists the table, then deletes rules or the table once it is empty: an
 * ADD must not add a rule to the table between the two.
 */
import { closeSync, fstatSync, mkdirSync, openSync, constants as fsConstants } from "node:fs";
import { sleepSync as sleepMs } from "../util/sleep";
import { dirname } from "node:path";
import { LOCK_EX, LOCK_NB, LOCK_UN, flock } from "../sys/libc";
import { LockError } from "../util/lockError";

export const DEFAULT_LOCK_PATH = "/run/tether/firewall.lock";
const TIMEOUT_MS = 60_000;


export function withFirewallLock<T>(fn: () => T, path = process.env["TETHER_FIREWALL_LOCK"] ?? DEFAULT_LOCK_PATH): T {
  mkdirSync(dirname(path), { recursive: true, mode: 0o700 });
  const fd = openSync(path, fsConstants.O_RDONLY | fsConstants.O_CREAT | fsConstants.O_NOFOLLOW, 0o600);
  try {
    if (!fstatSync(fd).isFile()) throw new LockError("io", `firewall lock ${path} is not a regular file`);
    const deadline = Date.now() + TIMEOUT_MS;
    let pause = 1;
    while (!flock(fd, LOCK_EX | LOCK_NB)) {
      if (Date.now() >= deadline) {
        throw new LockError("busy", `timed out after ${TIMEOUT_MS} ms waiting for the firewall lock ${path}`);
      }
      sleepMs(pause + Math.random() * pause);
      pause = Math.min(pause * 2, 16);
    }
    try {
      return fn();
    } finally {
      flock(fd, LOCK_UN);
    }
  } finally {
    closeSync(fd);
  }
}
