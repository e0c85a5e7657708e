/**
 * IP addresses as (family, bigint) pairs: parsing, Go-compatible text form, prefix arithmetic.
 * Pure (its one import is the text rules of ./text), because every CNI call is a fresh process and module load time counts.
 */

import { GO_PREFIX_LENGTH } from "./text";

export type Family = 4 | 6;

export interface Ip {
  readonly family: Family;
  readonly value: bigint;
}

export function bitsOf(family: Family): number {
  return family === 4 ? 32 : 128;
}

function parseV4(text: string): bigint | undefined {
  const parts = text.split(".");
  if (parts.length !== 4) return undefined;
  let value = 0n;
  for (const part of parts) {
    // Go and Node both refuse leading zeros (ambiguous octal).
    if (!/^(0|[1-9]\d{0,2})$/.test(part)) return undefined;
    const n = Number(part);
    if (n > 255) return undefined;
    value = (value << 8n) | BigInt(n);
  }
  return value;
}

function parseGroups(text: string): bigint[] | undefined {
  if (text === "") return [];
  const groups: bigint[] = [];
  for (const g of text.split(":")) {
    if (!/^[0-9a-fA-F]{1,4}$/.test(g)) return undefined;
    groups.push(BigInt(`0x${g}`));
  }
  return groups;
}

function parseV6(text: string): bigint | undefined {
  let body = text;
  let tail: bigint[] = [];
  // An embedded dotted quad at the end counts as two groups.
  const lastColon = body.lastIndexOf(":");
  if (body.indexOf(".", lastColon) >= 0) {
    const v4 = parseV4(body.slice(lastColon + 1));
    if (v4 === undefined) return undefined;
    tail = [v4 >> 16n, v4 & 0xffffn];
    body = body.slice(0, lastColon + 1);
    if (!body.endsWith("::")) body = body.slice(0, -1);
  }
  let groups: bigint[];
  const dbl = body.indexOf("::");
  if (dbl >= 0) {
    if (body.indexOf("::", dbl + 1) >= 0) return undefined;
    const head = parseGroups(body.slice(0, dbl));
    const rest = parseGroups(body.slice(dbl + 2));
    if (head === undefined || rest === undefined) return undefined;
    const missing = 8 - head.length - rest.length - tail.length;
    if (missing < 1) return undefined;
    groups = [...head, ...new Array<bigint>(missing).fill(0n), ...rest, ...tail];
  } else {
    const all = parseGroups(body);
    if (all === undefined) return undefined;
    groups = [...all, ...tail];
  }
  if (groups.length !== 8) return undefined;
  let value = 0n;
  for (const g of groups) value = (value << 16n) | g;
  return value;
}

/**
 * Parse an address. Like Go's net.IP canonicalisation, an IPv4-mapped IPv6 address (::ffff:a.b.c.d)
 * becomes IPv4. Zones ("%eth0") are refused.
 */
export function parseIp(text: string): Ip | undefined {
  if (text.includes(":")) {
    const value = parseV6(text);
    if (value === undefined) return undefined;
    if (value >> 32n === 0xffffn) return { family: 4, value: value & 0xffffffffn };
    return { family: 6, value };
  }
  const value = parseV4(text);
  return value === undefined ? undefined : { family: 4, value };
}

/**
 * Parse an address as written: an IPv4-mapped IPv6 address stays IPv6 (what the kernel is given when
 * a config says "::ffff:a.b.c.d"). Same accepted text as parseIp.
 */
export function parseIpExact(text: string): Ip | undefined {
  const value = text.includes(":") ? parseV6(text) : parseV4(text);
  if (value === undefined) return undefined;
  return { family: text.includes(":") ? 6 : 4, value };
}

/** Network-order bytes (4 or 16) of an address; for src/netlink, the only place bytes are wanted. */
export function ipToBytes(ip: Ip): Buffer {
  if (ip.family === 4) {
    const out = Buffer.allocUnsafe(4);
    out.writeUInt32BE(Number(ip.value), 0);
    return out;
  }
  // One hex conversion is cheaper than sixteen bigint shifts.
  return Buffer.from(ip.value.toString(16).padStart(32, "0"), "hex");
}

/** The address in 4 or 16 network-order bytes (IPv6 kept as IPv6, mapped or not); undefined for other lengths. */
export function bytesToIp(bytes: Uint8Array): Ip | undefined {
  if (bytes.length === 4) {
    return { family: 4, value: BigInt((((bytes[0] ?? 0) << 24) | ((bytes[1] ?? 0) << 16) | ((bytes[2] ?? 0) << 8) | (bytes[3] ?? 0)) >>> 0) };
  }
  if (bytes.length !== 16) return undefined;
  return { family: 6, value: BigInt(`0x${Buffer.from(bytes.buffer, bytes.byteOffset, 16).toString("hex")}`) };
}

/** True when the text is written as an IPv4-mapped IPv6 address (which parseIp turns into IPv4). */
export function isV4Mapped(text: string): boolean {
  if (!text.includes(":")) return false;
  const value = parseV6(text);
  return value !== undefined && value >> 32n === 0xffffn;
}

function formatV4(value: bigint): string {
  const n = Number(value);
  return `${n >>> 24}.${(n >>> 16) & 255}.${(n >>> 8) & 255}.${n & 255}`;
}

