/**
 * Shared zod building blocks and the one formatter that turns zod issues into CNI error text. Loaded
 * only when a quick check (src/config/quick) does not accept a config: zod's messages are the contract.
 */
import * as z from "zod/mini";
import en from "zod/v4/locales/en.js";
import { ConfigError } from "../errors";
import { MAX_U32, formatPath, isCidr, isIp, isIpOrCidr, isMac, show } from "../common";

// zod/mini, imported by name so the bundle keeps only what is used (the full zod with every locale
// costs each CNI call tens of milliseconds); English messages only. jitless: a process parses one
// config, so compiling object parsers with new Function() is pure cost.
z.config({ ...en(), jitless: true });

/** A string that satisfies `test`, or the message `what(input)`. */
export function stringWhere(test: (s: string) => boolean, what: (input: unknown) => string): z.ZodMiniString {
  return z.string().check(z.refine(test, { error: (iss) => what(iss.input) }));
}

/** A whole number in [min, max]. */
export function intIn(min: number, max: number): z.ZodMiniNumber {
  return z.number().check(z.int(), z.gte(min), z.lte(max));
}

export const IpAddress = stringWhere(isIp, (input) => `${show(input)} is not an IP address`);
export const Cidr = stringWhere(isCidr, (input) => `${show(input)} is not a CIDR`);
/** An address with or without a prefix length ("10.1.2.3" or "10.1.2.3/24"). */
export const IpOrCidr = stringWhere(isIpOrCidr, (input) => `${show(input)} is not an IP address or CIDR`);
export const Mac = stringWhere(isMac, (input) => `${show(input)} is not a MAC address (aa:bb:cc:dd:ee:ff)`);

/** libcni accepts these booleans as JSON booleans or the strings "true"/"false". */
export const LooseBool = z.union([z.boolean(), z.pipe(z.enum(["true", "false"]), z.transform((s) => s === "true"))]);

export const RouteSchema = z.looseObject({
  dst: Cidr,
  gw: z.optional(IpAddress),
  mtu: z.optional(intIn(0, MAX_U32)),
  advmss: z.optional(intIn(0, MAX_U32)),
  priority: z.optional(intIn(0, MAX_U32)),
  table: z.optional(intIn(0, MAX_U32)),
  scope: z.optional(intIn(0, 255)),
});

export const DnsSchema = z.looseObject({
  nameservers: z.optional(z.array(z.string())),
  domain: z.optional(z.string()),
  search: z.optional(z.array(z.string())),
  options: z.optional(z.array(z.string())),
});

function describeIssue(issue: z.core.$ZodIssue, prefix: string): string {
  return `${formatPath(issue.path, prefix)}: ${issue.message}`;
}

/**
 * Parse with a schema; on failure throw a ConfigError whose message names the first offending field
 * and whose details list every issue.
 */
export function parseWith<S extends z.ZodMiniType>(
  schema: S,
  value: unknown,
  opts: { prefix?: string } = {},
): z.output<S> {
  const parsed = schema.safeParse(value);
  if (parsed.success) return parsed.data;
  const prefix = opts.prefix ?? "";
  const issues = parsed.error.issues.map((i) => describeIssue(i, prefix));
  const first = parsed.error.issues[0];
  const details = issues.length > 1 ? issues.join("; ") : undefined;
  if (first === undefined) throw new ConfigError(undefined, "invalid configuration", { details });
  throw new ConfigError(formatPath(first.path, prefix), first.message, { details });
}
