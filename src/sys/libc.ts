/**
 * The few libc calls Node lacks (setns, flock, linkat, ioctl, the datagram socket calls), through koffi:
 * the one place that loads it. Used by the netlink layer (setns, its rtnetlink socket), the IPAM store
 * (flock, linkat) and the locks (flock), none of which needs the others. Loaded lazily: commands that never
 * enter a namespace or take a lock (VERSION, STATUS) never load the FFI.
 */
import { closeSync } from "node:fs";
import { constants as osConstants } from "node:os";
import { lazy } from "../util/lazy";

const koffiModule = lazy(() => require("koffi") as typeof import("koffi"));
const koffiNativeModule = lazy(() => require("../sea/koffiNative") as unknown);

export const CLONE_NEWNET = 0x40000000;
export const LOCK_SH = 1;
export const LOCK_EX = 2;
export const LOCK_NB = 4;
export const LOCK_UN = 8;

/** A failed system call, with the errno's symbolic name (EEXIST, ENOENT, ...). */
export class SyscallError extends Error {
  override readonly name = "SyscallError";
  constructor(
    readonly syscall: string,
    readonly errno: number,
  ) {
    super(`${syscall}: ${errnoName(errno)}`);
  }
  get code(): string {
    return errnoName(this.errno);
  }
}

const errnoNames = new Map<number, string>(
  Object.entries(osConstants.errno).map(([name, value]) => [value, name]),
);

export function errnoName(errno: number): string {
  return errnoNames.get(errno) ?? `errno ${errno}`;
}

interface Libc {
  setns(fd: number, nstype: number): number;
  linkat(olddirfd: number, oldpath: string, newdirfd: number, newpath: string, flags: number): number;
  flock(fd: number, op: number): number;
  ioctl(fd: number, request: number): number;
  socket(domain: number, type: number, protocol: number): number;
  bind(fd: number, addr: Buffer, addrlen: number): number;
  sendto: KoffiAsync<(fd: number, buf: Buffer, len: number, flags: number, addr: Buffer | null, addrlen: number) => number>;
  recvfrom(fd: number, buf: Buffer, len: number, flags: number, addr: Buffer | null, addrlen: Buffer | null): number;
  poll: KoffiAsync<(fds: Buffer, nfds: number, timeoutMs: number) => number>;
  errno(): number;
  /** The loaded libc, for the calls declared on first use (memoryCalls). */
  lib: ReturnType<typeof import("koffi").load>;
}

/** The agent's memory housekeeping calls: declared only when used (a CNI call never does). */
interface MemoryCalls {
  madvise(addr: number, length: number, advice: number): number;
  posix_fadvise(fd: number, offset: number, length: number, advice: number): number;
  malloc_trim(pad: number): number;
  mallopt(param: number, value: number): number;
}

/** A function with koffi's `.async` (the call runs on a worker thread; the callback on the JS thread). */
type KoffiAsync<F extends (...args: never[]) => number> = F & {
  async(...args: [...Parameters<F>, (err: unknown, result: number) => void]): void;
};

let libc: Libc | undefined;

function load(): Libc {
  if (libc) return libc;
  let koffi: typeof import("koffi");
  try {
    koffi = koffiModule();
  } catch (e) {
    // koffi's loader says only "Cannot find the native Koffi module"; ask the native's own loader
    // why (out of descriptors, an unusable cache directory...), so the error can say it.
    let reason: unknown = undefined;
    try {
      koffiNativeModule();
    } catch (r) {
      reason = r;
    }
    throw new Error(e instanceof Error ? e.message : String(e), { cause: reason ?? e });
  }
  const lib = koffi.load("libc.so.6");
  const setns = lib.func("int setns(int fd, int nstype)") as (fd: number, nstype: number) => number;
  const flock = lib.func("int flock(int fd, int op)") as (fd: number, op: number) => number;
  // ioctl is variadic; the requests used here take no argument.
  const ioctl = lib.func("int ioctl(int fd, unsigned long request, ...)") as (fd: number, request: number) => number;
  const linkat = lib.func("int linkat(int olddirfd, const char *oldpath, int newdirfd, const char *newpath, int flags)") as Libc["linkat"];
  const socket = lib.func("int socket(int domain, int type, int protocol)") as Libc["socket"];
  const bind = lib.func("int bind(int fd, const void *addr, uint32_t addrlen)") as Libc["bind"];
  const sendto = lib.func("intptr_t sendto(int fd, const void *buf, size_t len, int flags, const void *addr, uint32_t addrlen)") as Libc["sendto"];
  const recvfrom = lib.func("intptr_t recvfrom(int fd, void *buf, size_t len, int flags, void *addr, void *addrlen)") as Libc["recvfrom"];
  const poll = lib.func("int poll(void *fds, unsigned long nfds, int timeout)") as Libc["poll"];
  libc = { setns, flock, ioctl, linkat, socket, bind, sendto, recvfrom, poll, errno: () => koffi.errno(), lib };
  return libc;
}

