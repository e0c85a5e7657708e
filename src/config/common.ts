/** Shared zod building blocks and the one formatter that turns zod issues into CNI error text. */
import { isIPv4, isIPv6 } from "node:net";
import { z } from "zod";
import { CniError, ErrorCode } from "../cni/errors";

export function isIp(text: string): boolean {
  return isIPv4(text) || isIPv6(text);
}

/** "a.b.c/len" or "x::y/len" with a prefix length valid for the family. */
export function isCidr(text: string): boolean {
  const slash = text.indexOf("/");
  if (slash < 0) return false;
  const ip = text.slice(0, slash);
  const len = text.slice(slash + 1);
  if (!/^\d{1,3}$/.test(len)) return false;
  const n = Number(len);
  if (isIPv4(ip)) return n <= 32;
  if (isIPv6(ip)) return n <= 128;
  return false;
}

const show = (input: unknown): string => JSON.stringify(input) ?? String(input);

export const IpAddress = z.string().refine(isIp, { error: (iss) => `${show(iss.input)} is not an IP address` });
export const Cidr = z.string().refine(isCidr, { error: (iss) => `${show(iss.input)} is not a CIDR` });
/** An address with or without a prefix length ("10.1.2.3" or "10.1.2.3/24"). */
export const IpOrCidr = z
  .string()
  .refine((s) => isIp(s) || isCidr(s), { error: (iss) => `${show(iss.input)} is not an IP address or CIDR` });
export const Mac = z
  .string()
  .refine((s) => /^[0-9a-fA-F]{2}(:[0-9a-fA-F]{2}){5}$/.test(s), {
    error: (iss) => `${show(iss.input)} is not a MAC address (aa:bb:cc:dd:ee:ff)`,
  });

/** libcni accepts these booleans as JSON booleans or the strings "true"/"false". */
export const LooseBool = z.union([z.boolean(), z.enum(["true", "false"]).transform((s) => s === "true")]);

export const RouteSchema = z.looseObject({
  dst: Cidr,
  gw: IpAddress.optional(),
  mtu: z.number().int().nonnegative().optional(),
  advmss: z.number().int().nonnegative().optional(),
  priority: z.number().int().nonnegative().optional(),
  table: z.number().int().nonnegative().optional(),
  scope: z.number().int().min(0).max(255).optional(),
});

export const DnsSchema = z.looseObject({
  nameservers: z.array(z.string()).optional(),
  domain: z.string().optional(),
  search: z.array(z.string()).optional(),
  options: z.array(z.string()).optional(),
});

/** `a.b[0].c` from a zod issue path. */
export function formatPath(path: readonly PropertyKey[], prefix = ""): string {
  let out = prefix;
  for (const key of path) {
    if (typeof key === "number") out += `[${key}]`;
    else out += out === "" ? String(key) : `.${String(key)}`;
  }
  return out === "" ? "(config)" : out;
}

function describeIssue(issue: z.core.$ZodIssue, prefix: string): string {
  return `${formatPath(issue.path, prefix)}: ${issue.message}`;
}

/**
 * Parse with a schema; on failure throw a CniError (code 7 unless given) whose message names the first
 * offending field and whose details list every issue.
 */
export function parseWith<S extends z.ZodType>(
  schema: S,
  value: unknown,
  opts: { prefix?: string; code?: number } = {},
): z.output<S> {
  const parsed = schema.safeParse(value);
  if (parsed.success) return parsed.data;
  const prefix = opts.prefix ?? "";
  const issues = parsed.error.issues.map((i) => describeIssue(i, prefix));
  throw new CniError(
    opts.code ?? ErrorCode.InvalidConfig,
    issues[0] ?? "invalid configuration",
    issues.length > 1 ? issues.join("; ") : undefined,
  );
}

/** A config error about one field, for checks zod cannot express (overlaps, cross-field rules). */
export function configError(path: string, what: string): CniError {
  return new CniError(ErrorCode.InvalidConfig, `${path}: ${what}`);
}
