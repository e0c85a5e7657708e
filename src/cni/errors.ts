/** CNI error codes (spec §5 "Error"), plus the Go library's 8 and 999, and tether's own from 100. */
export const ErrorCode = {
  IncompatibleVersion: 1,
  UnsupportedField: 2,
  UnknownContainer: 3,
  InvalidEnvironment: 4,
  IoFailure: 5,
  DecodingFailure: 6,
  InvalidConfig: 7,
  InvalidNetns: 8,
  TryAgainLater: 11,
  NotAvailable: 50,
  LimitedConnectivity: 51,
  Internal: 999,
  // tether-specific
  InterfaceExists: 100,
  IpamExhausted: 101,
  AddressUnavailable: 102,
  KernelRefused: 103,
  CheckFailed: 104,
  DelegateFailed: 105,
  Firewall: 106,
} as const;
export type ErrorCodeValue = (typeof ErrorCode)[keyof typeof ErrorCode];

/** An error that reaches the runtime as a CNI error object unchanged. */
export class CniError extends Error {
  override readonly name = "CniError";
  constructor(
    readonly code: number,
    msg: string,
    readonly details?: string,
    options?: { cause?: unknown },
  ) {
    super(msg, options);
  }
}

export interface CniErrorObject {
  cniVersion: string;
  code: number;
  msg: string;
  details?: string;
}

/** String(v), but never throws (a thrown value may have no prototype or a broken toString). */
function safeString(v: unknown): string {
  try {
    return String(v);
  } catch {
    return Object.prototype.toString.call(v);
  }
}

/** Text of an error and its cause chain, one "name: message" per link, for `details`. */
export function describeCauses(err: unknown): string {
  const parts: string[] = [];
  let cur: unknown = err;
  for (let depth = 0; cur !== undefined && cur !== null && depth < 8; depth++) {
    if (cur instanceof Error) {
      parts.push(`${cur.name}: ${cur.message}`);
      cur = cur.cause;
    } else {
      parts.push(safeString(cur));
      break;
    }
  }
  return parts.join("; caused by ");
}

const EXHAUSTED = new Set(["EMFILE", "ENFILE"]);

/**
 * EMFILE or ENFILE anywhere in the cause chain: the process or the system ran out of file
 * descriptors. Never a verdict on the tool or file at hand (nft, the store): a condition of its own.
 */
export function descriptorExhaustion(err: unknown): string | undefined {
  let cur: unknown = err;
  for (let depth = 0; cur !== undefined && cur !== null && depth < 8; depth++) {
    const code = (cur as { code?: unknown }).code;
    if (typeof code === "string" && EXHAUSTED.has(code)) return code;
    // dlopen (process.dlopen of a native, koffi.load) reports only strerror's text.
    if (cur instanceof Error) {
      if (/Too many open files in system/.test(cur.message)) return "ENFILE";
      if (/Too many open files/.test(cur.message)) return "EMFILE";
    }
    cur = cur instanceof Error ? cur.cause : undefined;
  }
  return undefined;
}

/**
 * Turn anything thrown into the CNI error object: a CniError passes through, the rest is 999. Out of
 * file descriptors is code 11 (try again later) whatever the layer that hit it said.
 */
export function toErrorObject(err: unknown, cniVersion: string): CniErrorObject {
  const exhausted = descriptorExhaustion(err);
  if (exhausted !== undefined && !(err instanceof CniError && err.code === ErrorCode.TryAgainLater)) {
    const msg = err instanceof Error ? err.message : safeString(err);
    return {
      cniVersion,
      code: ErrorCode.TryAgainLater,
      msg: `out of file descriptors (${exhausted}): ${msg}`,
      details: `raise the open-file limit (ulimit -n) of the runtime, or the system's (fs.file-max); ${describeCauses(err)}`,
    };
  }
  if (err instanceof CniError) {
    const obj: CniErrorObject = { cniVersion, code: err.code, msg: err.message };
    const details = err.details ?? (err.cause !== undefined ? describeCauses(err.cause) : undefined);
    if (details !== undefined && details !== "") obj.details = details;
    return obj;
  }
  const msg = err instanceof Error ? err.message : safeString(err);
  return { cniVersion, code: ErrorCode.Internal, msg: msg || "internal error", details: describeCauses(err) };
}
