/** Interface addresses (RTM_NEWADDR / RTM_DELADDR / RTM_GETADDR). */
import { constants as osConstants } from "node:os";
import { NetlinkError, isErrno } from "./errors";
import { type CidrValue, cidrOf } from "../ip/ip";
import { type IpFamily, afOf, familyOfAf, formatIp, ipOfBytes, ipv4Broadcast, parseCidr, prefixText } from "./ip";
import { IFADDRMSG_LEN, type IfAddrMsg, ifaddrmsg, parseIfaddrmsg } from "./msg";
import { type Encoded, attrBytes, attrU32, parseAttrMap, readU32 } from "./nlattr";
import { NLM_F, RTM, type RawMessage, type Rtnl } from "./rtnl";

const IFA_ADDRESS = 1;
const IFA_LOCAL = 2;
const IFA_BROADCAST = 4;
const IFA_FLAGS = 8;

/** IFA_F_* address flags (linux/if_addr.h). */
export const IFA_F = {
  SECONDARY: 0x01,
  NODAD: 0x02,
  OPTIMISTIC: 0x04,
  DADFAILED: 0x08,
  HOMEADDRESS: 0x10,
  DEPRECATED: 0x20,
  TENTATIVE: 0x40,
  PERMANENT: 0x80,
  MANAGETEMPADDR: 0x100,
  NOPREFIXROUTE: 0x200,
} as const;

export interface AddressInfo {
  index: number;
  family: IpFamily;
  address: string;
  prefixLen: number;
  /** 0 global, 253 link, 254 host. */
  scope: number;
  /** IFA_F_* bits (see IFA_F). */
  flags: number;
}

export interface AddAddressOptions {
  /** IPv6 only: skip duplicate address detection (IFA_F_NODAD); the address is usable at once. */
  noDad?: boolean;
  /** No subnet route for the address (IFA_F_NOPREFIXROUTE): the caller routes the subnet itself. */
  noPrefixRoute?: boolean;
}

/** Add `cidr` ("10.1.2.3/24", "fd00::3/64") to link `index`; EEXIST when it is already there. */
export async function addAddress(rtnl: Rtnl, index: number, cidr: string | CidrValue, options: AddAddressOptions = {}): Promise<void> {
  const op = `RTM_NEWADDR ${prefixText(cidr)} #${index}`;
  const ip = parseCidr(op, cidr);
  const flags = (ip.family === 6 && options.noDad === true ? IFA_F.NODAD : 0) | (options.noPrefixRoute === true ? IFA_F.NOPREFIXROUTE : 0);
  // ifa_flags is 8 bits wide: flags above 0xff travel only in IFA_FLAGS.
  const header: IfAddrMsg = { family: afOf(ip.family), prefixLen: ip.prefixLen, flags: flags & 0xff, index };
  const flagsAttr = flags === 0 ? undefined : attrU32(IFA_FLAGS, flags);
  const attrs =
    ip.family === 4
      ? [attrBytes(IFA_LOCAL, ip.bytes), attrBytes(IFA_ADDRESS, ip.bytes), ip.prefixLen < 31 ? attrBytes(IFA_BROADCAST, ipv4Broadcast(ip.bytes, ip.prefixLen)) : undefined, flagsAttr]
      : [attrBytes(IFA_ADDRESS, ip.bytes), flagsAttr];
  await rtnl.request(op, RTM.NEWADDR, addressPayload(header, ...attrs), NLM_F.CREATE | NLM_F.EXCL);
}

/** Remove `cidr` from link `index`; false when the address (or the link) is not there. */
export async function deleteAddress(rtnl: Rtnl, index: number, cidr: string | CidrValue): Promise<boolean> {
  const op = `RTM_DELADDR ${prefixText(cidr)} #${index}`;
  const ip = parseCidr(op, cidr);
  const header: IfAddrMsg = { family: afOf(ip.family), prefixLen: ip.prefixLen, index };
  const attr = attrBytes(ip.family === 4 ? IFA_LOCAL : IFA_ADDRESS, ip.bytes);
  try {
    await rtnl.request(op, RTM.DELADDR, addressPayload(header, attr));
    return true;
  } catch (err) {
    if (isErrno(err, "EADDRNOTAVAIL") || isErrno(err, "ENODEV")) return false;
    throw err;
  }
}

/** Addresses of link `index` (every link when omitted), optionally of one family. */
export async function listAddresses(rtnl: Rtnl, index?: number, family?: IpFamily): Promise<AddressInfo[]> {
  return (await dumpAddresses(rtnl, index, family)).map(({ bytes, ...a }) => ({ ...a, address: formatIp(bytes) }));
}

