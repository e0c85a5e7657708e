/**
 * Links: lookup, veth pairs, bridges, bridge ports and VLANs. Messages are a struct ifinfomsg (./msg)
 * and attributes encoded with the package's struct helpers (./nlattr); the nested ones (link info,
 * veth peer, bridge port protinfo, AF_BRIDGE VLAN info) each have a small named encoder below.
 */
import { constants as osConstants } from "node:os";
import { NetlinkError, isErrno } from "./errors";
import {
  type Encoded,
  attrBytes,
  attrNested,
  attrString,
  attrU16,
  attrU32,
  attrU8,
  parseAttrList,
  parseAttrMap,
  readString,
  readU16,
  readU32,
  readS32,
  readU8,
  u16,
} from "./nlattr";
import { IFF, IFINFOMSG_LEN, type IfInfoMsg, ifinfomsg, parseIfinfomsg } from "./msg";
import { NLM_F, RTM, type RawMessage, type Rtnl } from "./rtnl";
import { randomHex } from "../util/random";
import { ifnameProblem } from "../util/ids";

// linux/if_link.h, linux/veth.h, linux/if_bridge.h, linux/rtnetlink.h
const AF_BRIDGE = 7;
const IFLA_ADDRESS = 1;
const IFLA_IFNAME = 3;
const IFLA_MTU = 4;
const IFLA_LINK = 5;
const IFLA_MASTER = 10;
const IFLA_PROTINFO = 12;
const IFLA_OPERSTATE = 16;
const IFLA_IFALIAS = 20;
const IFLA_LINKINFO = 18;
const IFLA_AF_SPEC = 26;
const IFLA_NET_NS_FD = 28;
const IFLA_EXT_MASK = 29;
const IFLA_LINK_NETNSID = 37;
const IFLA_INFO_KIND = 1;
const IFLA_INFO_DATA = 2;
const VETH_INFO_PEER = 1;
const IFLA_BR_VLAN_FILTERING = 7;
const IFLA_BRPORT_MODE = 4;
const IFLA_BRPORT_ISOLATED = 33;
const IFLA_BRIDGE_FLAGS = 0;
const IFLA_BRIDGE_VLAN_INFO = 2;
const BRIDGE_FLAGS_MASTER = 1;
const BRIDGE_FLAGS_SELF = 2;
const BRIDGE_VLAN_INFO_PVID = 2;
const BRIDGE_VLAN_INFO_UNTAGGED = 4;
const BRIDGE_VLAN_INFO_RANGE_BEGIN = 8;
const BRIDGE_VLAN_INFO_RANGE_END = 16;
const RTEXT_FILTER_BRVLAN = 2;
const RTEXT_FILTER_SKIP_STATS = 8;

const OPER_STATES = ["UNKNOWN", "NOTPRESENT", "DOWN", "LOWERLAYERDOWN", "TESTING", "DORMANT", "UP"] as const;

export interface LinkInfo {
  index: number;
  name: string;
  /** IFLA_INFO_KIND: "veth", "bridge", ...; absent for devices without one (lo, most NICs). */
  kind?: string;
  /** Hardware address as lowercase aa:bb:cc:dd:ee:ff. */
  mac?: string;
  mtu: number;
  /** IFF_UP (administratively up). */
  up: boolean;
  /** RFC 2863 operational state as `ip` prints it: "UP", "DOWN", "LOWERLAYERDOWN", ... */
  operState?: string;
  /** Index of the master (bridge) the link is enslaved to. */
  master?: number;
  /** IFF_PROMISC as set by a user (not the count a bridge adds for its ports). */
  promisc: boolean;
  /** IFLA_LINK: for a veth, the peer's index (in the peer's namespace). */
  peerIndex?: number;
  /** IFLA_LINK_NETNSID: the peer's namespace id, when the peer lives in another namespace. */
  peerNetnsId?: number;
  /** For a bridge: whether VLAN filtering is on. */
  vlanFiltering?: boolean;
  /** IFLA_IFALIAS (`ip link set dev X alias ...`), when set. */
  alias?: string;
}

// ---------------------------------------------------------------------------------------------
// Lookup

