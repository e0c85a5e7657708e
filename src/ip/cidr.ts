/** CIDR text helpers: an address with its prefix length, the subnet it lies in, its default gateway. */
import { ConfigError } from "../config/errors";
import { type Ip, bitsOf, formatIp, hostMask, networkOf, parseIp, parseIpExact, withValue } from "../ip/ip";

export interface Cidr {
  ip: string;
  prefix: number;
  family: 4 | 6;
}

export function parseCidr(text: string): Cidr {
  const [ip, len] = text.split("/");
  const parsed = parseIp(ip ?? "");
  if (!parsed) throw new ConfigError(undefined, `${JSON.stringify(text)} is not a CIDR`);
  const bits = parsed.family === 4 ? 32 : 128;
  const prefix = len === undefined ? bits : Number(len);
  return { ip: formatIp(parsed), prefix, family: parsed.family };
}

export function familyOf(ipOrCidr: string): 4 | 6 {
  return parseCidr(ipOrCidr).family;
}

/** The subnet of an address ("10.1.2.3/16" -> "10.1.0.0/16"). */
export function subnetOf(cidr: string): string {
  const c = parseCidr(cidr);
  return `${formatIp(networkOf(parseIp(c.ip)!, c.prefix))}/${c.prefix}`;
}

/** network+1, the gateway a subnet gets when IPAM names none (as the reference bridge does). */
export function defaultGateway(cidr: string): string {
  const c = parseCidr(cidr);
  const net = networkOf(parseIp(c.ip)!, c.prefix);
  return formatIp(withValue(net.family, net.value + 1n));
}

/** A parsed "address/length": the address as written (host bits kept), its network and last address. */
export interface CidrValue {
  readonly ip: Ip;
  readonly prefix: number;
  readonly network: Ip;
  /** The last address (network | host bits), for range comparisons. */
  readonly last: bigint;
  /** The address was written IPv4-mapped (::ffff:a.b.c.d); parsed as IPv4 unless `exact`. */
  readonly mapped: boolean;
}

/** Why a text is not "address/length"; each caller words its own message (tests match them). */
export type CidrProblem = "no-prefix" | "bad-ip" | "bad-prefix" | "prefix-too-long";

/**
 * The one parser of "address/length" text. The length is 1-3 digits, at most the family's bits.
 * `exact` keeps an IPv4-mapped address IPv6 (the kernel's view); otherwise it becomes IPv4 (Go's).
 */
export function readCidr(text: string, exact = false): CidrValue | CidrProblem {
  const slash = text.indexOf("/");
  if (slash < 0) return "no-prefix";
  const ipText = text.slice(0, slash);
  const ip = exact ? parseIpExact(ipText) : parseIp(ipText);
  if (ip === undefined) return "bad-ip";
  const lenText = text.slice(slash + 1);
  if (!/^\d{1,3}$/.test(lenText)) return "bad-prefix";
  const prefix = Number(lenText);
  if (prefix > bitsOf(ip.family)) return "prefix-too-long";
  const network = networkOf(ip, prefix);
  return { ip, prefix, network, last: network.value | hostMask(ip.family, prefix), mapped: exact ? ip.family === 6 && ip.value >> 32n === 0xffffn : ip.family === 4 && ipText.includes(":") };
}

export function isCidrValue(r: CidrValue | CidrProblem): r is CidrValue {
  return typeof r !== "string";
}
