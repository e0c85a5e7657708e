/**
 * Delegation to another plugin found on CNI_PATH (an IPAM plugin): same environment but
 * CNI_COMMAND, the exact stdin tether received, its stderr passed through, its errors passed up.
 */
import { statSync } from "node:fs";
import { join } from "node:path";
import { CniError, ErrorCode } from "./errors";
import { lazy } from "../util/lazy";

const nodeChildProcessModule = lazy(() => require("node:child_process") as typeof import("node:child_process"));

/** The first regular file named `type` in the CNI_PATH directories. */
export function findPlugin(type: string, dirs: readonly string[], field = "ipam.type"): string {
  if (type === "" || type.includes("/") || type.includes("\\") || type === "." || type === "..") {
    throw new CniError(ErrorCode.InvalidConfig, `${field}: ${JSON.stringify(type)} is not a plugin name`);
  }
  for (const dir of dirs) {
    const candidate = join(dir, type);
    try {
      if (statSync(candidate).isFile()) return candidate;
    } catch {
      // not in this directory
    }
  }
  throw new CniError(
    ErrorCode.InvalidConfig,
    `${field}: plugin "${type}" not found in CNI_PATH`,
    dirs.length > 0 ? `searched ${dirs.join(":")}` : "CNI_PATH is empty",
  );
}

/** Run a delegated plugin; returns its stdout (parsed JSON or undefined when empty). */
export function execPlugin(
  path: string,
  command: string,
  stdin: Buffer,
  env: NodeJS.ProcessEnv,
  args: readonly string[] = [],
): unknown {
  // Loaded here: only delegated IPAM pays for node:child_process.
  const { spawnSync } = nodeChildProcessModule();
  const res = spawnSync(path, args, {
    input: stdin,
    env: { ...env, CNI_COMMAND: command },
    stdio: ["pipe", "pipe", "inherit"],
    maxBuffer: 16 * 1024 * 1024,
    timeout: 60_000,
  });
  if (res.error) {
    throw new CniError(ErrorCode.DelegateFailed, `${command} of ${path} could not run: ${res.error.message}`);
  }
  const out = res.stdout.toString("utf8").trim();
  let parsed: unknown;
  if (out !== "") {
    try {
      parsed = JSON.parse(out);
    } catch {
      if (res.status === 0) {
        throw new CniError(ErrorCode.DecodingFailure, `${command} of ${path} printed something that is not JSON`, out.slice(0, 500));
      }
    }
  }
  if (res.status !== 0) {
    const e = (parsed ?? {}) as { code?: unknown; msg?: unknown; details?: unknown };
    const code = typeof e.code === "number" ? e.code : ErrorCode.DelegateFailed;
    const msg = typeof e.msg === "string" ? e.msg : `exited with status ${res.status ?? res.signal}`;
    const details = typeof e.details === "string" && e.details !== "" ? e.details : undefined;
    throw new CniError(code, `${command} of ${path}: ${msg}`, details);
  }
  return parsed;
}