/** The link called `name`, with one RTM_GETLINK (no dump); undefined when there is none. */
export async function getLinkByName(rtnl: Rtnl, name: string): Promise<LinkInfo | undefined> {
  const op = `RTM_GETLINK ${name}`;
  assertIfName(op, name);
  return getOneLink(rtnl, op, linkPayload({}, attrString(IFLA_IFNAME, name), skipStats()));
}

/** The link with `index`; undefined when there is none. */
export async function getLinkByIndex(rtnl: Rtnl, index: number): Promise<LinkInfo | undefined> {
  const op = `RTM_GETLINK #${index}`;
  return getOneLink(rtnl, op, linkPayload({ index }, skipStats()));
}

export async function listLinks(rtnl: Rtnl): Promise<LinkInfo[]> {
  const messages = await rtnl.dump("RTM_GETLINK dump", RTM.GETLINK, linkPayload({}, skipStats()));
  return linkMessages(messages).map((m) => parseLinkInfo(m));
}

async function getOneLink(rtnl: Rtnl, op: string, payload: Uint8Array[]): Promise<LinkInfo | undefined> {
  try {
    const [message] = linkMessages(await rtnl.request(op, RTM.GETLINK, payload));
    return message === undefined ? undefined : parseLinkInfo(message);
  } catch (err) {
    if (isErrno(err, "ENODEV")) return undefined;
    throw err;
  }
}

/** Like getLinkByName, but a missing link is an ENODEV NetlinkError. */
export async function requireLinkByName(rtnl: Rtnl, name: string): Promise<LinkInfo> {
  const link = await getLinkByName(rtnl, name);
  if (link === undefined) throw new NetlinkError(`RTM_GETLINK ${name}`, osConstants.errno.ENODEV, "no such link");
  return link;
}

// ---------------------------------------------------------------------------------------------
// veth

export interface VethPairSpec {
  /** Name of the end created in `containerRtnl`'s namespace (CNI_IFNAME). */
  name: string;
  /** Name of the other end; when omitted a random `veth<8 hex>` is used, retried on a name clash. */
  peerName?: string;
  /** fd of the namespace the peer is placed in (see openNetns / openOwnNetns). */
  peerNetnsFd: number;
  /** MTU of both ends. */
  mtu?: number;
  /** MAC of the container end. */
  mac?: string;
  /** MAC of the peer end. */
  peerMac?: string;
}

export interface VethPair {
  /** The container end, as the kernel reports it after creation. */
  link: LinkInfo;
  index: number;
  name: string;
  /** Index of the peer in the peer's namespace. */
  peerIndex: number;
  peerName: string;
}

const PEER_NAME_ATTEMPTS = 5;

/**
 * Create a veth pair from inside the container namespace (the namespace of `containerRtnl`) with the
 * peer placed directly in the namespace of `peerNetnsFd`. Fails with EEXIST when `name` exists in the
 * container namespace (a CNI ADD must fail then), or when an explicit `peerName` exists in the peer's.
 */
export async function createVethPair(containerRtnl: Rtnl, spec: VethPairSpec): Promise<VethPair> {
  const op = `RTM_NEWLINK veth ${spec.name}`;
  assertIfName(op, spec.name);
  if (spec.peerName !== undefined) assertIfName(op, spec.peerName);
  const attempts = spec.peerName === undefined ? PEER_NAME_ATTEMPTS : 1;
  for (let attempt = 1; ; attempt++) {
    const peerName = spec.peerName ?? randomVethName();
    try {
      await containerRtnl.request(op, RTM.NEWLINK, vethPayload(spec, peerName), NLM_F.CREATE | NLM_F.EXCL);
      return await describeVethPair(containerRtnl, spec.name, peerName);
    } catch (err) {
      if (!isErrno(err, "EEXIST")) throw err;
      if ((await getLinkByName(containerRtnl, spec.name)) !== undefined) {
        throw new NetlinkError(op, osConstants.errno.EEXIST, `${spec.name} already exists in the container namespace`, { cause: err });
      }
      if (attempt >= attempts) {
        throw new NetlinkError(op, osConstants.errno.EEXIST, `peer name ${peerName} already exists in the peer namespace`, { cause: err });
      }
    }
  }
}

