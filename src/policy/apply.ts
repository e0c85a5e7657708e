/**
 * Putting a compiled ruleset into the kernel. Runs the `nft` binary, as the rest of tether's
 * firewall code does (there is no nf_tables netlink code here). Every apply is one nftables
 * transaction, so the table is never half old, half new:
 * - the first apply (and any after a failure or reset()) replaces the whole table: `nft -f -`
 *   with "add table; delete table; table { ... }" in one file;
 * - later ones send only the difference from the ruleset last applied (refilled sets, map
 *   elements, new and dropped chains) as ONE line to a long-lived `nft -i` (one line of nft's
 *   interactive mode is one transaction), which saves the ~40 ms start of an nft process per change.
 */
import { spawn, type ChildProcessWithoutNullStreams } from "node:child_process";
import { findTool } from "../firewall/tools";
import { FirewallError } from "../firewall/exec";
import { FAMILY_TABLE, renderDelta, renderFull, type PolicyRuleset } from "./nft";

export interface ApplyOutcome {
  mode: "full" | "delta" | "unchanged";
  /** Bytes of nftables text sent. */
  bytes: number;
}

export interface PolicyApplierOptions {
  /** How to run nft: the argv before nft's own arguments (tests: ["ip", "netns", "exec", NS, "nft"]). */
  nft?: readonly string[];
  /** Send deltas through one long-lived `nft -i` (default true); false: an `nft -f -` per delta. */
  persistent?: boolean;
}

/** Deltas longer than this go through `nft -f -` (one interactive line stays modest). */
const MAX_LINE = 1 << 20;

function nftArgv(prefix: readonly string[] | undefined): string[] {
  if (prefix !== undefined) return [...prefix];
  const nft = findTool("nft");
  if (nft === undefined) throw new FirewallError("nft", "", "nft is not installed");
  return [nft];
}

const CHILD_ENV = (): NodeJS.ProcessEnv => ({ PATH: process.env["PATH"] ?? "/usr/sbin:/usr/bin:/sbin:/bin", LC_ALL: "C" });

/** `nft -f -` with the text on stdin; rejects with nft's error text. */
export function runNftFile(prefix: readonly string[] | undefined, text: string): Promise<void> {
  return new Promise((resolve, reject) => {
    const [cmd, ...rest] = nftArgv(prefix);
    const op = "nft -f -";
    const child = spawn(cmd as string, [...rest, "-f", "-"], { stdio: ["pipe", "ignore", "pipe"], env: CHILD_ENV() });
    let stderr = "";
    child.stderr.setEncoding("utf8").on("data", (d: string) => (stderr += d));
    child.on("error", (e) => reject(new FirewallError(op, "", `${op}: ${e.message}`)));
    child.on("close", (code) => (code === 0 ? resolve() : reject(new FirewallError(op, stderr))));
    child.stdin.on("error", () => undefined);
    child.stdin.end(text);
  });
}

/**
 * A long-lived `nft -i`. Each exec() writes one line (one transaction) and then a marker command
 * that always fails (deleting a table that does not exist): nft reports errors on stderr in order,
 * so whatever stderr holds before the marker's error is the line's own failure.
 */
export class NftSession {
  private child: ChildProcessWithoutNullStreams | undefined;
  private stderr = "";
  private seq = 0;
  private chain: Promise<void> = Promise.resolve();
  private pending: { marker: string; resolve: () => void; reject: (e: Error) => void } | undefined;

  constructor(private readonly prefix?: readonly string[]) {}

  exec(line: string): Promise<void> {
    const run = this.chain.then(() => this.execNow(line));
    this.chain = run.catch(() => undefined);
    return run;
  }

