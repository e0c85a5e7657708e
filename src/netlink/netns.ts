/**
 * Network namespaces. `enterSync` is the only caller of setns in tether: JS runs on one thread, but
 * libuv's pool threads and any async work stay in the host namespace, so code runs inside another
 * namespace only synchronously, and the thread is always put back before anything else can run.
 */
import { closeSync, constants as fsConstants, fstatSync, openSync, statSync, writeSync } from "node:fs";
import { constants as osConstants } from "node:os";
import { NetlinkError, NetnsError, toNetlinkError } from "./errors";
import { CLONE_NEWNET, nsType, setns } from "../sys/libc";

/** The namespace of the calling thread (the JS thread), which `enterSync` saves and restores. */
const THREAD_NETNS = "/proc/thread-self/ns/net";
/** The process's own namespace: the one a CNI plugin must never be asked to configure as a container. */
const OWN_NETNS = "/proc/self/ns/net";


export interface OpenNetnsOptions {
  /** Accept the process's own namespace (default false: a container netns must not be the host's). */
  allowOwn?: boolean;
}

/**
 * Open `path` as a network namespace and return the fd (close it with `closeNetns`). Refuses a path
 * that does not exist (reason "not-found", ENOENT), anything that is not a network namespace file
 * (a regular file, a directory, another kind of namespace: "not-netns", EINVAL), and unless
 * `allowOwn`, the process's own namespace ("own-netns", EINVAL).
 */
export function openNetns(path: string, options: OpenNetnsOptions = {}): number {
  const fd = openNetnsFile(path);
  try {
    assertNetnsFd(path, fd);
    if (options.allowOwn !== true && isSameFile(fstatSync(fd), statSync(OWN_NETNS))) {
      throw new NetnsError(path, "own-netns", osConstants.errno.EINVAL, "is the plugin's own network namespace");
    }
    return fd;
  } catch (err) {
    closeSync(fd);
    throw err;
  }
}

/** An fd for the process's own network namespace (e.g. to place a veth peer in the host). */
export function openOwnNetns(): number {
  return openNetns(OWN_NETNS, { allowOwn: true });
}

export function closeNetns(fd: number): void {
  closeSync(fd);
}

/** True when `path` is the process's own network namespace (same nsfs device and inode). */
export function isOwnNetns(path: string): boolean {
  try {
    return isSameFile(statSync(path), statSync(OWN_NETNS));
  } catch {
    return false;
  }
}

/** True when `path` exists and is a network namespace file. */
export function netnsExists(path: string): boolean {
  let fd: number;
  try {
    fd = openSync(path, fsConstants.O_RDONLY);
  } catch {
    return false;
  }
  try {
    assertNetnsFd(path, fd);
    return true;
  } catch {
    return false;
  } finally {
    closeSync(fd);
  }
}

/**
 * Run `fn` synchronously with the calling thread inside the network namespace at `netnsPath`, then
 * put the thread back. `fn` must not return a promise: whatever it awaits would run after the
 * restore, in the wrong namespace. If the thread cannot be put back the process aborts, since any
 * later step would silently configure the wrong namespace.
 */
export function enterSync<T>(netnsPath: string, fn: () => T): T {
  const target = openNetns(netnsPath, { allowOwn: true });
  let saved: number;
  try {
    saved = openSync(THREAD_NETNS, fsConstants.O_RDONLY);
  } catch (err) {
    closeSync(target);
    throw toNetlinkError(`open ${THREAD_NETNS}`, err);
  }
  try {
    switchTo(target, netnsPath);
    try {
      return refuseThenable(fn());
    } finally {
      restoreOrAbort(saved, netnsPath);
    }
  } finally {
    closeSync(target);
    closeSync(saved);
  }
}

function openNetnsFile(path: string): number {
  try {
    return openSync(path, fsConstants.O_RDONLY);
  } catch (err) {
    const e = toNetlinkError(`open netns ${path}`, err);
    const reason = e.code === "ENOENT" ? "not-found" : "not-netns";
    throw new NetnsError(path, reason, e.errno, "cannot open", { cause: err });
  }
}

/**
 * Every namespace file lives on the one nsfs filesystem (same st_dev as our own namespace file), and
 * NS_GET_NSTYPE tells a network namespace from the other kinds. The cheap fstat check first keeps a
 * plain file or directory from loading the FFI just to be refused.
 */
function assertNetnsFd(path: string, fd: number): void {
  const st = fstatSync(fd);
  if (st.dev !== nsfsDev()) {
    const what = st.isDirectory() ? "a directory" : st.isFile() ? "a regular file" : "not a namespace file";
    throw new NetnsError(path, "not-netns", osConstants.errno.EINVAL, `not a network namespace (${what})`);
  }
  let type: number;
  try {
    type = nsType(fd);
  } catch (err) {
    throw new NetnsError(path, "not-netns", osConstants.errno.EINVAL, "not a network namespace", { cause: err });
  }
  if (type !== CLONE_NEWNET) {
    throw new NetnsError(path, "not-netns", osConstants.errno.EINVAL, "a namespace of another kind, not a network namespace");
  }
}

let nsfsDevCache: number | undefined;

function nsfsDev(): number {
  nsfsDevCache ??= statSync(OWN_NETNS).dev;
  return nsfsDevCache;
}

function isSameFile(a: { dev: number; ino: number }, b: { dev: number; ino: number }): boolean {
  return a.dev === b.dev && a.ino === b.ino;
}

function switchTo(fd: number, netnsPath: string): void {
  try {
    setns(fd, CLONE_NEWNET);
  } catch (err) {
    throw toNetlinkError(`setns ${netnsPath}`, err);
  }
}

function refuseThenable<T>(value: T): T {
  if (typeof (value as { then?: unknown } | null)?.then === "function") {
    // Keep a rejection of the abandoned promise from crashing the process as unhandled.
    Promise.resolve(value).catch(() => undefined);
    throw new NetlinkError(
      "enterSync",
      osConstants.errno.EINVAL,
      "fn returned a promise; only synchronous code may run inside a namespace",
    );
  }
  return value;
}

function restoreOrAbort(saved: number, netnsPath: string): void {
  try {
    setns(saved, CLONE_NEWNET);
  } catch (err) {
    const why = err instanceof Error ? err.message : String(err);
    try {
      writeSync(2, `tether: fatal: cannot restore the network namespace after entering ${netnsPath}: ${why}\n`);
    } finally {
      process.abort();
    }
  }
}
