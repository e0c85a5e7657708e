/**
 * The fixed headers that open rtnetlink messages (struct ifinfomsg, ifaddrmsg, rtmsg), in host byte
 * order like the rest of netlink. Attributes follow them (see ./nlattr).
 */
import { readS32, readU32, writeS32, writeU32 } from "./nlmsg";

export const IFINFOMSG_LEN = 16;
export const IFADDRMSG_LEN = 8;
export const RTMSG_LEN = 12;

/** IFF_* device flags used here (linux/if.h). */
export const IFF = { UP: 0x1, PROMISC: 0x100 } as const;

export interface IfInfoMsg {
  family?: number;
  index?: number;
  /** IFF_* flags to set ... */
  flags?: number;
  /** ... and which of them to change. */
  change?: number;
}

/** struct ifinfomsg { u8 family; u8 pad; u16 type; s32 index; u32 flags; u32 change; } */
export function ifinfomsg(h: IfInfoMsg): Buffer {
  const b = Buffer.alloc(IFINFOMSG_LEN);
  b[0] = h.family ?? 0;
  writeS32(b, h.index ?? 0, 4);
  writeU32(b, h.flags ?? 0, 8);
  writeU32(b, h.change ?? 0, 12);
  return b;
}

export function parseIfinfomsg(b: Buffer): Required<IfInfoMsg> {
  return { family: b[0] ?? 0, index: readS32(b, 4), flags: readU32(b, 8), change: readU32(b, 12) };
}

export interface IfAddrMsg {
  family: number;
  prefixLen?: number;
  /** IFA_F_* (8 bits here; IFA_FLAGS carries the full 32). */
  flags?: number;
  scope?: number;
  index?: number;
}

/** struct ifaddrmsg { u8 family; u8 prefixlen; u8 flags; u8 scope; u32 index; } */
export function ifaddrmsg(h: IfAddrMsg): Buffer {
  const b = Buffer.alloc(IFADDRMSG_LEN);
  b[0] = h.family;
  b[1] = h.prefixLen ?? 0;
  b[2] = (h.flags ?? 0) & 0xff;
  b[3] = h.scope ?? 0;
  writeU32(b, h.index ?? 0, 4);
  return b;
}

export function parseIfaddrmsg(b: Buffer): Required<IfAddrMsg> {
  return { family: b[0] ?? 0, prefixLen: b[1] ?? 0, flags: b[2] ?? 0, scope: b[3] ?? 0, index: readU32(b, 4) };
}

export interface RtMsg {
  family: number;
  dstLen?: number;
  srcLen?: number;
  tos?: number;
  table?: number;
  protocol?: number;
  scope?: number;
  type?: number;
  flags?: number;
}

/** struct rtmsg { u8 family, dst_len, src_len, tos, table, protocol, scope, type; u32 flags; } */
export function rtmsg(h: RtMsg): Buffer {
  const b = Buffer.alloc(RTMSG_LEN);
  [h.family, h.dstLen, h.srcLen, h.tos, h.table, h.protocol, h.scope, h.type].forEach((v, i) => (b[i] = v ?? 0));
  writeU32(b, h.flags ?? 0, 8);
  return b;
}

export function parseRtmsg(b: Buffer): Required<RtMsg> {
  return {
    family: b[0] ?? 0,
    dstLen: b[1] ?? 0,
    srcLen: b[2] ?? 0,
    tos: b[3] ?? 0,
    table: b[4] ?? 0,
    protocol: b[5] ?? 0,
    scope: b[6] ?? 0,
    type: b[7] ?? 0,
    flags: readU32(b, 8),
  };
}
