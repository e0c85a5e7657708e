/**
 * One rtnetlink socket, bound inside one network namespace. The socket is created inside the namespace
 * (through enterSync) and stays bound there, so its requests may be awaited from the host namespace.
 *
 * The socket is a plain AF_NETLINK datagram socket driven through koffi (src/sys/libc), the FFI
 * tether loads anyway for setns: one native addon per call instead of two. Framing is ./nlmsg.
 *
 * Why synchronous sends and non-blocking receives (measured, Node 24, this machine): the kernel
 * handles an rtnetlink request inside sendto(2) and queues the answer before it returns, so the
 * answer is always waiting when we read it (2,000 link dumps: no EAGAIN at all; a dump's later parts
 * are produced inside the recv that asks for them). A send and its receive cost about 25 us in all
 * (a receive through koffi: 0.5 us); an asynchronous koffi call (poll on a worker thread) costs
 * 15-40 us per round trip. So requests run synchronously, reading with MSG_DONTWAIT until every
 * pending request is answered; only an answer not there yet (not seen with rtnetlink) is waited for
 * by poll(2) on a worker thread, with the request's timeout, so the agent's event loop never
 * blocks on the kernel. A long dump or batch gives the event loop a turn every few milliseconds.
 */
import { closeSync } from "node:fs";
import { constants as osConstants } from "node:os";
import { NetlinkError, toNetlinkError } from "./errors";
import { enterSync } from "./netns";
import { NLM_F_ACK, NLM_F_REQUEST, type RawMessage, type Settled, encodeMessage, parseDatagram, readU32, takeMessage } from "./nlmsg";
import { MSG_DONTWAIT, MSG_TRUNC, POLLIN, SOCK_CLOEXEC, SOCK_RAW, SyscallError, pollAsync, recvFrom, sendTo, sendToAsync, socketBound } from "../sys/libc";

export type { RawMessage } from "./nlmsg";

const AF_NETLINK = 16;
/** NETLINK_ROUTE (linux/netlink.h). */
const NETLINK_ROUTE = 0;

/** rtnetlink message types (linux/rtnetlink.h); fixed by the kernel ABI. */
export const RTM = {
  NEWLINK: 16,
  DELLINK: 17,
  GETLINK: 18,
  SETLINK: 19,
  NEWADDR: 20,
  DELADDR: 21,
  GETADDR: 22,
  NEWROUTE: 24,
  DELROUTE: 25,
  GETROUTE: 26,
} as const;

/** Netlink header flags (linux/netlink.h). REQUEST and ACK are added by every request. */
export const NLM_F = {
  DUMP: 0x300,
  REPLACE: 0x100,
  EXCL: 0x200,
  CREATE: 0x400,
} as const;

export const DEFAULT_TIMEOUT_MS = 5000;

/** After this long in one go, a receive loop or a batch lets the event loop run (the agent's). */
const SLICE_MS = 4;

/** struct sockaddr_nl { u16 family; u16 pad; u32 pid; u32 groups; } */
function sockaddrNl(): Buffer {
  const b = Buffer.alloc(12);
  b.writeUInt16LE(AF_NETLINK, 0); // sa_family_t is host order; every target tether builds for is little-endian
  return b;
}
/** The kernel's address (port 0); bound to, it lets the kernel choose our port. */
const KERNEL = sockaddrNl();

/**
 * One receive buffer for every socket: receives run on the JS thread one at a time and each datagram
 * is copied out. A dump part is at most 32 KiB unless one object is larger (a link with many VFs);
 * a datagram larger than the buffer fails its request with EMSGSIZE and grows the buffer.
 */
let recvBuf = Buffer.alloc(64 * 1024);
const fromAddr = Buffer.alloc(12);
const fromLen = Buffer.alloc(4);

/** A monotonic clock in milliseconds (the wall clock may jump). */
const nowMs = (): number => process.uptime() * 1000;