const memoryCalls = lazy((): MemoryCalls => {
  const lib = load().lib;
  return {
    // The address as an integer: the mappings come from /proc/self/maps (below 2^47 on x86_64).
    madvise: lib.func("int madvise(uintptr_t addr, size_t length, int advice)") as MemoryCalls["madvise"],
    posix_fadvise: lib.func("int posix_fadvise(int fd, int64_t offset, int64_t len, int advice)") as MemoryCalls["posix_fadvise"],
    malloc_trim: lib.func("int malloc_trim(size_t pad)") as MemoryCalls["malloc_trim"],
    mallopt: lib.func("int mallopt(int param, int value)") as MemoryCalls["mallopt"],
  };
});

export function setns(fd: number, nstype: number): void {
  const c = load();
  if (c.setns(fd, nstype) !== 0) throw new SyscallError("setns", c.errno());
}

/**
 * _exit(2) when this call has loaded koffi already (else false, and nothing happens): the process
 * ends here, without Node's teardown (heap, platform threads) and without the static destructors,
 * among them koffi's, which fsync stdout and stderr (2-6 ms when stderr is a file). Only for a CNI
 * call whose output is written (stdout and the log are written synchronously).
 */
export function exitNowIfLoaded(code: number): boolean {
  if (libc === undefined) return false;
  const exit = libc.lib.func("void _exit(int status)") as (status: number) => void;
  exit(code);
  return true; // not reached
}

/** NS_GET_NSTYPE = _IO(0xb7, 0x3) (linux/nsfs.h). */
const NS_GET_NSTYPE = 0xb703;

/** The CLONE_NEW* type of the namespace `fd` refers to (ioctl NS_GET_NSTYPE). */
export function nsType(fd: number): number {
  const c = load();
  const type = c.ioctl(fd, NS_GET_NSTYPE);
  if (type < 0) throw new SyscallError("ioctl(NS_GET_NSTYPE)", c.errno());
  return type;
}

/** flock(2). Returns false only for LOCK_NB when the lock is held elsewhere (EWOULDBLOCK). */
export function flock(fd: number, op: number): boolean {
  const c = load();
  for (;;) {
    if (c.flock(fd, op) === 0) return true;
    const errno = c.errno();
    if (errno === osConstants.errno.EINTR) continue;
    if (errno === osConstants.errno.EWOULDBLOCK && (op & LOCK_NB) !== 0) return false;
    throw new SyscallError("flock", errno);
  }
}

const AT_FDCWD = -100;
const AT_SYMLINK_FOLLOW = 0x400;

/**
 * Give the unnamed file `fd` (opened with O_TMPFILE) the name `path`: linkat(2) through
 * /proc/self/fd with AT_SYMLINK_FOLLOW, which Node's fs.link cannot do. Throws SyscallError
 * (EEXIST when `path` exists: the name is never replaced).
 */
export function linkOpenFile(fd: number, path: string): void {
  const c = load();
  if (c.linkat(AT_FDCWD, `/proc/self/fd/${fd}`, AT_FDCWD, path, AT_SYMLINK_FOLLOW) !== 0) throw new SyscallError("linkat", c.errno());
}

const AT_SYMLINK_NOFOLLOW = 0x100;
/** sizeof(struct stat) and its fields on x86_64 (the only architecture the executable is built for). */
export const STAT_SIZE = 144;
const S_IFMT = 0o170000;
const S_IFREG = 0o100000;

/** Datagram socket calls for the netlink layer (src/netlink/rtnl.ts). */
export const SOCK_RAW = 3;
export const SOCK_CLOEXEC = 0o2000000;
export const MSG_TRUNC = 0x20;
export const MSG_DONTWAIT = 0x40;
export const POLLIN = 0x1;

/** socket(2) + bind(2) to `addr`; the fd is closed again when bind fails. Throws SyscallError. */
export function socketBound(domain: number, type: number, protocol: number, addr: Buffer): number {
  const c = load();
  const fd = c.socket(domain, type, protocol);
  if (fd < 0) throw new SyscallError("socket", c.errno());
  if (c.bind(fd, addr, addr.length) !== 0) {
    const errno = c.errno();
    closeSync(fd);
    throw new SyscallError("bind", errno);
  }
  return fd;
}

