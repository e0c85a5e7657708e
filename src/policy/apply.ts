/**
 * Putting a compiled ruleset into the kernel. Runs the `nft` binary (`nft -f -`), as the rest of
 * tether's firewall code does: one file is one transaction, so the table is never half old, half
 * new. The first apply (and any apply after a failure) replaces the whole table; later ones send
 * only the difference from the ruleset last applied (refilled sets, map elements, new and dropped
 * chains), which keeps nft's parse work proportional to the change.
 */
import { spawn } from "node:child_process";
import { findTool } from "../firewall/tools";
import { FirewallError } from "../firewall/exec";
import { FAMILY_TABLE, renderDelta, renderFull, type PolicyRuleset } from "./nft";

export interface ApplyOutcome {
  mode: "full" | "delta" | "unchanged";
  /** Bytes of nftables text sent. */
  bytes: number;
}

export type NftRunner = (args: readonly string[], input: string) => Promise<void>;

/** `nft <args>` with the input on stdin; rejects with the nft error text. */
export const runNft: NftRunner = (args, input) =>
  new Promise((resolve, reject) => {
    const nft = findTool("nft");
    const op = `nft ${args.join(" ")}`;
    if (nft === undefined) return reject(new FirewallError(op, "", "nft is not installed"));
    const child = spawn(nft, args, { stdio: ["pipe", "ignore", "pipe"], env: { PATH: process.env["PATH"] ?? "", LC_ALL: "C" } });
    let stderr = "";
    child.stderr.setEncoding("utf8").on("data", (d: string) => (stderr += d));
    child.on("error", (e) => reject(new FirewallError(op, "", `${op}: ${e.message}`)));
    child.on("close", (code) => (code === 0 ? resolve() : reject(new FirewallError(op, stderr))));
    child.stdin.on("error", () => undefined);
    child.stdin.end(input);
  });

export class PolicyApplier {
  private last: PolicyRuleset | undefined;

  constructor(private readonly run: NftRunner = runNft) {}

  /**
   * Make the kernel's table equal `next`. A string is applied as a whole-table text (as compile()
   * returns it) and forgets the last ruleset, so the next structured apply is full again.
   */
  async apply(next: PolicyRuleset | string): Promise<ApplyOutcome> {
    if (typeof next === "string") {
      this.last = undefined;
      await this.run(["-f", "-"], next);
      return { mode: "full", bytes: Buffer.byteLength(next) };
    }
    const prev = this.last;
    if (prev !== undefined) {
      const delta = renderDelta(prev, next);
      if (delta === "") return { mode: "unchanged", bytes: 0 };
      try {
        await this.run(["-f", "-"], delta);
        this.last = next;
        return { mode: "delta", bytes: Buffer.byteLength(delta) };
      } catch {
        // The table was changed behind our back (or is gone): fall back to replacing it whole.
        this.last = undefined;
      }
    }
    const full = renderFull(next);
    await this.run(["-f", "-"], full);
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
    await this.run(["-f", "-"], `table ${FAMILY_TABLE} {}\ndelete table ${FAMILY_TABLE}\n`);
  }
}