interface Pending {
  op: string;
  parts: RawMessage[];
  deadline: number;
  /** Failed already (timeout, ENOBUFS) but its answer may still come: read and dropped until it ends. */
  abandoned: boolean;
  resolve(messages: RawMessage[]): void;
  reject(err: NetlinkError): void;
}

export interface RtnlOptions {
  /** Per-request timeout in milliseconds (default 5000). */
  timeoutMs?: number;
}

export class Rtnl {
  private closed = false;
  /** The tail of the one-at-a-time request chain. */
  private queue: Promise<unknown> = Promise.resolve();
  private seq = 0;
  /** Requests sent and not yet answered, by sequence number, abandoned ones included. */
  private readonly pending = new Map<number, Pending>();
  /** How many of `pending` are not abandoned. */
  private live = 0;
  /** A poll on a worker thread (or a deferred receive) is under way: the fd stays open until it ends. */
  private waiting = false;
  private fdOpen = true;

  private constructor(
    private readonly fd: number,
    /** The namespace the socket is bound in; undefined for the process's own. */
    readonly netnsPath: string | undefined,
    readonly timeoutMs: number,
  ) {}

  /** Open a socket in `netnsPath` (a network namespace file), or in the process's own namespace. */
  static open(netnsPath?: string, options: RtnlOptions = {}): Rtnl {
    const create = (): number => socketBound(AF_NETLINK, SOCK_RAW | SOCK_CLOEXEC, NETLINK_ROUTE, KERNEL);
    let fd: number;
    try {
      fd = netnsPath === undefined ? create() : enterSync(netnsPath, create);
    } catch (err) {
      if (err instanceof SyscallError) throw toNetlinkError(`open rtnetlink socket${netnsPath === undefined ? "" : ` in ${netnsPath}`}`, err);
      throw err;
    }
    return new Rtnl(fd, netnsPath, options.timeoutMs ?? DEFAULT_TIMEOUT_MS);
  }

  /** Close the socket; requests still waiting fail with EBADF. */
  close(): void {
    if (this.closed) return;
    this.closed = true;
    this.failAll(osConstants.errno.EBADF, "socket is closed");
    if (!this.waiting) this.releaseFd();
  }

  get isClosed(): boolean {
    return this.closed;
  }

  /**
   * Send one request and wait for its answer. Returns the reply messages (empty for a plain ACK);
   * an error answer, a send failure or the timeout become a NetlinkError naming `op`.
   *
   * Requests on one socket run one at a time: the kernel refuses a second dump while one is running
   * on the socket (EBUSY).
   */
  request(op: string, type: number, payload: Uint8Array[], flags = 0): Promise<RawMessage[]> {
    const run = this.queue.then(() => {
      const answer = this.send(op, type, payload, flags);
      this.receive();
      return answer;
    });
    this.queue = run.catch(() => undefined);
    return run;
  }

  /**
   * One request sent from a worker thread, answered like `request`: for a request the kernel takes
   * long to handle inside sendto(2) while the JS thread has other work to do (deleting a veth waits
   * for RCU grace periods: 10-30 ms, mostly asleep; DEL releases the address meanwhile).
   */
  requestOffThread(op: string, type: number, payload: Uint8Array[], flags = 0): Promise<RawMessage[]> {
    const run = this.queue.then(async () => {
      const next = this.prepare(op, type, payload, flags);
      if ("failed" in next) return next.failed;
      // The fd stays open while the worker uses it (close() leaves it to releaseFd).
      this.waiting = true;
      let sent: number;
      try {
        sent = await sendToAsync(this.fd, next.datagram, 0, KERNEL);
      } finally {
        this.waiting = false;
      }
      if (this.closed) {
        this.releaseFd();
        throw new NetlinkError(op, osConstants.errno.EBADF, "socket is closed");
      }
      // A send that failed was not handled by the kernel: again on this thread, for its errno.
      if (sent < 0) sent = sendTo(this.fd, next.datagram, 0, KERNEL);
      const answer = this.track(op, next.seq, sent);
      this.receive();
      return answer;
    });
    this.queue = run.catch(() => undefined);
    return run;
  }

