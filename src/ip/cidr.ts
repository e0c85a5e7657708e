/** CIDR text helpers: an address with its prefix length, the subnet it lies in, its default gateway. */
import { ConfigError } from "../config/errors";
import { formatIp, networkOf, parseIp, withValue } from "../ip/ip";

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