/** sendto(2) of the whole of `buf` (a datagram) to `addr`; the byte count, or -errno (EINTR retried). */
export function sendTo(fd: number, buf: Buffer, flags: number, addr: Buffer): number {
  const c = load();
  for (;;) {
    const n = c.sendto(fd, buf, buf.length, flags, addr, addr.length);
    if (n >= 0) return n;
    const errno = c.errno();
    if (errno !== osConstants.errno.EINTR) return -errno;
  }
}

/**
 * sendto(2) of the whole of `buf` on a worker thread (koffi's async call): the JS thread keeps
 * running while the kernel handles the datagram (rtnetlink does its work inside sendto). Resolves
 * with the byte count, or -1 when the send failed (the errno of a worker thread is not readable
 * from here: the caller sends again on the JS thread to learn it).
 */
export function sendToAsync(fd: number, buf: Buffer, flags: number, addr: Buffer): Promise<number> {
  const c = load();
  return new Promise((resolve) => {
    c.sendto.async(fd, buf, buf.length, flags, addr, addr.length, (err, n) => resolve(err !== null && err !== undefined ? -1 : n));
  });
}

/**
 * recvfrom(2) of one datagram into `buf`, the sender's address into `from`. Returns the datagram's
 * length (more than buf.length when it was truncated, with MSG_TRUNC in `flags`), or -errno
 * (EAGAIN for none waiting under MSG_DONTWAIT; EINTR retried): no exception on the hot path.
 */
export function recvFrom(fd: number, buf: Buffer, flags: number, from: Buffer, fromLen: Buffer): number {
  const c = load();
  for (;;) {
    fromLen.writeUInt32LE(from.length, 0);
    const n = c.recvfrom(fd, buf, buf.length, flags, from, fromLen);
    if (n >= 0) return n;
    const errno = c.errno();
    if (errno !== osConstants.errno.EINTR) return -errno;
  }
}

/**
 * poll(2) of one fd for `events`, on a worker thread (koffi's async call): the JS thread keeps
 * running. `done` gets poll's result: 1 when the fd is ready, 0 on timeout, -1 when poll failed
 * (the errno of a worker thread is not readable from here).
 */
export function pollAsync(fd: number, events: number, timeoutMs: number, done: (ready: number) => void): void {
  const c = load();
  const pfd = Buffer.alloc(8); // struct pollfd { int fd; short events; short revents; }
  pfd.writeInt32LE(fd, 0);
  pfd.writeInt16LE(events, 4);
  c.poll.async(pfd, 1, Math.max(0, Math.ceil(timeoutMs)), (err, result) => {
    done(err !== null && err !== undefined ? -1 : result);
  });
}

export const MADV_RANDOM = 1;
export const MADV_DONTNEED = 4;
export const MADV_PAGEOUT = 21;
export const POSIX_FADV_DONTNEED = 4;
/** mallopt parameter: the most malloc arenas (glibc's default is 8 per core). */
export const M_ARENA_MAX = -8;

/** madvise(2) on [addr, addr + length). */
export function madvise(addr: number, length: number, advice: number): void {
  if (memoryCalls().madvise(addr, length, advice) !== 0) throw new SyscallError(`madvise(${advice})`, load().errno());
}

/** posix_fadvise(2) on the whole file `fd`. */
export function fadviseAll(fd: number, advice: number): void {
  const r = memoryCalls().posix_fadvise(fd, 0, 0, advice);
  if (r !== 0) throw new SyscallError(`posix_fadvise(${advice})`, r);
}

/** glibc's malloc_trim(0): free memory of every arena back to the kernel; true when some was. */
export function mallocTrim(): boolean {
  return memoryCalls().malloc_trim(0) === 1;
}

/** glibc's mallopt(3); false when the parameter or value was refused. */
export function mallopt(param: number, value: number): boolean {
  return memoryCalls().mallopt(param, value) === 1;
}

/**
 * The IPAM store scan's calls (src/ipam/storeScan.ts), declared on first use: getdents64 (names and
 * inodes of a directory into one buffer), fstatat with the name in a buffer (no string per call),
 * clock_gettime (the coarse clock the kernel stamps files with). Undefined where glibc lacks one.
 */
interface ScanCalls {
  getdents64(fd: number, buf: Buffer, len: number): number;
  fstatat(dirfd: number, path: Buffer, buf: Buffer, flags: number): number;
  clock_gettime(clock: number, ts: Buffer): number;
}

