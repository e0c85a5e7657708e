/** Key rewriting that both checks of the ipam section apply before validating (zod-free). */

function isRecord(v: unknown): v is Record<string, unknown> {
  return typeof v === "object" && v !== null && !Array.isArray(v);
}

/**
 * Rename keys that match one of `names` case-insensitively (containerd sends `Subnet`, `RangeStart`:
 * Go matches JSON keys that way). An exact key wins over a differently-cased one, as in Go.
 */
export function canonicalKeys(value: unknown, names: readonly string[]): unknown {
  if (!isRecord(value)) return value;
  const out: Record<string, unknown> = {};
  for (const [key, v] of Object.entries(value)) {
    const canon = names.find((n) => n.toLowerCase() === key.toLowerCase());
    if (canon === undefined) out[key] = v;
    else if (key === canon || !(canon in value)) out[canon] = v;
  }
  return out;
}

/** Go decodes an empty string into a nil net.IP; containerd sends "" for unset range fields. */
export function dropEmpty(value: unknown, keys: readonly string[]): unknown {
  if (!isRecord(value)) return value;
  return Object.fromEntries(Object.entries(value).filter(([k, v]) => !(v === "" && keys.includes(k))));
}

/** Both steps, as the ipam schemas' `ci` wrapper applies them. */
export function canonicalized(value: unknown, names: readonly string[], empties: readonly string[]): unknown {
  return dropEmpty(canonicalKeys(value, names), empties);
}

export const RANGE_KEYS = ["subnet", "rangeStart", "rangeEnd", "gateway"] as const;
export const OPTIONAL_RANGE_KEYS = ["rangeStart", "rangeEnd", "gateway"] as const;
export const IPAM_KEYS = ["type", "ranges", "routes", "dataDir", "resolvConf", "addresses", "dns", ...RANGE_KEYS] as const;
export const IPAM_EMPTIES = [...OPTIONAL_RANGE_KEYS, "dataDir", "resolvConf"] as const;
