/**
 * One rtnetlink socket, bound inside one network namespace. The socket is created inside the namespace
 * (through enterSync) and stays bound there, so its requests may be awaited from the host namespace.
 *
 * The `netlink` package (a native module) is required only here, the first time it is needed, and only
 * its socket layer and struct helpers: its index also loads nl80211, WireGuard and generic netlink, and
 * its generated rtnetlink structs alone take 20-30 ms to load, most of a CNI call's budget. The few
 * fixed rtnetlink headers are encoded in ./msg instead.
 */
import type * as NetlinkCore from "netlink/dist/netlink";
import type * as NetlinkStructs from "netlink/dist/structs";
import type { MessageInfo } from "netlink/dist/raw";
import { constants as osConstants } from "node:os";
import { NetlinkError } from "./errors";
import { enterSync } from "./netns";

export type RawMessage = NetlinkStructs.NetlinkMessage;
type CoreModule = typeof NetlinkCore;
type StructsModule = typeof NetlinkStructs;

let coreModule: CoreModule | undefined;
let structsModule: StructsModule | undefined;

/** The package's socket layer (loads the native binding). */
function netlinkCore(): CoreModule {
  // eslint-disable-next-line @typescript-eslint/no-require-imports
  coreModule ??= require("netlink/dist/netlink") as CoreModule;
  return coreModule;
}

/** The package's attribute / struct helpers (plain JS, no native code). */
export function netlinkStructs(): StructsModule {
  // eslint-disable-next-line @typescript-eslint/no-require-imports
  structsModule ??= require("netlink/dist/structs") as StructsModule;
  return structsModule;
}

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

const NLMSG_ERROR = 2;

export const DEFAULT_TIMEOUT_MS = 5000;

export interface RtnlOptions {
  /** Per-request timeout in milliseconds (default 5000). */
  timeoutMs?: number;
}

export class Rtnl {
  private closed = false;
  /** The tail of the one-at-a-time request chain. */
  private queue: Promise<unknown> = Promise.resolve();

  private constructor(
    private readonly socket: NetlinkCore.NetlinkSocket,
    /** The namespace the socket is bound in; undefined for the process's own. */
    readonly netnsPath: string | undefined,
    readonly timeoutMs: number,
  ) {
    // Without a listener an 'error' event would throw; a failed send also rejects its request.
    socket.on("error", () => undefined);
    socket.unref();
  }

  /** Open a socket in `netnsPath` (a network namespace file), or in the process's own namespace. */
  static open(netnsPath?: string, options: RtnlOptions = {}): Rtnl {
    const core = netlinkCore();
    const create = (): NetlinkCore.NetlinkSocket => core.createNetlink(NETLINK_ROUTE);
    const socket = netnsPath === undefined ? create() : enterSync(netnsPath, create);
    return new Rtnl(socket, netnsPath, options.timeoutMs ?? DEFAULT_TIMEOUT_MS);
  }

  close(): void {
    if (this.closed) return;
    this.closed = true;
    this.socket.close();
  }

  get isClosed(): boolean {
    return this.closed;
  }

  /**
   * Send one request and wait for its answer. Returns the reply messages (empty for a plain ACK);
   * an error answer, a send failure or the timeout become a NetlinkError naming `op`.
   *
   * Requests on one socket run one at a time: the kernel refuses a second dump while one is running
   * (EBUSY), and the package cannot tell apart replies that interleave with a multipart dump.
   */
  request(op: string, type: number, payload: Uint8Array[], flags = 0): Promise<RawMessage[]> {
    const run = this.queue.then(() => this.send(op, type, payload, flags));
    this.queue = run.catch(() => undefined);
    return run;
  }

  /**
   * Several requests (no dumps) sent back to back and each answer matched by its sequence number:
   * one wait for the lot instead of a round trip per request. The kernel handles them in order.
   * Every request is settled (its answer or its NetlinkError). At most `window` are in flight, so
   * the answers always fit the socket's receive buffer.
   */
  requestMany(reqs: readonly { op: string; type: number; payload: Uint8Array[]; flags?: number }[], window = 256): Promise<PromiseSettledResult<RawMessage[]>[]> {
    const run = this.queue.then(async () => {
      const out: PromiseSettledResult<RawMessage[]>[] = [];
      for (let i = 0; i < reqs.length; i += window) {
        const chunk = reqs.slice(i, i + window);
        out.push(...(await Promise.allSettled(chunk.map((r) => this.send(r.op, r.type, r.payload, r.flags ?? 0)))));
      }
      return out;
    });
    this.queue = run.catch(() => undefined);
    return run;
  }

  private async send(op: string, type: number, payload: Uint8Array[], flags: number): Promise<RawMessage[]> {
    if (this.closed) throw new NetlinkError(op, osConstants.errno.EBADF, "socket is closed");
    let reply: [RawMessage[], MessageInfo];
    try {
      reply = await this.socket.request(type, payload, { flags, timeout: this.timeoutMs, checkError: false });
    } catch (err) {
      throw requestFailure(op, err, this.timeoutMs);
    }
    return checkReply(op, reply[0]);
  }

  /** A dump request (NLM_F_DUMP): every object of one kind. */
  dump(op: string, type: number, payload: Uint8Array[]): Promise<RawMessage[]> {
    return this.request(op, type, payload, NLM_F.DUMP);
  }
}

/** Throw the errno of an NLMSG_ERROR answer; a zero errno is a plain ACK. */
function checkReply(op: string, messages: RawMessage[]): RawMessage[] {
  const first = messages[0];
  if (first === undefined || first.type !== NLMSG_ERROR) return messages;
  let errno: number;
  try {
    errno = -netlinkStructs().parseError(first.data, first.flags).errno;
  } catch (err) {
    throw new NetlinkError(op, osConstants.errno.EPROTO, "malformed error message", { cause: err });
  }
  if (errno !== 0) throw new NetlinkError(op, errno);
  return [];
}

function requestFailure(op: string, err: unknown, timeoutMs: number): NetlinkError {
  const errno = (err as { errno?: unknown } | null)?.errno;
  if (typeof errno === "number") return new NetlinkError(op, Math.abs(errno), undefined, { cause: err });
  const message = err instanceof Error ? err.message : String(err);
  if (/timeout/i.test(message)) {
    return new NetlinkError(op, osConstants.errno.ETIMEDOUT, `no answer within ${timeoutMs} ms`, { cause: err });
  }
  return new NetlinkError(op, osConstants.errno.EIO, message, { cause: err });
}
