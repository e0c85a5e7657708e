/**
 * Running nft, iptables-restore and iptables-save. tether runs these binaries for firewall rules
 * ONLY: there is no netlink (nf_tables) implementation here yet. Links, addresses, routes and sysctls
 * all go through src/netlink, never through a binary.
 */
import { findTool } from "./tools";

export { findTool } from "./tools";

export class FirewallError extends Error {
  override readonly name = "FirewallError";
  constructor(
    /** The command, e.g. "nft -f -". */
    readonly op: string,
    readonly stderr: string,
    message?: string,
    options?: { cause?: unknown },
  ) {
    super(message ?? `${op} failed: ${stderr.trim().split("\n")[0] || "no error output"}`, options);
  }

  /** The errno name when the tool could not even be run (EMFILE, ENOENT...). */
  get code(): string | undefined {
    const c = (this.cause as { code?: unknown } | undefined)?.code;
    return typeof c === "string" ? c : undefined;
  }
}

export interface ToolOutcome {
  status: number | null;
  stdout: string;
  stderr: string;
}

/** Run a tool to completion; undefined when it is not installed. Never throws for a non-zero exit. */
export function runTool(tool: string, args: readonly string[], input?: string): ToolOutcome | undefined {
  const path = findTool(tool);
  if (path === undefined) return undefined;
  // node:child_process (with net, dgram and the stream modules) loads only when a rule is written:
  // an ADD without ipMasq or spoof checks never pays for it.
  // eslint-disable-next-line @typescript-eslint/no-require-imports
  const { spawnSync } = require("node:child_process") as typeof import("node:child_process");
  const r = spawnSync(path, args, {
    input: input ?? "",
    encoding: "utf8",
    timeout: 60_000,
    env: { ...process.env, LC_ALL: "C" },
    maxBuffer: 64 << 20,
  });
  if (r.error !== undefined) throw new FirewallError(`${tool} ${args.join(" ")}`, "", `${tool}: ${r.error.message}`, { cause: r.error });
  return { status: r.status, stdout: r.stdout, stderr: r.stderr };
}

/** Run a tool that must exist and succeed; returns its stdout. */
export function mustRunTool(tool: string, args: readonly string[], input?: string): string {
  const op = `${tool} ${args.join(" ")}`;
  const r = runTool(tool, args, input);
  if (r === undefined) throw new FirewallError(op, "", `${tool} is not installed`);
  if (r.status !== 0) {
    const detail = input === undefined ? r.stderr : `${r.stderr.trim()}\ninput:\n${input}`;
    throw new FirewallError(op, detail);
  }
  return r.stdout;
}