/** An address of a link as a src/ip value (read from the kernel's bytes), its prefix length in it. */
export interface AddressValue {
  index: number;
  family: IpFamily;
  cidr: CidrValue;
  scope: number;
  flags: number;
}

/** listAddresses with src/ip values. */
export async function listAddressValues(rtnl: Rtnl, index?: number, family?: IpFamily): Promise<AddressValue[]> {
  return (await dumpAddresses(rtnl, index, family)).map(({ bytes, prefixLen, ...a }) => ({ ...a, cidr: cidrOf(ipOfBytes(bytes), prefixLen) }));
}

type AddressBytes = Omit<AddressInfo, "address"> & { bytes: Buffer };

async function dumpAddresses(rtnl: Rtnl, index?: number, family?: IpFamily): Promise<AddressBytes[]> {
  const header: IfAddrMsg = { family: family === undefined ? 0 : afOf(family) };
  const messages = await rtnl.dump(`RTM_GETADDR dump${index === undefined ? "" : ` #${index}`}`, RTM.GETADDR, addressPayload(header));
  // The kernel ignores ifa_index in a dump (without NETLINK_GET_STRICT_CHK, which the socket package
  // cannot set): pick the link's messages by their header before parsing any attribute, so a node
  // with hundreds of veths costs little more than an empty one.
  const wanted = index === undefined ? messages : messages.filter((m) => m.data.length >= IFADDRMSG_LEN && parseIfaddrmsg(m.data).index === index);
  return wanted.flatMap((m) => parseAddress(m) ?? []);
}

/**
 * Wait until no IPv6 address of link `index` is tentative (duplicate address detection finished).
 * An address whose DAD failed is an EADDRINUSE NetlinkError; not finishing in time is ETIMEDOUT.
 */
export async function waitForDad(rtnl: Rtnl, index: number, options: { timeoutMs?: number; intervalMs?: number } = {}): Promise<void> {
  const deadline = Date.now() + (options.timeoutMs ?? 5000);
  const op = `wait for DAD #${index}`;
  for (;;) {
    // Link-local addresses are the kernel's own business; only the configured (global) ones count.
    const addrs = (await listAddresses(rtnl, index, 6)).filter((a) => !isLinkLocal6(a.address));
    const failed = addrs.find((a) => (a.flags & IFA_F.DADFAILED) !== 0);
    if (failed !== undefined) throw new NetlinkError(op, osConstants.errno.EADDRINUSE, `DAD failed for ${failed.address}`);
    if (!addrs.some((a) => (a.flags & IFA_F.TENTATIVE) !== 0)) return;
    if (Date.now() >= deadline) throw new NetlinkError(op, osConstants.errno.ETIMEDOUT, "addresses still tentative");
    await new Promise((resolve) => setTimeout(resolve, options.intervalMs ?? 20));
  }
}

/** fe80::/10 */
function isLinkLocal6(address: string): boolean {
  return /^fe[89ab][0-9a-f]:/i.test(address);
}

/** struct ifaddrmsg followed by encoded attributes (undefined ones skipped). */
function addressPayload(header: IfAddrMsg, ...attrs: (Encoded | undefined)[]): Uint8Array[] {
  return [ifaddrmsg(header), ...attrs.flatMap((a) => a ?? [])];
}

function parseAddress(message: RawMessage): AddressBytes | undefined {
  if (message.type !== RTM.NEWADDR || message.data.length < IFADDRMSG_LEN) return undefined;
  const header = parseIfaddrmsg(message.data);
  const attrs = parseAttrMap(message.data.subarray(IFADDRMSG_LEN));
  const family = familyOfAf(header.family);
  // For IPv4 IFA_LOCAL is the interface's own address (IFA_ADDRESS is the peer on point-to-point links).
  const bytes = family === 4 ? (attrs.get(IFA_LOCAL) ?? attrs.get(IFA_ADDRESS)) : attrs.get(IFA_ADDRESS);
  if (family === undefined || bytes === undefined) return undefined;
  // IFA_FLAGS (u32) supersedes the 8-bit flags of the header when present.
  const flagsAttr = attrs.get(IFA_FLAGS);
  const flags = flagsAttr === undefined ? header.flags : readU32(flagsAttr);
  return { index: header.index, family, bytes, prefixLen: header.prefixLen, scope: header.scope, flags };
}
