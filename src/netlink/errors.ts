/**
 * The one error type of the netlink layer: what was attempted (`op`) and the errno the kernel
 * (or a system call) answered with.
 */
import { constants as osConstants } from "node:os";
import { SyscallError, errnoName } from "../sys/libc";

export class NetlinkError extends Error {
  override readonly name: string = "NetlinkError";
  /** errno's symbolic name, e.g. "EEXIST"; "ETIMEDOUT" for a request the kernel never answered. */
  readonly code: string;

  constructor(
    /** What was attempted, e.g. "RTM_NEWLINK veth a1b2" or "open netns /var/run/netns/x". */
    readonly op: string,
    /** Positive errno value. */
    readonly errno: number,
    detail?: string,
    options?: { cause?: unknown },
  ) {
    const code = errnoName(errno);
    super(detail === undefined ? `${op} -> ${code}` : `${op} -> ${code}: ${detail}`, options);
    this.code = code;
  }
}

/** Why a path was refused as a network namespace. */
export type NetnsRefusal = "not-found" | "not-netns" | "own-netns";

/** A path that is not usable as a (foreign) network namespace. */
export class NetnsError extends NetlinkError {
  override readonly name: string = "NetnsError";
  constructor(
    readonly path: string,
    readonly reason: NetnsRefusal,
    errno: number,
    detail: string,
    options?: { cause?: unknown },
  ) {
    super(`open netns ${path}`, errno, detail, options);
  }
}

export type ErrnoCode = keyof typeof osConstants.errno;

/** True when `err` is a NetlinkError (or Node/libc errno error) carrying the given errno name. */
export function isErrno(err: unknown, code: ErrnoCode): boolean {
  if (err instanceof NetlinkError || err instanceof SyscallError) return err.code === code;
  return isNodeErrnoException(err) && err.code === code;
}

export function errnoValue(code: ErrnoCode): number {
  return osConstants.errno[code];
}

function isNodeErrnoException(err: unknown): err is NodeJS.ErrnoException {
  return err instanceof Error && typeof (err as NodeJS.ErrnoException).code === "string";
}

/** Wrap anything thrown below us (Node fs errors, libc errors) as a NetlinkError for `op`. */
export function toNetlinkError(op: string, err: unknown): NetlinkError {
  if (err instanceof NetlinkError) return err;
  if (err instanceof SyscallError) return new NetlinkError(op, err.errno, undefined, { cause: err });
  if (isNodeErrnoException(err) && typeof err.errno === "number") {
    return new NetlinkError(op, Math.abs(err.errno), undefined, { cause: err });
  }
  const detail = err instanceof Error ? err.message : String(err);
  return new NetlinkError(op, osConstants.errno.EIO, detail, { cause: err });
}
