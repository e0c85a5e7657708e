/**
 * Addresses and CIDRs of the network configuration and of IPAM results, parsed once (Go's rules,
 * readGoCidr), and value helpers: the subnet of an address, its host prefix, its default gateway.
 */
import { ConfigError } from "../config/errors";
import { type CidrValue, type Ip, bitsOf, cidrOf, cidrText, formatIp, parseIp, readGoCidr, withValue } from "../ip/ip";

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

/**
 * A configured CIDR as the reference plugins print it in their results (Go's IPNet.String of
 * net.ParseCIDR's address and mask): canonical text, the address as written, and an IPv4-mapped
 * address as IPv4 with the mask's last 32 bits ("::ffff:10.0.0.5/120" -> "10.0.0.5/24").
 */
export function goCidrText(c: CidrValue): string {
  if (!c.mapped) return cidrText(c);
  return `${formatIp(withValue(4, c.ip.value & 0xffffffffn))}/${Math.max(0, c.prefix - 96)}`;
}

/** Configured CIDR text as the reference plugins print it (goCidrText); text Go refuses stays as it is. */
export function goCidrTextOf(text: string): string {
  const c = readGoCidr(text);
  return c === undefined ? text : goCidrText(c);
}

/** Configured address text as Go prints it (canonical, IPv4-mapped as IPv4); text that is no address stays. */
export function goIpTextOf(text: string): string {
  const ip = parseIp(text);
  return ip === undefined ? text : formatIp(ip);
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
