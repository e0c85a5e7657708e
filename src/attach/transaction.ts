/** The ADD transaction of both modes: open the namespaces, declare the attachment, build, undo on failure. */
import type { Invocation } from "../cni/dispatch";
import fs = require("node:fs");
import { CniError, ErrorCode, descriptorExhaustion } from "../cni/errors";
import { toCniError } from "../cni/mapError";
import type { Result } from "../cni/types";
import type { NetConf } from "../config/netconf";
import type { Kernel, Ns } from "../kernel/port";
import { log } from "../util/log";
import { Rollback } from "../util/rollback";
import { completeAttachment, declareAttachment } from "./attachment";
import { PluginError } from "./errors";
import { mergePrevResult } from "./result";

/** What an ADD works with: the node's namespace, the container's, the undo stack, and the host veth's name to be. */
export interface AddContext {
  host: Ns;
  container: Ns;
  rollback: Rollback;
  /** Chosen before anything exists and written in the attachment's record (declareAttachment). */
  hostIfname: string;
}

/**
 * One ADD as a transaction, for both modes: `build` pushes an undo step the moment each resource
 * exists; on success prevResult is kept in front of tether's own result, on failure every undo runs
 * in reverse and the error reaches the runtime as a CNI error. Namespaces are closed on every path.
 */
export async function runAdd(k: Kernel, inv: Invocation<NetConf>, build: (ctx: AddContext) => Promise<Result>): Promise<Result> {
  // Before anything exists: an undo must never be the thing that runs out of descriptors.
  const reserve = FdReserve.take();
  const rollback = new Rollback();
  let host: Ns | undefined;
  let container: Ns | undefined;
  try {
    host = await k.open();
    container = await k.open(inv.env.netns, { allowOwn: inv.env.netnsOverride });
    const hostIfname = declareAttachment(inv, rollback);
    const result = await build({ host, container, rollback, hostIfname });
    completeAttachment(inv);
    rollback.commit();
    return mergePrevResult(inv.prevResult, result);
  } catch (err) {
    reserve.release();
    const failures = await rollback.run();
    for (const f of failures) log.error(`rollback step failed: ${f.what}`, { error: String(f.error) });
    throw withLeftovers(toCniError(err), failures);
  } finally {
    reserve.release();
    if (container) k.close(container);
    if (host) k.close(host);
  }
}

/** The ADD's error, saying what its rollback could not undo (the runtime's DEL, or `tether doctor --fix`, removes it). */
function withLeftovers(err: unknown, failures: readonly { what: string; error: unknown }[]): unknown {
  if (failures.length === 0) return err;
  const left = failures.map((f) => `${f.what} (${f.error instanceof Error ? f.error.message : String(f.error)})`).join("; ");
  const code = err instanceof CniError ? err.code : ErrorCode.Internal;
  const msg = err instanceof Error ? err.message : String(err);
  const details = err instanceof CniError ? err.details : undefined;
  return new CniError(code, `${msg}; left behind, could not be undone: ${left}`, details, { cause: err });
}

/**
 * A few descriptors held open (on /dev/null) from the start of an ADD and let go when it fails, so
 * its rollback (the IPAM lock and store, nft's pipes) has them even when the failure was running
 * out. An ADD that cannot even take them is refused before it makes anything (code 11).
 */
class FdReserve {
  static readonly SIZE = 16;
  private constructor(private fds: number[]) {}
  static take(): FdReserve {
    const fds: number[] = [];
    try {
      for (let i = 0; i < FdReserve.SIZE; i++) fds.push(fs.openSync("/dev/null", "r"));
    } catch (e) {
      for (const fd of fds) fs.closeSync(fd);
      if (descriptorExhaustion(e) === undefined) return new FdReserve([]);
      throw new PluginError(
        "try-again",
        `out of file descriptors (${(e as NodeJS.ErrnoException).code}) before the ADD began: tether keeps ${FdReserve.SIZE} in reserve so that a failed ADD can always be undone`,
        "raise the open-file limit (ulimit -n) of the runtime",
        { cause: e },
      );
    }
    return new FdReserve(fds);
  }
  release(): void {
    for (const fd of this.fds) fs.closeSync(fd);
    this.fds = [];
  }
}

