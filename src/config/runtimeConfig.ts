/**
 * runtimeConfig arrives with the capability keys runtimes chose: containerd serialises Go structs
 * without JSON tags, so keys come capitalised (HostPort, Servers, Subnet...). Every known key is
 * matched case-insensitively and rewritten to its canonical spelling; unknown keys pass through.
 */
const CANONICAL = [
  // capability names
  "portMappings", "ipRanges", "bandwidth", "dns", "ips", "mac", "infinibandGUID", "deviceID", "aliases", "cgroupPath",
  // nested fields
  "hostPort", "containerPort", "protocol", "hostIP",
  "subnet", "rangeStart", "rangeEnd", "gateway",
  "ingressRate", "ingressBurst", "egressRate", "egressBurst",
  "servers", "searches", "options",
] as const;

const byLower = new Map<string, string>(CANONICAL.map((k) => [k.toLowerCase(), k]));

function canonicalKey(key: string): string {
  return byLower.get(key.toLowerCase()) ?? key;
}

/** Capabilities whose values are Go structs (capitalised field names); the rest are left as sent. */
const STRUCTURED = new Set(["portMappings", "ipRanges", "bandwidth", "dns"]);

function normalizeDeep(value: unknown): unknown {
  if (Array.isArray(value)) return value.map(normalizeDeep);
  if (typeof value !== "object" || value === null) return value;
  const out: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(value)) out[canonicalKey(k)] = normalizeDeep(v);
  return out;
}

/**
 * Canonical capability names at the top level, canonical field names inside the structured
 * capabilities. Other values (pod annotations, unknown capabilities) are user data: their keys are
 * kept exactly as sent.
 */
export function normalizeKeys(value: unknown): unknown {
  if (typeof value !== "object" || value === null || Array.isArray(value)) return value;
  const out: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(value)) {
    const key = canonicalKey(k);
    out[key] = STRUCTURED.has(key) ? normalizeDeep(v) : v;
  }
  return out;
}