async function describeVethPair(containerRtnl: Rtnl, name: string, peerName: string): Promise<VethPair> {
  const link = await requireLinkByName(containerRtnl, name);
  if (link.peerIndex === undefined) {
    throw new NetlinkError(`RTM_GETLINK ${name}`, osConstants.errno.EPROTO, "veth without IFLA_LINK");
  }
  return { link, index: link.index, name, peerIndex: link.peerIndex, peerName };
}

/**
 * The peer end of `pair`, looked up in the peer's namespace (`peerRtnl`): by index, checked by name
 * (an index alone could have been reused), else by name.
 */
export async function getVethPeer(peerRtnl: Rtnl, pair: Pick<VethPair, "peerIndex" | "peerName">): Promise<LinkInfo | undefined> {
  const byIndex = await getLinkByIndex(peerRtnl, pair.peerIndex);
  if (byIndex?.name === pair.peerName) return byIndex;
  return getLinkByName(peerRtnl, pair.peerName);
}

function vethPayload(spec: VethPairSpec, peerName: string): Uint8Array[] {
  return linkPayload(
    {},
    ...basicLinkAttrs(spec.name, spec.mtu, spec.mac),
    linkInfoAttr("veth", vethPeerAttr({ name: peerName, netnsFd: spec.peerNetnsFd, mtu: spec.mtu, mac: spec.peerMac })),
  );
}

/** VETH_INFO_PEER: a struct ifinfomsg followed by the peer's own link attributes. */
function vethPeerAttr(peer: { name: string; netnsFd: number; mtu: number | undefined; mac: string | undefined }): Encoded {
  return attrNested(VETH_INFO_PEER, [ifinfomsg({})], ...basicLinkAttrs(peer.name, peer.mtu, peer.mac), attrU32(IFLA_NET_NS_FD, peer.netnsFd));
}

/** `randomVethName()` → "veth" + 8 hex digits (within IFNAMSIZ). */
export function randomVethName(): string {
  return `veth${randomHex(4)}`;
}

// ---------------------------------------------------------------------------------------------
// Bridge

export interface BridgeSpec {
  name: string;
  /** MTU for a newly created bridge; an existing bridge keeps its own. */
  mtu?: number;
  /** Turn VLAN filtering on (on creation, or on an existing bridge that has it off). */
  vlanFiltering?: boolean;
}

export interface EnsuredBridge {
  link: LinkInfo;
  /** True when this call created the bridge. */
  created: boolean;
}

/**
 * Make sure a bridge called `name` exists (an existing one is fine). An existing link of another kind
 * is an EEXIST NetlinkError naming it. Does not set the bridge up.
 */
export async function ensureBridge(rtnl: Rtnl, spec: BridgeSpec): Promise<EnsuredBridge> {
  const op = `RTM_NEWLINK bridge ${spec.name}`;
  assertIfName(op, spec.name);
  let link = await getLinkByName(rtnl, spec.name);
  let created = false;
  if (link === undefined) {
    ({ link, created } = await createBridge(rtnl, op, spec));
  }
  if (link.kind !== "bridge") {
    const what = link.kind === undefined ? "a link without a kind" : `a ${link.kind} link`;
    throw new NetlinkError(op, osConstants.errno.EEXIST, `${spec.name} exists and is ${what}, not a bridge`);
  }
  if (spec.vlanFiltering === true && link.vlanFiltering !== true) {
    await setBridgeVlanFiltering(rtnl, link.index, true);
    link = { ...link, vlanFiltering: true };
  }
  return { link, created };
}

async function createBridge(rtnl: Rtnl, op: string, spec: BridgeSpec): Promise<EnsuredBridge> {
  const data = spec.vlanFiltering === undefined ? undefined : attrU8(IFLA_BR_VLAN_FILTERING, spec.vlanFiltering ? 1 : 0);
  // Born with a MAC of its own (random, locally administered): a bridge whose MAC was never set
  // follows its lowest port's, so concurrent ADDs joining ports would each see (and report) another.
  const payload = linkPayload({}, ...basicLinkAttrs(spec.name, spec.mtu, randomLocalMac()), linkInfoAttr("bridge", data));
  let created = true;
  try {
    await rtnl.request(op, RTM.NEWLINK, payload, NLM_F.CREATE | NLM_F.EXCL);
  } catch (err) {
    if (!isErrno(err, "EEXIST")) throw err; // created meanwhile by someone else: checked by the caller
    created = false;
  }
  return { link: await requireLinkByName(rtnl, spec.name), created };
}

