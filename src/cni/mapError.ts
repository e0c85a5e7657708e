/**
 * The one place that turns the errors of the layers below into CNI errors, by their class and kind
 * (config, IPAM, plugin, locks, IPAM delegation, firewall, kernel):
 * the code here, the message (which names the field or object at fault) and details as the layer
 * wrote them. A CniError passes through; anything else is left as it is (toErrorObject makes it 999).
 * Applied by dispatch, by the ADD transaction's rollback, by the DEL/GC step runner and at the
 * handler factory's boundary.
 */
import { PluginError, type PluginErrorKind } from "../attach/errors";
import { ConfigError, type ConfigErrorKind } from "../config/errors";
import { FirewallError } from "../firewall/exec";
import { IpamError, type IpamErrorKind } from "../ipam/errors";
import { DelegateError } from "../ipam/plugin/errors";
import { NetlinkError } from "../netlink/errors";
import { LockError, type LockErrorKind } from "../util/lockError";
import type { Handlers, Invocation } from "./dispatch";
import { CniError, ErrorCode } from "./errors";

const CONFIG_CODES: Record<ConfigErrorKind, number> = {
  invalid: ErrorCode.InvalidConfig,
  unsupported: ErrorCode.UnsupportedField,
};

const IPAM_CODES: Record<IpamErrorKind, number> = {
  config: ErrorCode.InvalidConfig,
  environment: ErrorCode.InvalidEnvironment,
  exhausted: ErrorCode.IpamExhausted,
  unavailable: ErrorCode.AddressUnavailable,
  io: ErrorCode.IoFailure,
  busy: ErrorCode.TryAgainLater,
  "not-held": ErrorCode.CheckFailed,
};

const LOCK_CODES: Record<LockErrorKind, number> = {
  io: ErrorCode.IoFailure,
  busy: ErrorCode.TryAgainLater,
};

const PLUGIN_CODES: Record<PluginErrorKind, number> = {
  config: ErrorCode.InvalidConfig,
  unsupported: ErrorCode.UnsupportedField,
  version: ErrorCode.IncompatibleVersion,
  "interface-exists": ErrorCode.InterfaceExists,
  "address-taken": ErrorCode.AddressUnavailable,
  kernel: ErrorCode.KernelRefused,
  "check-failed": ErrorCode.CheckFailed,
  "not-ready": ErrorCode.NotAvailable,
  io: ErrorCode.IoFailure,
  "try-again": ErrorCode.TryAgainLater,
  internal: ErrorCode.Internal,
};

export function toCniError(err: unknown): unknown {
  if (err instanceof CniError) return err;
  if (err instanceof ConfigError) return dressed(CONFIG_CODES[err.kind], err, err.details);
  if (err instanceof IpamError) return dressed(IPAM_CODES[err.kind], err, undefined);
  if (err instanceof PluginError) return dressed(PLUGIN_CODES[err.kind], err, err.details);
  if (err instanceof LockError) return dressed(LOCK_CODES[err.kind], err, undefined);
  if (err instanceof DelegateError) return dressed(ErrorCode.DelegateFailed, err, undefined);
  if (err instanceof FirewallError) return new CniError(ErrorCode.Firewall, err.message, err.stderr || undefined, { cause: err });
  if (err instanceof NetlinkError) return new CniError(ErrorCode.KernelRefused, err.message, undefined, { cause: err });
  return err;
}

/**
 * The CNI error a layer error stands for: its message and details, and its cause (not the layer
 * error itself, so the runtime's `details`, made from the cause chain when absent, stay the layer's).
 */
function dressed(code: number, err: Error, details: string | undefined): CniError {
  return new CniError(code, err.message, details, err.cause === undefined ? undefined : { cause: err.cause });
}

/** Handlers whose failures reach their caller already mapped (dispatch maps again: a no-op). */
export function withCniErrors<C>(h: Handlers<C>): Handlers<C> {
  const mapped =
    <A extends unknown[], R>(fn: (...a: A) => Promise<R>) =>
    async (...a: A): Promise<R> => {
      try {
        return await fn(...a);
      } catch (e) {
        throw toCniError(e);
      }
    };
  return {
    add: mapped((inv: Invocation<C>) => h.add(inv)),
    del: mapped((inv: Invocation<C>) => h.del(inv)),
    check: mapped((inv: Invocation<C>) => h.check(inv)),
    gc: mapped((inv: Invocation<C>) => h.gc(inv)),
    status: mapped((inv: Invocation<C>) => h.status(inv)),
  };
}
