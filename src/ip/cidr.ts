/**
 * CIDR text as Go's net.ParseCIDR reads it (the reference plugins' parser: tether, a drop-in, accepts
 * and refuses what they do), and value helpers: the subnet of an address, its default gateway.
 */
import { ConfigError } from "../config/errors";
import { type CidrValue, type Ip, bitsOf, cidrOf, parseIp, parseIpExact, withValue } from "../ip/ip";

/**
 * "address/length" by Go's rules: an address without zone (IPv4 dotted quad without leading zeros,
 * IPv6 groups of 1-4 hex digits, "::" at most once, a dotted tail), then one or more ASCII digits
 * (leading zeros allowed, "/024" is 24; no sign, no space) at most the bits of the address's form.
 * An IPv4-mapped address (::ffff:a.b.c.d, length up to 128) is IPv4, of length n-96 (0 under 96),
 * as Go's IPNet prints it. undefined when Go would refuse the text.
 */
export function readGoCidr(text: string): CidrValue | undefined {
  const slash = text.indexOf("/");
  if (slash < 0) return undefined;
  const ip = parseIpExact(text.slice(0, slash));
  const lenText = text.slice(slash + 1);
  if (ip === undefined || !/^[0-9]+$/.test(lenText)) return undefined;
  const n = Number(lenText);
  if (n > bitsOf(ip.family)) return undefined;
  if (ip.family === 6 && ip.value >> 32n === 0xffffn) {
    return { ...cidrOf(withValue(4, ip.value & 0xffffffffn), Math.max(0, n - 96)), mapped: true };
  }
  return cidrOf(ip, n);
}

/** A CIDR of the network configuration or of an IPAM result, parsed once (readGoCidr). */
export function parseCidr(text: string): CidrValue {
  const c = readGoCidr(text);
  if (c === undefined) throw new ConfigError(undefined, `${JSON.stringify(text)} is not a CIDR`);
  return c;
}

/** An address (a gateway) of the network configuration or of an IPAM result, parsed once. */
export function parseAddress(text: string): Ip {
  const ip = parseIp(text);
  if (ip === undefined) throw new ConfigError(undefined, `${JSON.stringify(text)} is not an IP address`);
  return ip;
}

/** The subnet of an address (10.1.2.3/16 -> 10.1.0.0/16). */
export function subnetOf(c: CidrValue): CidrValue {
  return cidrOf(c.network, c.prefix);
}

/** The host-length prefix of an address (10.1.2.3 -> 10.1.2.3/32). */
export function hostPrefix(ip: Ip): CidrValue {
  return cidrOf(ip, bitsOf(ip.family));
}

/** network+1, the gateway a subnet gets when IPAM names none (as the reference bridge does). */
export function defaultGateway(c: CidrValue): Ip {
  return withValue(c.network.family, c.network.value + 1n);
}