/** Turn VLAN filtering on or off on an existing bridge (RTM_NEWLINK without CREATE = change). */
export async function setBridgeVlanFiltering(rtnl: Rtnl, bridgeIndex: number, on: boolean): Promise<void> {
  const payload = linkPayload({ index: bridgeIndex }, linkInfoAttr("bridge", attrU8(IFLA_BR_VLAN_FILTERING, on ? 1 : 0)));
  await rtnl.request(`RTM_NEWLINK #${bridgeIndex} vlan_filtering ${on ? 1 : 0}`, RTM.NEWLINK, payload);
}

export interface BridgePortOptions {
  /** Hairpin mode (IFLA_BRPORT_MODE): frames may go back out the port they came in on. */
  hairpin?: boolean;
  /** Port isolation (IFLA_BRPORT_ISOLATED): isolated ports reach only non-isolated ports. */
  isolated?: boolean;
}

/** Set bridge port attributes on `index`, which must already be enslaved to a bridge. */
export async function setBridgePort(rtnl: Rtnl, index: number, options: BridgePortOptions): Promise<void> {
  const protinfo = bridgePortProtinfoAttr(options);
  if (protinfo === undefined) return;
  const payload = linkPayload({ family: AF_BRIDGE, index }, protinfo);
  await rtnl.request(`RTM_SETLINK #${index} bridge port ${describe(options)}`, RTM.SETLINK, payload);
}

/** IFLA_PROTINFO (nested) with IFLA_BRPORT_* u8 flags; undefined when there is nothing to set. */
function bridgePortProtinfoAttr(options: BridgePortOptions): Encoded | undefined {
  const children: Encoded[] = [];
  if (options.hairpin !== undefined) children.push(attrU8(IFLA_BRPORT_MODE, options.hairpin ? 1 : 0));
  if (options.isolated !== undefined) children.push(attrU8(IFLA_BRPORT_ISOLATED, options.isolated ? 1 : 0));
  return children.length === 0 ? undefined : attrNested(IFLA_PROTINFO, ...children);
}

export interface BridgeVlanOptions {
  /** Make the VID the port's PVID (untagged ingress goes to it). Not allowed for a range. */
  pvid?: boolean;
  /** Send frames of the VID out untagged. */
  untagged?: boolean;
  /** Apply to the bridge device itself (`self`) instead of a port (`master`, the default). */
  self?: boolean;
}

/** A single VID (1..4094) or an inclusive range of them. */
export type VlanIds = number | { min: number; max: number };

/** `bridge vlan add vid <vid> dev <index> [pvid] [untagged] [master|self]`. */
export async function addBridgeVlan(rtnl: Rtnl, index: number, vid: VlanIds, options: BridgeVlanOptions = {}): Promise<void> {
  const op = `RTM_SETLINK #${index} vlan add ${describeVids(vid)}`;
  await rtnl.request(op, RTM.SETLINK, bridgeVlanPayload(op, index, vid, options));
}

/** `bridge vlan del vid <vid> dev <index>`; false when the link is gone. */
export async function deleteBridgeVlan(rtnl: Rtnl, index: number, vid: VlanIds, options: Pick<BridgeVlanOptions, "self"> = {}): Promise<boolean> {
  const op = `RTM_DELLINK #${index} vlan del ${describeVids(vid)}`;
  try {
    await rtnl.request(op, RTM.DELLINK, bridgeVlanPayload(op, index, vid, options));
    return true;
  } catch (err) {
    if (isErrno(err, "ENODEV") || isErrno(err, "ENOENT")) return false;
    throw err;
  }
}

export interface BridgeVlan {
  vid: number;
  pvid: boolean;
  untagged: boolean;
}

/** VLANs configured on bridge port (or bridge) `index`, one entry per VID. */
export async function listBridgeVlans(rtnl: Rtnl, index: number): Promise<BridgeVlan[]> {
  const payload = linkPayload({ family: AF_BRIDGE }, attrU32(IFLA_EXT_MASK, RTEXT_FILTER_BRVLAN));
  const messages = await rtnl.dump(`RTM_GETLINK bridge vlans #${index}`, RTM.GETLINK, payload);
  for (const message of linkMessages(messages)) {
    if (parseIfinfomsg(message.data).index !== index) continue;
    const afSpec = parseAttrMap(message.data.subarray(IFINFOMSG_LEN)).get(IFLA_AF_SPEC);
    return afSpec === undefined ? [] : parseBridgeVlanInfo(afSpec);
  }
  return [];
}