  /**
   * Several requests (no dumps) sent back to back, each answer matched by its sequence number, in
   * one queue slot: no turn of the event loop per request (but one every few milliseconds). The
   * kernel handles them in order. Every request is settled (its answer or its NetlinkError). At most
   * `window` are unanswered at a time, so the answers always fit the socket's receive buffer (each
   * answer is read right after its send anyway: the kernel has queued it by then).
   */
  requestMany(reqs: readonly { op: string; type: number; payload: Uint8Array[]; flags?: number }[], window = 256): Promise<PromiseSettledResult<RawMessage[]>[]> {
    const run = this.queue.then(async () => {
      const out: PromiseSettledResult<RawMessage[]>[] = [];
      let slice = nowMs();
      for (let i = 0; i < reqs.length; i += window) {
        const answers: Promise<RawMessage[]>[] = [];
        for (const r of reqs.slice(i, i + window)) {
          const answer = this.send(r.op, r.type, r.payload, r.flags ?? 0);
          // Handled here so that a rejection before allSettled below is not reported as unhandled.
          answer.catch(() => undefined);
          answers.push(answer);
          this.receive();
          if (nowMs() - slice > SLICE_MS) {
            await yieldToLoop();
            slice = nowMs();
          }
        }
        out.push(...(await Promise.allSettled(answers)));
      }
      return out;
    });
    this.queue = run.catch(() => undefined);
    return run;
  }

  /** A dump request (NLM_F_DUMP): every object of one kind. */
  dump(op: string, type: number, payload: Uint8Array[]): Promise<RawMessage[]> {
    return this.request(op, type, payload, NLM_F.DUMP);
  }

  /** Send one request; its answer is delivered by `receive`. */
  private send(op: string, type: number, payload: Uint8Array[], flags: number): Promise<RawMessage[]> {
    const next = this.prepare(op, type, payload, flags);
    if ("failed" in next) return next.failed;
    return this.track(op, next.seq, sendTo(this.fd, next.datagram, 0, KERNEL));
  }

  /** The next request's sequence number and datagram (or its failure: the socket is closed). */
  private prepare(op: string, type: number, payload: Uint8Array[], flags: number): { seq: number; datagram: Buffer } | { failed: Promise<never> } {
    if (this.closed) return { failed: Promise.reject(new NetlinkError(op, osConstants.errno.EBADF, "socket is closed")) };
    // What is left of an abandoned answer goes first: a dump still running would make a new one EBUSY.
    if (this.pending.size > this.live) this.receive();
    do this.seq = (this.seq % 0xffffffff) + 1;
    while (this.pending.has(this.seq));
    return { seq: this.seq, datagram: encodeMessage(type, flags | NLM_F_REQUEST | NLM_F_ACK, this.seq, payload) };
  }

  /** A sent request (`sent`: sendto's byte count or -errno), waiting for `receive` to deliver its answer. */
  private track(op: string, seq: number, sent: number): Promise<RawMessage[]> {
    if (sent < 0) return Promise.reject(new NetlinkError(op, -sent));
    return new Promise((resolve, reject) => {
      this.pending.set(seq, { op, parts: [], deadline: nowMs() + this.timeoutMs, abandoned: false, resolve, reject });
      this.live++;
    });
  }

  /** Read what the kernel has queued, without blocking, until no request is waiting. */
  private receive(): void {
    const start = nowMs();
    while (this.pending.size > 0) {
      const n = recvFrom(this.fd, recvBuf, MSG_DONTWAIT | MSG_TRUNC, fromAddr, fromLen);
      if (n < 0) {
        if (-n === osConstants.errno.EAGAIN) {
          // Nothing queued means no dump is running either (the kernel makes a dump's next part
          // inside the receive that drains the last): abandoned answers are over.
          this.dropAbandoned();
          return this.wait();
        }
        if (-n !== osConstants.errno.ENOBUFS) {
          this.failAll(-n, "receive failed");
          return;
        }
        // The receive buffer overran and the kernel dropped answers; which ones is unknown. What
        // is still queued is read on (and dropped).
        for (const p of this.pending.values()) this.abandon(p, osConstants.errno.ENOBUFS, "answers lost: the socket's receive buffer overran");
        continue;
      }
      if (readU32(fromAddr, 4) !== 0) continue; // not the kernel's
      if (n > recvBuf.length) {
        this.truncated(n);
        continue;
      }
      this.dispatch(Buffer.from(recvBuf.subarray(0, n)));
      if (this.live > 0 && nowMs() - start > SLICE_MS) return this.later();
    }
  }

