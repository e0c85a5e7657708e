/**
 * The agent's memory housekeeping (README, Agent > Memory). Most of a long-running agent's RSS is
 * pages of its own executable that Node's start-up touched (the kernel maps them in 64 KiB and
 * large-folio steps) and that an idle event loop never runs again; glibc keeps freed malloc memory.
 * Here: the executable's read-only pages released (unmapped and dropped from the page cache, so a
 * cgroup's accounting drops too; whatever runs again is read back a page at a time) and malloc trimmed.
 */
import fs = require("node:fs");
import { MADV_PAGEOUT, MADV_RANDOM, M_ARENA_MAX, POSIX_FADV_DONTNEED, fadviseAll, madvise, mallocTrim, mallopt } from "../sys/libc";

export interface Mapping {
  start: number;
  end: number;
  perms: string;
}

/** The read-only (not writable) mappings of `path` in a /proc/PID/maps text. */
export function readOnlyMappingsOf(maps: string, path: string): Mapping[] {
  const out: Mapping[] = [];
  for (const line of maps.split("\n")) {
    // start-end perms offset dev inode path (the path may contain spaces)
    const m = /^([0-9a-f]+)-([0-9a-f]+) ([-r][-w][-x][ps]) [0-9a-f]+ \S+ \d+ +(.*)$/.exec(line);
    if (!m || m[4] !== path || m[3]![1] === "w") continue;
    out.push({ start: parseInt(m[1]!, 16), end: parseInt(m[2]!, 16), perms: m[3]! });
  }
  return out;
}

/**
 * True when this process's executable is the file at `path` (same device and inode): the agent run
 * straight from the installed plugin. Then its pages are the plugin's too, and every CNI call would
 * read back from disk what releasing them dropped, so they stay.
 */
export function executableIs(path: string): boolean {
  try {
    const a = fs.statSync("/proc/self/exe");
    const b = fs.statSync(path);
    return a.dev === b.dev && a.ino === b.ino;
  } catch {
    return false;
  }
}

export interface ReleaseResult {
  /** Bytes of mappings advised. */
  bytes: number;
  /** RSS (KiB) before and after. */
  rssKiB: [number, number];
}

function rssKiB(): number {
  return Number(/^VmRSS:\s+(\d+) kB/m.exec(fs.readFileSync("/proc/self/status", "utf8"))?.[1] ?? NaN);
}

/**
 * Release the executable's resident read-only pages: MADV_RANDOM first (a later fault reads the one
 * page it needs instead of 128 KiB around it), then MADV_PAGEOUT (unmapped; reclaimed from the page
 * cache where no other process maps them) and POSIX_FADV_DONTNEED on the file (the read-ahead pages
 * nothing mapped). Pages still in use come back on their next access. Throws SyscallError (e.g.
 * EINVAL before Linux 5.4, which lacks MADV_PAGEOUT): the caller logs it, nothing depends on it.
 */
export function releaseExecutablePages(): ReleaseResult {
  const before = rssKiB();
  const exe = fs.readlinkSync("/proc/self/exe");
  const maps = readOnlyMappingsOf(fs.readFileSync("/proc/self/maps", "utf8"), exe);
  let bytes = 0;
  for (const m of maps) {
    madvise(m.start, m.end - m.start, MADV_RANDOM);
    madvise(m.start, m.end - m.start, MADV_PAGEOUT);
    bytes += m.end - m.start;
  }
  dropExecutableReadAround();
  mallocTrim();
  return { bytes, rssKiB: [before, rssKiB()] };
}

/**
 * One malloc arena for the whole process (MALLOC_ARENA_MAX=1). glibc gives each thread that
 * allocates (V8's GC and compiler workers, libuv's pool) an arena of its own, each holding a MiB or
 * two of freed memory; the agent's work is on its main thread, so the lock they would avoid is
 * hardly ever contended. Threads that already have an arena keep it: call before any work.
 */
export function singleMallocArena(): boolean {
  return mallopt(M_ARENA_MAX, 1);
}

/**
 * Drop the executable's pages that no process maps from the page cache (POSIX_FADV_DONTNEED): what
 * the kernel read around a page fault (128 KiB for code, of which it maps 64 KiB). A memory cgroup
 * is charged for them; they are clean, so this costs a read if one is needed later. ~2-4 ms.
 */
export function dropExecutableReadAround(): void {
  const fd = fs.openSync("/proc/self/exe", "r");
  try {
    fadviseAll(fd, POSIX_FADV_DONTNEED);
  } finally {
    fs.closeSync(fd);
  }
}