function bridgeVlanPayload(op: string, index: number, vid: VlanIds, options: BridgeVlanOptions): Uint8Array[] {
  assertVids(op, vid);
  if (typeof vid !== "number" && options.pvid === true) {
    throw new NetlinkError(op, osConstants.errno.EINVAL, "a VLAN range cannot be the PVID");
  }
  return linkPayload({ family: AF_BRIDGE, index }, bridgeVlanAfSpecAttr(vid, options));
}

/** IFLA_AF_SPEC with IFLA_BRIDGE_FLAGS (master/self) and one or two (range) IFLA_BRIDGE_VLAN_INFO. */
function bridgeVlanAfSpecAttr(vid: VlanIds, options: BridgeVlanOptions): Encoded {
  const flags = (options.pvid === true ? BRIDGE_VLAN_INFO_PVID : 0) | (options.untagged === true ? BRIDGE_VLAN_INFO_UNTAGGED : 0);
  const infos =
    typeof vid === "number" || vid.min === vid.max
      ? [bridgeVlanInfoAttr(flags, typeof vid === "number" ? vid : vid.min)]
      : [bridgeVlanInfoAttr(flags | BRIDGE_VLAN_INFO_RANGE_BEGIN, vid.min), bridgeVlanInfoAttr(flags | BRIDGE_VLAN_INFO_RANGE_END, vid.max)];
  return attrNested(IFLA_AF_SPEC, attrU16(IFLA_BRIDGE_FLAGS, options.self === true ? BRIDGE_FLAGS_SELF : BRIDGE_FLAGS_MASTER), ...infos);
}

/** struct bridge_vlan_info { __u16 flags; __u16 vid; } */
function bridgeVlanInfoAttr(flags: number, vid: number): Encoded {
  return attrBytes(IFLA_BRIDGE_VLAN_INFO, [u16(flags), u16(vid)]);
}

function parseBridgeVlanInfo(afSpec: Buffer): BridgeVlan[] {
  const vlans: BridgeVlan[] = [];
  let rangeStart: number | undefined;
  for (const a of parseAttrList(afSpec)) {
    if (a.type !== IFLA_BRIDGE_VLAN_INFO || a.data.length < 4) continue;
    const flags = readU16(a.data.subarray(0, 2));
    const vid = readU16(a.data.subarray(2, 4));
    const entry = { pvid: (flags & BRIDGE_VLAN_INFO_PVID) !== 0, untagged: (flags & BRIDGE_VLAN_INFO_UNTAGGED) !== 0 };
    if ((flags & BRIDGE_VLAN_INFO_RANGE_BEGIN) !== 0) {
      rangeStart = vid;
      continue;
    }
    const first = (flags & BRIDGE_VLAN_INFO_RANGE_END) !== 0 && rangeStart !== undefined ? rangeStart : vid;
    for (let v = first; v <= vid; v++) vlans.push({ vid: v, ...entry });
    rangeStart = undefined;
  }
  return vlans;
}

// ---------------------------------------------------------------------------------------------
// Simple link changes

export async function setLinkUp(rtnl: Rtnl, index: number): Promise<void> {
  await setLink(rtnl, `RTM_SETLINK #${index} up`, { index, flags: IFF.UP, change: IFF.UP });
}

export async function setLinkDown(rtnl: Rtnl, index: number): Promise<void> {
  await setLink(rtnl, `RTM_SETLINK #${index} down`, { index, flags: 0, change: IFF.UP });
}

/** Enslave `index` to bridge `masterIndex`; `undefined` (or 0) releases it ("nomaster"). */
export async function setMaster(rtnl: Rtnl, index: number, masterIndex: number | undefined): Promise<void> {
  const master = masterIndex ?? 0;
  await setLink(rtnl, `RTM_SETLINK #${index} master #${master}`, { index }, attrU32(IFLA_MASTER, master));
}

