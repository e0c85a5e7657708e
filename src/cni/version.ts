/** CNI spec versions tether speaks, and their ordering. */
import { CniError, ErrorCode } from "./errors";
import { quoteForeign } from "../util/quote";

export const SUPPORTED_VERSIONS = ["0.1.0", "0.2.0", "0.3.0", "0.3.1", "0.4.0", "1.0.0", "1.1.0"] as const;
export type CniVersion = (typeof SUPPORTED_VERSIONS)[number];
export const LATEST_VERSION: CniVersion = "1.1.0";
/** A config without cniVersion is 0.1.0 (as the Go library treats it; same result format as 0.2.0). */
export const DEFAULT_VERSION: CniVersion = "0.1.0";

export function isSupportedVersion(v: string): v is CniVersion {
  return (SUPPORTED_VERSIONS as readonly string[]).includes(v);
}

/** Compare dotted versions numerically: negative, zero or positive. Unparseable parts count as 0. */
export function compareVersions(a: string, b: string): number {
  const pa = a.split(".").map((x) => Number.parseInt(x, 10) || 0);
  const pb = b.split(".").map((x) => Number.parseInt(x, 10) || 0);
  for (let i = 0; i < Math.max(pa.length, pb.length); i++) {
    const d = (pa[i] ?? 0) - (pb[i] ?? 0);
    if (d !== 0) return d;
  }
  return 0;
}

export function versionAtLeast(v: string, min: string): boolean {
  return compareVersions(v, min) >= 0;
}

/** The version of a request config: its cniVersion (string, exactly supported) or the default. */
export function requestVersion(raw: unknown): CniVersion {
  const v = typeof raw === "object" && raw !== null ? (raw as Record<string, unknown>)["cniVersion"] : undefined;
  if (v === undefined || v === null || v === "") return DEFAULT_VERSION;
  if (typeof v !== "string") {
    throw new CniError(ErrorCode.DecodingFailure, `cniVersion: ${quoteForeign(JSON.stringify(v) ?? String(v))} is not a string`);
  }
  if (!isSupportedVersion(v)) {
    throw new CniError(
      ErrorCode.IncompatibleVersion,
      "incompatible CNI versions",
      `config is ${quoteForeign(v, 40)}, plugin supports [${SUPPORTED_VERSIONS.join(" ")}]`,
    );
  }
  return v;
}

/** The lowest config version at which a command exists. */
export const MIN_VERSION_FOR: Record<string, CniVersion> = {
  CHECK: "0.4.0",
  GC: "1.1.0",
  STATUS: "1.1.0",
};

export function assertCommandAllowed(command: string, version: string): void {
  const min = MIN_VERSION_FOR[command];
  if (min !== undefined && !versionAtLeast(version, min)) {
    throw new CniError(
      ErrorCode.IncompatibleVersion,
      `config version does not allow ${command}`,
      `${command} needs cniVersion ${min} or later; the config has ${version}`,
    );
  }
}

/**
 * A string that can stand as a cniVersion in what tether writes (an echo in VERSION, an error's
 * cniVersion): dotted numbers of a sane length. Anything else is foreign bytes, not echoed.
 */
export function isVersionShaped(v: unknown): v is string {
  return typeof v === "string" && v.length <= 32 && /^\d+(\.\d+){0,3}$/.test(v);
}

export function versionInfo(cniVersion: string): { cniVersion: string; supportedVersions: string[] } {
  return { cniVersion, supportedVersions: [...SUPPORTED_VERSIONS] };
}

/** VERSION's output: it echoes the input's cniVersion (spec), or the latest when there is none to echo. */
export function versionReply(stdin: Buffer | undefined): string {
  let version: string = LATEST_VERSION;
  if (stdin && stdin.length > 0) {
    try {
      const v = (JSON.parse(stdin.toString("utf8")) as Record<string, unknown>)["cniVersion"];
      if (isVersionShaped(v)) version = v;
    } catch {
      // not JSON: answer with our latest
    }
  }
  return JSON.stringify(versionInfo(version));
}
