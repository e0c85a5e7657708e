/** IP addresses and prefixes as the kernel wants them: raw network-order bytes. */
import { constants as osConstants } from "node:os";
import { type CidrValue, type Ip, bytesToIp, cidrText, formatIp as ipText, ipToBytes, parseIpExact, readCidr } from "../ip/ip";
import { NetlinkError } from "./errors";

export type IpFamily = 4 | 6;

export const AF_INET = 2;
export const AF_INET6 = 10;

export interface ParsedIp {
  family: IpFamily;
  bytes: Buffer;
}

export interface ParsedCidr extends ParsedIp {
  prefixLen: number;
}

export function afOf(family: IpFamily): number {
  return family === 4 ? AF_INET : AF_INET6;
}

export function familyOfAf(af: number): IpFamily | undefined {
  return af === AF_INET ? 4 : af === AF_INET6 ? 6 : undefined;
}

/** An address given as text (callers of src/netlink) or as a src/ip value (the Kernel port), for messages. */
export function addressText(ip: string | Ip): string {
  return typeof ip === "string" ? ip : ipText(ip);
}

export function prefixText(cidr: string | CidrValue): string {
  return typeof cidr === "string" ? cidr : cidrText(cidr);
}

/** Text is parsed here (NetlinkError EINVAL when invalid); a src/ip value is turned into bytes. */
export function parseIp(op: string, text: string | Ip): ParsedIp {
  if (typeof text !== "string") return { family: text.family, bytes: ipToBytes(text) };
  const ip = parseIpExact(text);
  if (ip === undefined) throw new NetlinkError(op, osConstants.errno.EINVAL, `invalid IP address "${text}"`);
  return { family: ip.family, bytes: ipToBytes(ip) };
}

/** "10.1.2.3/24" (or a src/ip CidrValue) → address bytes and prefix length (the host bits are kept). */
export function parseCidr(op: string, text: string | CidrValue): ParsedCidr {
  if (typeof text !== "string") return { family: text.ip.family, bytes: ipToBytes(text.ip), prefixLen: text.prefix };
  const c = readCidr(text, true);
  if (c === "no-prefix") throw new NetlinkError(op, osConstants.errno.EINVAL, `"${text}" has no prefix length`);
  if (c === "bad-ip") {
    throw new NetlinkError(op, osConstants.errno.EINVAL, `invalid IP address "${text.slice(0, text.indexOf("/"))}"`);
  }
  if (typeof c === "string") throw new NetlinkError(op, osConstants.errno.EINVAL, `invalid prefix length in "${text}"`);
  return { family: c.ip.family, bytes: ipToBytes(c.ip), prefixLen: c.prefix };
}

/** The kernel's 4 or 16 bytes as a src/ip value (IPv6 kept as IPv6, mapped or not). */
export function ipOfBytes(bytes: Uint8Array): Ip {
  const ip = bytesToIp(bytes);
  if (ip === undefined) throw new NetlinkError("read address", osConstants.errno.EINVAL, `an address of ${bytes.length} bytes`);
  return ip;
}

/** The IPv4 broadcast address of `ip`/`prefixLen` (all host bits set). */
export function ipv4Broadcast(ip: Buffer, prefixLen: number): Buffer {
  const value = ip.readUInt32BE(0);
  const hostMask = prefixLen === 0 ? 0xffffffff : (1 << (32 - prefixLen)) - 1;
  const out = Buffer.alloc(4);
  out.writeUInt32BE((value | hostMask) >>> 0, 0);
  return out;
}

/** The network address: `ip` with its host bits cleared. */
export function networkOf(ip: Buffer, prefixLen: number): Buffer {
  const out = Buffer.from(ip);
  for (let i = 0; i < out.length; i++) {
    const bits = Math.max(0, Math.min(8, prefixLen - i * 8));
    out[i] = (out[i] ?? 0) & ((0xff << (8 - bits)) & 0xff);
  }
  return out;
}

/** Bytes → text; IPv6 in the RFC 5952 form `ip` prints (longest zero run compressed). */
export function formatIp(bytes: Uint8Array): string {
  if (bytes.length === 4) return Array.from(bytes).join(".");
  const groups: number[] = [];
  for (let i = 0; i < 16; i += 2) groups.push(((bytes[i] ?? 0) << 8) | (bytes[i + 1] ?? 0));
  const [start, len] = longestZeroRun(groups);
  // Like inet_ntop: IPv4-mapped (::ffff:a.b.c.d) and IPv4-compatible (::a.b.c.d) keep a dotted tail.
  if (start === 0 && (len === 6 || (len === 5 && groups[5] === 0xffff))) {
    return `::${len === 5 ? "ffff:" : ""}${Array.from(bytes.subarray(12)).join(".")}`;
  }
  const hex = groups.map((g) => g.toString(16));
  if (len < 2) return hex.join(":");
  return `${hex.slice(0, start).join(":")}::${hex.slice(start + len).join(":")}`;
}

function longestZeroRun(groups: number[]): [number, number] {
  let best: [number, number] = [0, 0];
  let start = -1;
  for (let i = 0; i <= groups.length; i++) {
    if (i < groups.length && groups[i] === 0) {
      if (start === -1) start = i;
    } else if (start !== -1) {
      if (i - start > best[1]) best = [start, i - start];
      start = -1;
    }
  }
  return best;
}