export async function setMtu(rtnl: Rtnl, index: number, mtu: number): Promise<void> {
  await setLink(rtnl, `RTM_SETLINK #${index} mtu ${mtu}`, { index }, attrU32(IFLA_MTU, mtu));
}

export async function setMac(rtnl: Rtnl, index: number, mac: string): Promise<void> {
  const op = `RTM_SETLINK #${index} address ${mac}`;
  await setLink(rtnl, op, { index }, attrBytes(IFLA_ADDRESS, macToBuffer(op, mac)));
}

export async function setPromisc(rtnl: Rtnl, index: number, on: boolean): Promise<void> {
  await setLink(rtnl, `RTM_SETLINK #${index} promisc ${on ? "on" : "off"}`, { index, flags: on ? IFF.PROMISC : 0, change: IFF.PROMISC });
}

/** IFLA_IFALIAS: a free-text label on the link (at most 255 bytes); "" clears it. */
export async function setLinkAlias(rtnl: Rtnl, index: number, alias: string): Promise<void> {
  const op = `RTM_SETLINK #${index} alias`;
  if (Buffer.byteLength(alias) > 255) throw new NetlinkError(op, osConstants.errno.EINVAL, "alias longer than 255 bytes");
  await setLink(rtnl, op, { index }, attrString(IFLA_IFALIAS, alias));
}

async function setLink(rtnl: Rtnl, op: string, header: IfInfoMsg, ...attrs: Encoded[]): Promise<void> {
  await rtnl.request(op, RTM.SETLINK, linkPayload(header, ...attrs));
}

/** Delete a link by index or name; false when there is no such link. */
export async function deleteLink(rtnl: Rtnl, link: number | string): Promise<boolean> {
  const op = `RTM_DELLINK ${typeof link === "number" ? `#${link}` : link}`;
  if (typeof link === "string") assertIfName(op, link);
  const payload = typeof link === "number" ? linkPayload({ index: link }) : linkPayload({}, attrString(IFLA_IFNAME, link));
  try {
    // From a worker thread: the kernel's unregister waits for RCU grace periods (10-30 ms, mostly
    // asleep), and the JS thread can do other work meanwhile (DEL releases the address).
    await rtnl.requestOffThread(op, RTM.DELLINK, payload);
    return true;
  } catch (err) {
    if (isErrno(err, "ENODEV")) return false;
    throw err;
  }
}

// ---------------------------------------------------------------------------------------------
// Encoding and parsing

/** struct ifinfomsg followed by encoded attributes (undefined ones skipped). */
function linkPayload(header: IfInfoMsg, ...attrs: (Encoded | undefined)[]): Uint8Array[] {
  return [ifinfomsg(header), ...attrs.flatMap((a) => a ?? [])];
}

/** IFLA_LINKINFO { IFLA_INFO_KIND kind, IFLA_INFO_DATA { data } } */
function linkInfoAttr(kind: string, data: Encoded | undefined): Encoded {
  return attrNested(IFLA_LINKINFO, attrString(IFLA_INFO_KIND, kind), data === undefined ? undefined : attrNested(IFLA_INFO_DATA, data));
}

/** A random unicast, locally administered MAC (the kernel's own eth_random_addr rule). */
function randomLocalMac(): string {
  const b = Buffer.from(randomHex(6), "hex");
  b[0] = ((b[0] ?? 0) & 0xfe) | 0x02;
  return bufferToMac(b);
}

/** IFLA_IFNAME, and IFLA_MTU / IFLA_ADDRESS when given. */
function basicLinkAttrs(name: string, mtu: number | undefined, mac: string | undefined): Encoded[] {
  const attrs = [attrString(IFLA_IFNAME, name)];
  if (mtu !== undefined) attrs.push(attrU32(IFLA_MTU, mtu));
  if (mac !== undefined) attrs.push(attrBytes(IFLA_ADDRESS, macToBuffer(`link ${name}`, mac)));
  return attrs;
}

/** IFLA_EXT_MASK asking the kernel to leave the (large) statistics out of link replies. */
function skipStats(): Encoded {
  return attrU32(IFLA_EXT_MASK, RTEXT_FILTER_SKIP_STATS);
}

function linkMessages(messages: RawMessage[]): RawMessage[] {
  return messages.filter((m) => m.type === RTM.NEWLINK && m.data.length >= IFINFOMSG_LEN);
}

