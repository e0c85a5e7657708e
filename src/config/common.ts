/**
 * What the configuration checks share without zod: the value tests, how a value shows in a message,
 * field paths, the config error. The zod schemas (src/config/schemas) and the quick checks that spare
 * the common path from loading them (src/config/quick) both build on these.
 */
import { ConfigError } from "./errors";
import { isCidr, isIp } from "../ip/text";
import { quoteForeign } from "../util/quote";

export { isCidr, isIp };

/** A configuration value in a message: quoted, control bytes escaped, cut (a 50 KB value is not echoed whole). */
export const show = (input: unknown): string => (typeof input === "string" ? quoteForeign(input) : quoteForeign(JSON.stringify(input) ?? String(input)));

/** An address with or without a prefix length ("10.1.2.3" or "10.1.2.3/24"). */
export const isIpOrCidr = (s: string): boolean => isIp(s) || isCidr(s);

const MAC_RE = /^[0-9a-fA-F]{2}(:[0-9a-fA-F]{2}){5}$/;
export const isMac = (s: string): boolean => MAC_RE.test(s);

export const MAX_U32 = 4294967295;

/** The values `log.level` takes. */
export const LOG_LEVELS = ["trace", "debug", "info", "warn", "error", "fatal", "silent"] as const;

/** `a.b[0].c` from a zod issue path. */
export function formatPath(path: readonly PropertyKey[], prefix = ""): string {
  let out = prefix;
  for (const key of path) {
    if (typeof key === "number") out += `[${key}]`;
    else out += out === "" ? String(key) : `.${String(key)}`;
  }
  return out === "" ? "(config)" : out;
}

/** A config error about one field, for checks zod cannot express (overlaps, cross-field rules). */
export function configError(path: string, what: string): ConfigError {
  return new ConfigError(path, what);
}