  private dispatch(datagram: Buffer): void {
    for (const m of parseDatagram(datagram).messages) {
      const p = this.pending.get(m.seq);
      if (p === undefined) continue; // the ACK after a single answer, or an answer that came too late
      const settled = takeMessage(p.parts, m);
      if (settled === undefined) continue;
      this.pending.delete(m.seq);
      if (p.abandoned) continue;
      this.live--;
      settle(p, settled);
    }
  }

  /** A datagram larger than the buffer was cut: fail its request, and take a larger buffer from now on. */
  private truncated(size: number): void {
    const seq = readU32(recvBuf, 8);
    const p = this.pending.get(seq);
    recvBuf = Buffer.alloc(Math.ceil(size / 4096) * 4096);
    if (p !== undefined) this.abandon(p, osConstants.errno.EMSGSIZE, `an answer of ${size} bytes did not fit the receive buffer`);
  }

  /** Fail a request whose answer may still (partly) come: the rest is read and dropped. */
  private abandon(p: Pending, errno: number, detail: string): void {
    if (p.abandoned) return;
    p.abandoned = true;
    p.parts = [];
    this.live--;
    p.reject(new NetlinkError(p.op, errno, detail));
  }

  private dropAbandoned(): void {
    if (this.pending.size === this.live) return;
    for (const [seq, p] of this.pending) if (p.abandoned) this.pending.delete(seq);
  }

  /** Nothing queued yet: poll(2) on a worker thread until something is, or the first deadline. */
  private wait(): void {
    if (this.waiting) return;
    const now = nowMs();
    let deadline = Infinity;
    for (const p of this.pending.values()) {
      if (p.abandoned) continue;
      if (p.deadline <= now) this.abandon(p, osConstants.errno.ETIMEDOUT, `no answer within ${this.timeoutMs} ms`);
      else deadline = Math.min(deadline, p.deadline);
    }
    if (this.live === 0) return;
    this.waiting = true;
    pollAsync(this.fd, POLLIN, deadline - now, (ready) => {
      this.waiting = false;
      if (this.closed) return this.releaseFd();
      // A failed poll (EINTR) is tried again shortly; the deadlines still hold.
      if (ready < 0) setTimeout(() => this.resume(), 1);
      else this.receive();
    });
  }

  /** Continue receiving on a later turn of the event loop. */
  private later(): void {
    if (this.waiting) return;
    this.waiting = true;
    setImmediate(() => {
      this.waiting = false;
      this.resume();
    });
  }

  private resume(): void {
    if (this.closed) this.releaseFd();
    else this.receive();
  }

  /** Fail every request still waiting, and forget abandoned ones. */
  private failAll(errno: number, detail: string): void {
    const all = [...this.pending.values()].filter((p) => !p.abandoned);
    this.pending.clear();
    this.live = 0;
    for (const p of all) p.reject(new NetlinkError(p.op, errno, detail));
  }

  private releaseFd(): void {
    if (!this.fdOpen || this.waiting) return;
    this.fdOpen = false;
    closeSync(this.fd);
  }
}

function settle(p: Pending, s: Settled): void {
  if ("messages" in s) p.resolve(s.messages);
  else p.reject(new NetlinkError(p.op, s.errno, s.detail));
}

function yieldToLoop(): Promise<void> {
  return new Promise((resolve) => setImmediate(resolve));
}