  private start(): ChildProcessWithoutNullStreams {
    const [cmd, ...rest] = nftArgv(this.prefix);
    const child = spawn(cmd as string, [...rest, "-i"], { stdio: ["pipe", "pipe", "pipe"], env: CHILD_ENV() });
    child.stdout.resume();
    child.stdin.on("error", () => undefined);
    child.stderr.setEncoding("utf8").on("data", (d: string) => {
      this.stderr += d;
      this.check();
    });
    const gone = (why: string): void => {
      if (this.child === child) this.child = undefined;
      const p = this.pending;
      this.pending = undefined;
      p?.reject(new FirewallError("nft -i", this.stderr, `nft -i ${why}`));
    };
    child.on("error", (e) => gone(`failed: ${e.message}`));
    child.on("exit", (code, sig) => gone(`exited (${code ?? sig})`));
    this.child = child;
    return child;
  }

  private execNow(line: string): Promise<void> {
    return new Promise((resolve, reject) => {
      const child = this.child ?? this.start();
      const marker = `delete table ${FAMILY_TABLE}-sync-${process.pid}-${++this.seq}`;
      this.stderr = "";
      // An nft that never answers is ended; the caller falls back to `nft -f`.
      const timer = setTimeout(() => {
        this.pending = undefined;
        this.close();
        reject(new FirewallError("nft -i", this.stderr, "nft -i did not answer within 30 s"));
      }, 30_000);
      const done = (): void => clearTimeout(timer);
      this.pending = {
        marker,
        resolve: () => (done(), resolve()),
        reject: (e) => (done(), reject(e)),
      };
      child.stdin.write(`${line}\n${marker}\n`);
    });
  }

  private check(): void {
    const p = this.pending;
    if (p === undefined) return;
    const lines = this.stderr.split("\n");
    const at = lines.indexOf(p.marker);
    // The marker's report: "Error: ...", the command, a caret line; wait for all three.
    if (at < 1 || lines.length < at + 3) return;
    this.pending = undefined;
    const own = lines.slice(0, at - 1).join("\n").trim();
    if (own === "") p.resolve();
    else p.reject(new FirewallError("nft -i", own));
  }

  close(): void {
    const c = this.child;
    this.child = undefined;
    c?.stdin.end();
    c?.kill();
  }
}

export class PolicyApplier {
  private last: PolicyRuleset | undefined;
  private readonly session: NftSession | undefined;

  constructor(private readonly opts: PolicyApplierOptions = {}) {
    this.session = opts.persistent === false ? undefined : new NftSession(opts.nft);
  }

  /**
   * Make the kernel's table equal `next`. A string is applied as a whole-table text (as compile()
   * returns it) and forgets the last ruleset, so the next structured apply is full again.
   */
  async apply(next: PolicyRuleset | string): Promise<ApplyOutcome> {
    if (typeof next === "string") {
      this.last = undefined;
      await runNftFile(this.opts.nft, next);
      return { mode: "full", bytes: Buffer.byteLength(next) };
    }
    const prev = this.last;
    if (prev !== undefined) {
      const delta = renderDelta(prev, next);
      if (delta === "") return { mode: "unchanged", bytes: 0 };
      try {
        const line = delta.trimEnd().split("\n").join("; ");
        if (this.session !== undefined && line.length <= MAX_LINE) await this.session.exec(line);
        else await runNftFile(this.opts.nft, delta);
        this.last = next;
        return { mode: "delta", bytes: Buffer.byteLength(delta) };
      } catch {
        // The table was changed behind our back (or is gone): replace it whole.
        this.last = undefined;
      }
    }
    const full = renderFull(next);
    await runNftFile(this.opts.nft, full);
    this.last = next;
    return { mode: "full", bytes: Buffer.byteLength(full) };
  }

  /** Forget what was applied: the next apply replaces the whole table (resync path). */
  reset(): void {
    this.last = undefined;
  }

  /** Delete the table (nothing enforced any more); absent is fine. */
  async remove(): Promise<void> {
    this.last = undefined;
    await runNftFile(this.opts.nft, `table ${FAMILY_TABLE} {}\ndelete table ${FAMILY_TABLE}\n`);
  }

  /** End the long-lived nft process (the table stays). */
  close(): void {
    this.session?.close();
  }
}
