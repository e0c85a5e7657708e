/** What the rules are made from: the attachment's addresses, validated before they reach rule text. */
import { formatIp, readGoCidr, readIpMaybeCidr } from "../ip/ip";

/** One container address and its subnet ("10.88.0.5" in "10.88.0.0/24"). */
export interface MasqSource {
  family: 4 | 6;
  address: string;
  subnet: string;
}

/** Masquerade sources of a list of CIDRs ("10.88.0.5/24"); throws on anything that is not one. */
export function masqueradeSources(cidrs: readonly string[]): MasqSource[] {
  return cidrs.map((cidr) => {
    // Go's rules, as the IPAM result was read (src/attach/result.ts).
    const c = readGoCidr(cidr);
    if (c === undefined) throw new Error(`${JSON.stringify(cidr)} is not an address with a prefix length`);
    return { family: c.ip.family, address: formatIp(c.ip), subnet: `${formatIp(c.network)}/${c.prefix}` };
  });
}

export const MULTICAST = { 4: "224.0.0.0/4", 6: "ff00::/8" } as const;

const IFNAME = /^[A-Za-z0-9_.-]{1,15}$/;
const MAC = /^[0-9a-f]{2}(:[0-9a-f]{2}){5}$/;

/** An interface name safe to put in rule text. */
export function checkedIfname(name: string): string {
  if (!IFNAME.test(name)) throw new Error(`${JSON.stringify(name)} is not an interface name`);
  return name;
}

/** A MAC, lower case, safe to put in rule text. */
export function checkedMac(mac: string): string {
  const m = mac.toLowerCase();
  if (!MAC.test(m)) throw new Error(`${JSON.stringify(mac)} is not a MAC address`);
  return m;
}

/** A bare address (prefix length dropped), normalised, safe to put in rule text. */
export function checkedAddress(ipOrCidr: string): { family: 4 | 6; address: string } {
  const parsed = readIpMaybeCidr(ipOrCidr);
  if (!parsed) throw new Error(`${JSON.stringify(ipOrCidr)} is not an IP address`);
  return { family: parsed.family, address: formatIp(parsed) };
}