/** Parse an RTM_NEWLINK message: the package parses the header, the attributes are picked here. */
function parseLinkInfo(message: RawMessage): LinkInfo {
  const header = parseIfinfomsg(message.data);
  const attrs = parseAttrMap(message.data.subarray(IFINFOMSG_LEN));
  const mtuAttr = attrs.get(IFLA_MTU);
  const info: LinkInfo = {
    index: header.index,
    name: readString(attrs.get(IFLA_IFNAME) ?? Buffer.alloc(0)),
    mtu: mtuAttr === undefined ? 0 : readU32(mtuAttr),
    up: (header.flags & IFF.UP) !== 0,
    promisc: (header.flags & IFF.PROMISC) !== 0,
  };
  const address = attrs.get(IFLA_ADDRESS);
  if (address !== undefined && address.length > 0) info.mac = bufferToMac(address);
  const operState = attrs.get(IFLA_OPERSTATE);
  if (operState !== undefined) info.operState = OPER_STATES[readU8(operState)] ?? `${readU8(operState)}`;
  const master = attrs.get(IFLA_MASTER);
  if (master !== undefined) info.master = readU32(master);
  const alias = attrs.get(IFLA_IFALIAS);
  if (alias !== undefined && alias.length > 0) info.alias = readString(alias);
  const netnsId = attrs.get(IFLA_LINK_NETNSID);
  if (netnsId !== undefined) info.peerNetnsId = readS32(netnsId);
  const linkInfo = attrs.get(IFLA_LINKINFO);
  if (linkInfo !== undefined) Object.assign(info, parseLinkKind(linkInfo));
  const peer = attrs.get(IFLA_LINK);
  if (peer !== undefined) info.peerIndex = readU32(peer);
  // The kernel leaves IFLA_LINK out when it equals the link's own index, which happens for a veth
  // whose peer, in another namespace, got the same index.
  else if (info.kind === "veth" && info.peerNetnsId !== undefined) info.peerIndex = info.index;
  return info;
}

function parseLinkKind(linkInfo: Buffer): Pick<LinkInfo, "kind" | "vlanFiltering"> {
  const nested = parseAttrMap(linkInfo);
  const kindAttr = nested.get(IFLA_INFO_KIND);
  if (kindAttr === undefined) return {};
  const kind = readString(kindAttr);
  const data = nested.get(IFLA_INFO_DATA);
  if (kind !== "bridge" || data === undefined) return { kind };
  const filtering = parseAttrMap(data).get(IFLA_BR_VLAN_FILTERING);
  return filtering === undefined ? { kind } : { kind, vlanFiltering: readU8(filtering) !== 0 };
}

export function bufferToMac(buf: Uint8Array): string {
  return Array.from(buf, (b) => b.toString(16).padStart(2, "0")).join(":");
}

const MAC_RE = /^[0-9a-f]{2}(:[0-9a-f]{2}){5}$/i;

export function macToBuffer(op: string, mac: string): Buffer {
  if (!MAC_RE.test(mac)) throw new NetlinkError(op, osConstants.errno.EINVAL, `invalid MAC address "${mac}"`);
  return Buffer.from(mac.split(":").map((h) => parseInt(h, 16)));
}

function assertIfName(op: string, name: string): void {
  if (ifnameProblem(name) !== undefined) throw new NetlinkError(op, osConstants.errno.EINVAL, `invalid interface name "${name}"`);
}

function assertVids(op: string, vid: VlanIds): void {
  const [min, max] = typeof vid === "number" ? [vid, vid] : [vid.min, vid.max];
  const ok = (v: number): boolean => Number.isInteger(v) && v >= 1 && v <= 4094;
  if (!ok(min) || !ok(max) || min > max) throw new NetlinkError(op, osConstants.errno.EINVAL, `invalid VLAN id ${describeVids(vid)}`);
}

function describeVids(vid: VlanIds): string {
  return typeof vid === "number" ? `${vid}` : `${vid.min}-${vid.max}`;
}

function describe(options: BridgePortOptions): string {
  return Object.entries(options)
    .filter(([, v]) => v !== undefined)
    .map(([k, v]) => `${k} ${v ? "on" : "off"}`)
    .join(" ");
}
