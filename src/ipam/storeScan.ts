/**
 * How the owner index looks at a host-local store directory: every address-named entry with its
 * inode and ctime, in one pass and without a JS object or string per entry (at 50,000 files those
 * were most of a refresh's time and peak RSS): getdents64 into one buffer, IPv4 names parsed from
 * its bytes, fstatat with the name copied into a second buffer. Where libc or the architecture does
 * not allow that: readdirSync and lstatSync, same answers.
 *
 * And when a recorded time can be trusted ("settled"): the kernel stamps files from a coarse clock
 * (one tick, 1-10 ms; one second on some filesystems). A time recorded in the tick it was written
 * in could be written again, identical, by a change right after this call lets the lock go, so it
 * proves nothing until the clock has moved past it.
 */
import fs = require("node:fs");
import { type NameStat, coarseClock, getdents64, setV8Flags, statBuffer, statNameAt } from "../sys/libc";
import { formatIp, parseIp } from "../ip/ip";
import { lazy } from "../util/lazy";

/**
 * Called for each entry whose name is an address in canonical form: `v4` the IPv4 address as an
 * unsigned integer (`v6` undefined), or -1 and `v6` the IPv6 name. `st` is reused: copy what you keep.
 */
export type ScanVisit = (v4: number, v6: string | undefined, st: NameStat) => void;

const DT_UNKNOWN = 0;
const DT_REG = 8;
const COLON = 0x3a;

/**
 * The IPv4 address a name spells in canonical dotted form (as host-local and formatIp write it:
 * no leading zeros), as an unsigned integer; -1 for anything else.
 */
export function parseV4Bytes(buf: Buffer, start: number, end: number): number {
  let value = 0;
  let octets = 0;
  let i = start;
  while (i < end) {
    const first = buf[i] ?? 0;
    if (first < 0x30 || first > 0x39) return -1;
    let octet = first - 0x30;
    let j = i + 1;
    for (; j < end && j < i + 3; j++) {
      const c = buf[j] ?? 0;
      if (c < 0x30 || c > 0x39) break;
      if (first === 0x30) return -1; // a leading zero
      octet = octet * 10 + (c - 0x30);
    }
    if (octet > 255) return -1;
    value = value * 256 + octet;
    octets++;
    if (j === end) return octets === 4 ? value : -1;
    if (buf[j] !== 0x2e || octets === 4) return -1;
    i = j + 1;
  }
  return -1;
}

/** An IPv6 name in canonical form (as formatIp writes it), else undefined. */
function v6Name(name: string): string | undefined {
  const ip = parseIp(name);
  return ip !== undefined && ip.family === 6 && formatIp(ip) === name ? name : undefined;
}

/** Visit every regular file of `dir` named by an address (see ScanVisit). `expected`: about how many. */
export function scanStore(dir: string, visit: ScanVisit): void {
  const fd = fs.openSync(dir, fs.constants.O_RDONLY | fs.constants.O_DIRECTORY);
  try {
    if (!scanFast(fd, visit)) scanPortable(dir, visit);
  } finally {
    fs.closeSync(fd);
  }
}

/**
 * From this many index entries on, a refresh runs without V8's top tier (quietJit). Measured (peak
 * RSS of a tether-ipam ADD right after a host-local ADD, medians of 8): at 700 entries 54.7 MiB
 * without, up to 57.3 (TurboFan compiled the loops), 52.5 with; at 1,000 55.7 against 52.7; at 500
 * and below TurboFan never starts (and where the flags must go through node:v8, loading it costs
 * 1.5 MiB and a few ms).
 */
export const QUIET_JIT_FROM = 512;

/**
 * Run a refresh's long loops (a table scan, a listing, an lstat per file) without TurboFan: its
 * compiles of them cost 5.5 MiB of peak RSS at 50,000 files and no measurable time (Maglev's code is
 * as fast for loops bound by system calls). The flag is put back after, so the rest of the process
 * (the agent's, say) keeps it. Also tried here, none of use at 50,000 files (peak RSS, medians of 5,
 * two builds; noise about 0.4 MiB): --no-maglev +1.8 to +2.1 MiB and +100 ms CPU (Sparkplug's code
 * boxes every double), --no-maglev-osr +0.2 to +0.9, --no-maglev-inlining -0.2,
 * --no-concurrent-recompilation -0.3, --max-semi-space-size=1 -0.3 (the young generation had grown
 * before the refresh).
 */