const scanCalls = lazy((): ScanCalls | undefined => {
  const lib = load().lib;
  try {
    return {
      getdents64: lib.func("intptr_t getdents64(int fd, void *buf, size_t n)") as ScanCalls["getdents64"],
      fstatat: lib.func("int fstatat(int dirfd, void *path, void *buf, int flags)") as ScanCalls["fstatat"],
      clock_gettime: lib.func("int clock_gettime(int clock, void *ts)") as ScanCalls["clock_gettime"],
    };
  } catch {
    return undefined; // an old glibc without getdents64 (< 2.30)
  }
});

/**
 * getdents64(2) of `fd` into `buf`: the byte count (0 at the end). Undefined where the call is not
 * available (the caller lists with readdirSync instead). EINTR retried; other errors thrown.
 */
export function getdents64(fd: number, buf: Buffer): number | undefined {
  const c = scanCalls();
  if (c === undefined) return undefined;
  for (;;) {
    const n = c.getdents64(fd, buf, buf.length);
    if (n >= 0) return n;
    const errno = load().errno();
    if (errno !== osConstants.errno.EINTR) throw new SyscallError("getdents64", errno);
  }
}

/** A name's identity as the IPAM owner index records it (lstat semantics). */
export interface NameStat {
  isFile: boolean;
  ino: number;
  ctimeSec: number;
  ctimeNsec: number;
}

/**
 * A struct stat buffer and a 32-bit view of it (statBuffer makes one): statNameAt reads the fields
 * through the view, as small integers, where Buffer#readUInt32LE and friends allocated a number or
 * an argument array per call (40 MiB of garbage in a refresh of 50,000 files: young-generation growth).
 */
export interface StatBuffer {
  bytes: Buffer;
  words: Int32Array;
}

export function statBuffer(): StatBuffer {
  const ab = new ArrayBuffer(STAT_SIZE);
  return { bytes: Buffer.from(ab), words: new Int32Array(ab) };
}

/**
 * fstatat(dirfd, name, AT_SYMLINK_NOFOLLOW) with the NUL-terminated name in `name` and the result
 * written into `out` (no object per call); false when the name is gone (ENOENT). Only on x86_64
 * (struct stat's layout): undefined elsewhere, and the caller uses fs.lstatSync.
 */
export function statNameAt(dirfd: number, name: Buffer, stat: StatBuffer, out: NameStat): boolean | undefined {
  if (process.arch !== "x64") return undefined;
  const c = scanCalls();
  if (c === undefined) return undefined;
  if (c.fstatat(dirfd, name, stat.bytes, AT_SYMLINK_NOFOLLOW) !== 0) {
    const errno = load().errno();
    if (errno === osConstants.errno.ENOENT) return false;
    throw new SyscallError("fstatat", errno);
  }
  const w = stat.words;
  // x86_64 struct stat: st_ino at 8, st_mode at 24, st_ctim at 104 (sec) and 112 (nsec).
  out.isFile = ((w[6] ?? 0) & S_IFMT) === S_IFREG;
  out.ino = ((w[2] ?? 0) >>> 0) + (w[3] ?? 0) * 0x100000000;
  out.ctimeSec = ((w[26] ?? 0) >>> 0) + (w[27] ?? 0) * 0x100000000;
  out.ctimeNsec = w[28] ?? 0;
  return true;
}

/**
 * V8's own `v8::V8::SetFlagsFromString(const char*)`, which node's executable exports (for addons),
 * called through koffi: what node:v8's setFlagsFromString does, without loading node:v8 (its
 * modules cost a CNI call 1.5 MiB of peak RSS). Undefined where the symbol is not found.
 */
const v8SetFlags = lazy((): ((flags: string) => void) | undefined => {
  try {
    load();
    return koffiModule().load(null).func("void _ZN2v82V818SetFlagsFromStringEPKc(const char *flags)") as (flags: string) => void;
  } catch {
    return undefined;
  }
});

/** Set V8 flags at run time (see v8SetFlags); false, having done nothing, where that is not possible. */
export function setV8Flags(flags: string): boolean {
  const set = v8SetFlags();
  if (set === undefined) return false;
  set(flags);
  return true;
}

const CLOCK_REALTIME_COARSE = 5;

/**
 * The coarse real-time clock (what the kernel stamps a file's times from, one tick at a time) as
 * [seconds, nanoseconds]; undefined where it cannot be read.
 */
export function coarseClock(): [number, number] | undefined {
  const c = scanCalls();
  if (c === undefined) return undefined;
  const ts = Buffer.alloc(16);
  if (c.clock_gettime(CLOCK_REALTIME_COARSE, ts) !== 0) return undefined;
  return [ts.readUInt32LE(0) + ts.readInt32LE(4) * 0x100000000, Number(ts.readBigInt64LE(8))];
}
