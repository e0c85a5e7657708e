/** The CNI_* environment: which variables each command needs, and their validation. */
import { quoteForeign } from "../util/quote";
import { CniError, ErrorCode } from "./errors";

export const COMMANDS = ["ADD", "DEL", "CHECK", "VERSION", "GC", "STATUS"] as const;
export type Command = (typeof COMMANDS)[number];

export interface CniEnv {
  command: Command;
  containerId: string;
  /** Empty when not given (allowed for DEL, GC, STATUS, VERSION). */
  netns: string;
  ifname: string;
  args: string;
  /** CNI_PATH split on ':' with empty entries dropped. */
  path: string[];
  /** CNI_NETNS_OVERRIDE: allow CNI_NETNS to be the plugin's own namespace (as the Go skel does). */
  netnsOverride: boolean;
}

type Var = "CNI_CONTAINERID" | "CNI_NETNS" | "CNI_IFNAME" | "CNI_PATH";
const REQUIRED: Record<Command, readonly Var[]> = {
  ADD: ["CNI_CONTAINERID", "CNI_NETNS", "CNI_IFNAME"],
  CHECK: ["CNI_CONTAINERID", "CNI_NETNS", "CNI_IFNAME"],
  DEL: ["CNI_CONTAINERID", "CNI_IFNAME"],
  GC: [],
  STATUS: [],
  VERSION: [],
};

/** Container ids and network names: what the Go library accepts (also keeps them path-safe). */
export const ID_PATTERN = /^[a-zA-Z0-9][a-zA-Z0-9_.-]*$/;

export function isValidId(s: string): boolean {
  return ID_PATTERN.test(s);
}

/**
 * The longest container id tether takes, the same for every command and every reader of the store:
 * the longest a runtime can pass at all (Linux's MAX_ARG_STRLEN, 128 KiB, less "CNI_CONTAINERID="
 * and the NUL). So tether refuses no id host-local takes, and what ADD accepts DEL can release.
 */
export const MAX_CONTAINER_ID_LENGTH = 128 * 1024 - "CNI_CONTAINERID=".length - 1;

/** Why a container id is refused; undefined when it is fine. */
export function containerIdProblem(id: string): string | undefined {
  if (id.length > MAX_CONTAINER_ID_LENGTH) return `is ${id.length} characters long, the limit is ${MAX_CONTAINER_ID_LENGTH}`;
  if (!ID_PATTERN.test(id)) return `is invalid: it must match ${ID_PATTERN.source}`;
  return undefined;
}

/** Linux interface names: 1..15 bytes, not "." or "..", no '/', ':' or whitespace. */
export function ifnameProblem(name: string): string | undefined {
  const bytes = Buffer.byteLength(name, "utf8");
  if (bytes === 0) return "is empty";
  if (bytes > 15) return `is ${bytes} bytes long, the limit is 15`;
  if (name === "." || name === "..") return `may not be "${name}"`;
  if (/[/:\s]/u.test(name)) return "may not contain '/', ':' or whitespace";
  if (name.includes("\0")) return "may not contain NUL";
  // Node decodes the environment as UTF-8, turning bytes that are not into U+FFFD: the kernel would
  // get a name the runtime never asked for.
  if (name.includes("\uFFFD")) return "is not valid UTF-8 (or contains U+FFFD)";
  return undefined;
}

export function parseCommand(value: string | undefined): Command {
  if ((COMMANDS as readonly string[]).includes(value ?? "")) return value as Command;
  throw new CniError(ErrorCode.InvalidEnvironment, `unknown CNI_COMMAND: ${quoteForeign(value ?? "")}`);
}

/** Read and validate the environment for one invocation. Empty variables count as absent. */
export function readEnv(env: NodeJS.ProcessEnv): CniEnv {
  const command = parseCommand(env["CNI_COMMAND"]);
  const get = (k: string): string => env[k] ?? "";
  const missing = REQUIRED[command].filter((k) => get(k) === "");
  if (missing.length > 0) {
    throw new CniError(ErrorCode.InvalidEnvironment, `required env variables [${missing.join(",")}] missing`);
  }
  const containerId = get("CNI_CONTAINERID");
  const idProblem = containerId === "" ? undefined : containerIdProblem(containerId);
  if (idProblem !== undefined) {
    throw new CniError(ErrorCode.InvalidEnvironment, `CNI_CONTAINERID: ${quoteForeign(containerId)} ${idProblem}`);
  }
  const ifname = get("CNI_IFNAME");
  if (ifname !== "") {
    const problem = ifnameProblem(ifname);
    if (problem !== undefined) {
      throw new CniError(ErrorCode.InvalidEnvironment, `CNI_IFNAME: ${quoteForeign(ifname)} ${problem}`);
    }
  }
  const netns = get("CNI_NETNS");
  if (netns !== "" && !netns.startsWith("/")) {
    throw new CniError(ErrorCode.InvalidEnvironment, `CNI_NETNS: ${quoteForeign(netns)} is not an absolute path`);
  }
  // As for CNI_IFNAME: bytes that are not UTF-8 arrive as U+FFFD, a path the runtime never gave.
  if (netns.includes("\uFFFD")) {
    throw new CniError(ErrorCode.InvalidEnvironment, `CNI_NETNS: ${quoteForeign(netns)} is not valid UTF-8 (or contains U+FFFD)`);
  }
  const override = get("CNI_NETNS_OVERRIDE").toLowerCase();
  return {
    command,
    containerId,
    netns,
    ifname,
    args: get("CNI_ARGS"),
    path: get("CNI_PATH")
      .split(":")
      .filter((p) => p !== ""),
    netnsOverride: override === "1" || override === "true",
  };
}
