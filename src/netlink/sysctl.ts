/**
 * /proc/sys/net settings of one namespace. The namespace of a /proc/sys/net file is the one of the
 * thread that opens it, so the open, write and close all happen synchronously inside enterSync.
 */
import { readFileSync, writeFileSync } from "node:fs";
import { constants as osConstants } from "node:os";
import { NetlinkError, isErrno, toNetlinkError } from "./errors";
import { enterSync } from "./netns";

/** "net/ipv4/ip_forward", "net/ipv6/conf/eth0/accept_dad": slash-separated, no "..", no leading "/". */
const KEY_RE = /^[^\s/\0]+(\/[^\s/\0]+)*$/;

export interface WriteSysctlOptions {
  /** A key that does not exist (e.g. IPv6 disabled) is not an error: the write is skipped. */
  optional?: boolean;
}

/**
 * Write `value` to /proc/sys/<key> inside `netnsPath` (the process's own namespace when undefined).
 * Returns false only when an `optional` key does not exist.
 */
export function writeSysctl(netnsPath: string | undefined, key: string, value: string | number, options: WriteSysctlOptions = {}): boolean {
  const path = sysctlPath(key);
  const op = `write ${path}=${value}`;
  try {
    inNetns(netnsPath, () => writeFileSync(path, `${value}\n`));
    return true;
  } catch (err) {
    if (err instanceof NetlinkError) throw err; // from enterSync: the namespace, not the key
    const e = toNetlinkError(op, err);
    if (options.optional === true && isErrno(e, "ENOENT")) return false;
    throw e;
  }
}

/** The value of /proc/sys/<key> inside `netnsPath`, trimmed; undefined when the key does not exist. */
export function readSysctl(netnsPath: string | undefined, key: string): string | undefined {
  const path = sysctlPath(key);
  try {
    return inNetns(netnsPath, () => readFileSync(path, "utf8")).trim();
  } catch (err) {
    if (err instanceof NetlinkError) throw err;
    const e = toNetlinkError(`read ${path}`, err);
    if (isErrno(e, "ENOENT")) return undefined;
    throw e;
  }
}

function sysctlPath(key: string): string {
  const segments = key.split("/");
  if (!KEY_RE.test(key) || segments.some((s) => s === "." || s === "..")) {
    throw new NetlinkError(`sysctl ${key}`, osConstants.errno.EINVAL, "invalid sysctl key");
  }
  return `/proc/sys/${key}`;
}

function inNetns<T>(netnsPath: string | undefined, fn: () => T): T {
  return netnsPath === undefined ? fn() : enterSync(netnsPath, fn);
}