export function quietJit<T>(entries: number, fn: () => T): T {
  const quiet = entries >= QUIET_JIT_FROM && !process.execArgv.includes("--no-opt");
  // dist/tether starts with Maglev held back for short calls (scripts/build.mjs EXEC_ARGV): the
  // refresh's per-file functions get V8's usual threshold back while it runs (measured: without it
  // the refresh at 50,000 files cost 1.12-1.23x the CPU).
  const maglev = quiet ? maglevCountOfExecArgv() : undefined;
  if (quiet) setFlags(maglev === undefined ? "--no-opt" : `--no-opt --invocation-count-for-maglev=${V8_MAGLEV_COUNT}`);
  try {
    return fn();
  } finally {
    if (quiet) setFlags(maglev === undefined ? "--opt" : `--opt --invocation-count-for-maglev=${maglev}`);
  }
}

/** V8's own --invocation-count-for-maglev. */
const V8_MAGLEV_COUNT = 400;

/** The --invocation-count-for-maglev the process started with, if any (the last one wins, as in V8). */
function maglevCountOfExecArgv(): string | undefined {
  let count: string | undefined;
  for (const a of process.execArgv) if (a.startsWith("--invocation-count-for-maglev=")) count = a.slice("--invocation-count-for-maglev=".length);
  return count;
}

/** Through V8's exported function where possible: loading node:v8 costs 1.5 MiB of RSS (libc.ts). */
function setFlags(flags: string): void {
  if (!setV8Flags(flags)) v8().setFlagsFromString(flags);
}

const v8 = lazy(() => require("node:v8") as typeof import("node:v8"));

/** A getdents64 buffer and the views its fields are read through (no number allocated per read). */
interface DirentBuffer {
  bytes: Buffer;
  words: Int32Array;
  halves: Uint16Array;
}

function direntBuffer(): DirentBuffer {
  const ab = new ArrayBuffer(32 * 1024);
  return { bytes: Buffer.from(ab), words: new Int32Array(ab), halves: new Uint16Array(ab) };
}

/**
 * Each address-named entry getdents64 gives for `fd` (regular, or of unknown type): its IPv4 value
 * (or -1 and the IPv6 name), its inode (d_ino) and its name's bytes [start, end) in `d.bytes`. False,
 * having visited nothing more, where getdents64 is not available. The fields are read through typed
 * views, not Buffer#read* (whose results and argument checks allocated about 200 bytes per entry).
 */
function eachAddressEntry(
  fd: number,
  d: DirentBuffer,
  visit: (v4: number, v6: string | undefined, ino: number, start: number, end: number) => void,
): boolean {
  const buf = d.bytes;
  for (;;) {
    const n = getdents64(fd, buf);
    if (n === undefined) return false;
    if (n === 0) return true;
    // Records are 8-byte aligned: d_ino (u64) at 0, d_reclen (u16) at 16, d_type at 18, d_name at 19.
    for (let off = 0; off < n; ) {
      const ino = ((d.words[off >> 2] ?? 0) >>> 0) + (d.words[(off >> 2) + 1] ?? 0) * 0x1_0000_0000;
      const reclen = d.halves[(off + 16) >> 1] ?? 0;
      if (reclen < 20) throw new Error(`getdents64: a record of ${reclen} bytes`);
      const type = buf[off + 18] ?? DT_UNKNOWN;
      const start = off + 19;
      const stop = off + reclen;
      let end = start;
      while (end < stop && buf[end] !== 0) end++;
      off = stop;
      if (type !== DT_REG && type !== DT_UNKNOWN) continue;
      const v4 = parseV4Bytes(buf, start, end);
      if (v4 >= 0) {
        visit(v4, undefined, ino, start, end);
        continue;
      }
      let colon = start;
      while (colon < end && buf[colon] !== COLON) colon++;
      if (colon === end) continue;
      const v6 = v6Name(buf.toString("latin1", start, end));
      if (v6 !== undefined) visit(-1, v6, ino, start, end);
    }
  }
}

function scanFast(fd: number, visit: ScanVisit): boolean {
  const d = direntBuffer();
  const buf = d.bytes;
  const name = Buffer.allocUnsafe(256);
  const stat = statBuffer();
  const st: NameStat = { isFile: false, ino: 0, ctimeSec: 0, ctimeNsec: 0 };
  // One probe before the loop: where either call is unavailable nothing has been visited yet.
  name[0] = 0x2e;
  name[1] = 0;
  if (statNameAt(fd, name, stat, st) === undefined) return false;
  const statEntry = (v4: number, v6: string | undefined, _ino: number, start: number, end: number): void => {
    if (end - start >= name.length) return;
    // Byte by byte: Buffer#copy of a part makes a view object per call.
    for (let k = start; k < end; k++) name[k - start] = buf[k] ?? 0;
    name[end - start] = 0;
    if (statNameAt(fd, name, stat, st) !== true || !st.isFile) return;
    visit(v4, v6, st);
  };
  return eachAddressEntry(fd, d, statEntry);
}