/** RFC 5952 text, as Go's net.IP.String(): lower case, the longest run (>= 2) of zero groups as "::". */
function formatV6(value: bigint): string {
  const groups: number[] = [];
  for (let i = 7; i >= 0; i--) groups.push(Number((value >> BigInt(i * 16)) & 0xffffn));
  let bestStart = -1;
  let bestLen = 0;
  for (let i = 0; i < 8; ) {
    if (groups[i] !== 0) {
      i++;
      continue;
    }
    let j = i;
    while (j < 8 && groups[j] === 0) j++;
    if (j - i > bestLen) {
      bestStart = i;
      bestLen = j - i;
    }
    i = j;
  }
  const hex = (gs: number[]): string => gs.map((g) => g.toString(16)).join(":");
  if (bestLen < 2) return hex(groups);
  return `${hex(groups.slice(0, bestStart))}::${hex(groups.slice(bestStart + bestLen))}`;
}

/** Canonical text: the host-local file name for the address. */
export function formatIp(ip: Ip): string {
  return ip.family === 4 ? formatV4(ip.value) : formatV6(ip.value);
}

export function ipEquals(a: Ip, b: Ip): boolean {
  return a.family === b.family && a.value === b.value;
}

export function withValue(family: Family, value: bigint): Ip {
  return { family, value };
}

/** Host-bits mask for a prefix length. */
export function hostMask(family: Family, prefix: number): bigint {
  return (1n << BigInt(bitsOf(family) - prefix)) - 1n;
}

export function networkOf(ip: Ip, prefix: number): Ip {
  return { family: ip.family, value: ip.value & ~hostMask(ip.family, prefix) };
}

/** The all-ones address of the subnet (IPv4 broadcast). */
export function lastOf(ip: Ip, prefix: number): Ip {
  return { family: ip.family, value: ip.value | hostMask(ip.family, prefix) };
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
 * The one parser of "address/length" text. The length is 1-3 digits (or what `lengthRule` allows),
 * at most the family's bits.
 * `exact` keeps an IPv4-mapped address IPv6 (the kernel's view); otherwise it becomes IPv4 (Go's).
 */
export function readCidr(text: string, exact = false, lengthRule: RegExp = LENGTH_1_TO_3): CidrValue | CidrProblem {
  const slash = text.indexOf("/");
  if (slash < 0) return "no-prefix";
  const ipText = text.slice(0, slash);
  const ip = exact ? parseIpExact(ipText) : parseIp(ipText);
  if (ip === undefined) return "bad-ip";
  const lenText = text.slice(slash + 1);
  if (!lengthRule.test(lenText)) return "bad-prefix";
  const prefix = Number(lenText);
  if (prefix > bitsOf(ip.family)) return "prefix-too-long";
  return { ...cidrOf(ip, prefix), mapped: exact ? ip.family === 6 && ip.value >> 32n === 0xffffn : ip.family === 4 && ipText.includes(":") };
}

const LENGTH_1_TO_3 = /^\d{1,3}$/;

export function isCidrValue(r: CidrValue | CidrProblem): r is CidrValue {
  return typeof r !== "string";
}

/**
 * "address/length" by Go's rules (net.ParseCIDR, the reference plugins' parser: tether, a drop-in,
 * accepts and refuses what they do): an address without zone (IPv4 dotted quad without leading zeros,
 * IPv6 groups of 1-4 hex digits, "::" at most once, a dotted tail), then one or more ASCII digits
 * (leading zeros allowed, "/024" is 24; no sign, no space) at most the bits of the address's form.
 * undefined when Go would refuse the text. An IPv4-mapped address (::ffff:a.b.c.d, its length
 * counting 128 bits as in Go) stays IPv6, `mapped`: Go itself has no one reading of it (its IPNet
 * prints a.b.c.d/(n-96), its netlink gives the kernel AF_INET with length n), and the kernel is
 * given it as written, as before (readCidr(text, true)).
 */
export function readGoCidr(text: string): CidrValue | undefined {
  const c = readCidr(text, true, GO_PREFIX_LENGTH);
  return isCidrValue(c) ? c : undefined;
}

/** The CidrValue of an address and a prefix length (no text involved): "gw/32", a route's subnet. */
export function cidrOf(ip: Ip, prefix: number): CidrValue {
  const network = networkOf(ip, prefix);
  return { ip, prefix, network, last: network.value | hostMask(ip.family, prefix), mapped: false };
}

/** The same address with the same prefix length. */
export function sameCidr(a: CidrValue, b: CidrValue): boolean {
  return a.prefix === b.prefix && ipEquals(a.ip, b.ip);
}

/** "address/length" with the address as written (host bits kept), in canonical text. */
export function cidrText(c: CidrValue): string {
  return `${formatIp(c.ip)}/${c.prefix}`;
}

/**
 * "10.0.0.5" or "10.0.0.5/24" -> the address (the length must be valid, and is dropped), as the
 * reference plugins' ip.ParseIP (net.ParseCIDR when there is a "/").
 */
export function readIpMaybeCidr(text: string): Ip | undefined {
  if (!text.includes("/")) return parseIp(text);
  const c = readGoCidr(text);
  // ::ffff:a.b.c.d is IPv4 here, as parseIp has it (Go's ip.ParseIP(...).ToIP()).
  return c === undefined ? undefined : c.mapped ? withValue(4, c.ip.value & 0xffffffffn) : c.ip;
}