/**
 * Every address-named entry of `dir` (regular, or of unknown type) with its inode as getdents64 gives
 * it (no stat: d_ino comes with the name). False, having visited nothing, where getdents64 is not
 * available. For the owner index's check of a stamp that was not settled (ownerIndex.ts).
 */
export function listNames(dir: string, visit: (v4: number, v6: string | undefined, ino: number) => void): boolean {
  const fd = fs.openSync(dir, fs.constants.O_RDONLY | fs.constants.O_DIRECTORY);
  try {
    return eachAddressEntry(fd, direntBuffer(), visit);
  } finally {
    fs.closeSync(fd);
  }
}

/** readdirSync and lstatSync: the same visits as the fast path (exported for the tests that hold them equal). */
export function scanPortable(dir: string, visit: ScanVisit): void {
  const st: NameStat = { isFile: false, ino: 0, ctimeSec: 0, ctimeNsec: 0 };
  for (const entry of fs.readdirSync(dir)) {
    const ip = parseIp(entry);
    if (ip === undefined || formatIp(ip) !== entry) continue;
    if (!lstatInto(`${dir}/${entry}`, st) || !st.isFile) continue;
    if (ip.family === 4) visit(Number(ip.value), undefined, st);
    else visit(-1, entry, st);
  }
}

function lstatInto(path: string, out: NameStat): boolean {
  const s = fs.lstatSync(path, { bigint: true, throwIfNoEntry: false });
  if (s === undefined) return false;
  out.isFile = s.isFile();
  out.ino = Number(s.ino);
  out.ctimeSec = Number(s.ctimeNs / 1_000_000_000n);
  out.ctimeNsec = Number(s.ctimeNs % 1_000_000_000n);
  return true;
}

/** One name of `dir`, as scanStore would see it; undefined when absent or not a regular file. */
export function statName(dir: string, entry: string): NameStat | undefined {
  const st: NameStat = { isFile: false, ino: 0, ctimeSec: 0, ctimeNsec: 0 };
  let fd = -1;
  try {
    fd = fs.openSync(dir, fs.constants.O_RDONLY | fs.constants.O_DIRECTORY);
    const name = Buffer.from(`${entry}\0`, "latin1");
    const r = statNameAt(fd, name, statBuffer(), st);
    if (r !== undefined) return r && st.isFile ? st : undefined;
  } finally {
    if (fd >= 0) fs.closeSync(fd);
  }
  return lstatInto(`${dir}/${entry}`, st) && st.isFile ? st : undefined;
}

/** The ctime in ms as the index's slots hold it (Node's ctimeMs formula, so old slots compare equal). */
export function ctimeMs(st: NameStat): number {
  return timeMs(st.ctimeSec, st.ctimeNsec);
}

/** Seconds and nanoseconds as the milliseconds the index records (compared for equality: one formula). */
export function timeMs(sec: number, nsec: number): number {
  return sec * 1e3 + nsec / 1e6;
}

/** The coarse clock as [s, ns]; tests replace it to play a coarse-timestamp kernel deterministically. */
export const clock: { coarseNow: () => [number, number] } = {
  coarseNow: () => coarseClock() ?? fallbackCoarse(),
};

/** Without clock_gettime: the fine clock less a generous tick (a later answer only costs a wait). */
function fallbackCoarse(): [number, number] {
  const ms = Date.now() - 20;
  return [Math.floor(ms / 1000), (ms % 1000) * 1e6];
}

/**
 * Whether a time the kernel wrote (sec, nsec) can no longer be written again by a later change, now
 * that the coarse clock reads `now`. A time with 0 ns may come from a filesystem that keeps whole
 * (or two) seconds: settled two seconds on. A file's time (`fine` false) must be older than the
 * clock's tick. A directory's ctime read just now (`fine` true) may also be ahead of the coarse
 * clock by less than a second: only a multigrain kernel (6.13+) writes such a time, and there the
 * first change after a stat of it is stamped finely, later. (A new inode, though, may get the same
 * coarse "floor" time: hence `fine` false for files.)
 */
export function settled(sec: number, nsec: number, now: readonly [number, number], fine: boolean): boolean {
  if (nsec === 0) return sec + 2 <= now[0];
  const ahead = (sec - now[0]) * 1e9 + (nsec - now[1]);
  return ahead < 0 || (fine && ahead > 0 && ahead < 1e9);
}

/**
 * settled() for a file's ctime as the index keeps it (ms, as ctimeMs gives): within a microsecond
 * counts as the same time (the double's rounding is a quarter of that).
 */
export function fileSettled(ms: number, now: readonly [number, number]): boolean {
  if (ms % 1000 === 0) return ms / 1000 + 2 <= now[0];
  return ms + 0.001 < now[0] * 1e3 + now[1] / 1e6;
}
