/**
 * Netlink framing (linux/netlink.h): the 16-byte message header, the datagrams the kernel answers
 * with, and what completes one request's answer. Pure: no socket here (./rtnl drives the socket).
 * Everything is in host byte order.
 */
import { endianness, constants as osConstants } from "node:os";

const LE = endianness() === "LE";

export const readU16 = (b: Buffer, off: number): number => (LE ? b.readUInt16LE(off) : b.readUInt16BE(off));
export const readU32 = (b: Buffer, off: number): number => (LE ? b.readUInt32LE(off) : b.readUInt32BE(off));
export const readS32 = (b: Buffer, off: number): number => (LE ? b.readInt32LE(off) : b.readInt32BE(off));
export const writeU16 = (b: Buffer, v: number, off: number): number => (LE ? b.writeUInt16LE(v, off) : b.writeUInt16BE(v, off));
export const writeU32 = (b: Buffer, v: number, off: number): number => (LE ? b.writeUInt32LE(v, off) : b.writeUInt32BE(v, off));
export const writeS32 = (b: Buffer, v: number, off: number): number => (LE ? b.writeInt32LE(v, off) : b.writeInt32BE(v, off));

export const NLMSG_HDRLEN = 16;

/** Control message types (linux/netlink.h). */
export const NLMSG = { NOOP: 1, ERROR: 2, DONE: 3, OVERRUN: 4 } as const;

/** Header flags (linux/netlink.h). */
export const NLM_F_REQUEST = 0x1;
export const NLM_F_MULTI = 0x2;
export const NLM_F_ACK = 0x4;

/** One netlink message: its header fields and its payload (a view into the received datagram). */
export interface RawMessage {
  type: number;
  flags: number;
  seq: number;
  /** The sender's port id (nlmsg_pid): ours in the kernel's answers. */
  port: number;
  data: Buffer;
}

/** A request's datagram: the header (length, type, flags, seq; port 0: the kernel fills ours in) and the payload. */
export function encodeMessage(type: number, flags: number, seq: number, payload: readonly Uint8Array[]): Buffer {
  let length = NLMSG_HDRLEN;
  for (const p of payload) length += p.length;
  const b = Buffer.allocUnsafe(length);
  writeU32(b, length, 0);
  writeU16(b, type, 4);
  writeU16(b, flags, 6);
  writeU32(b, seq >>> 0, 8);
  writeU32(b, 0, 12);
  let off = NLMSG_HDRLEN;
  for (const p of payload) {
    b.set(p, off);
    off += p.length;
  }
  return b;
}

/**
 * The messages of one datagram, in order. `malformed` is set when a header claims more bytes than
 * the datagram holds (or fewer than a header): what precedes it is still returned.
 */
export function parseDatagram(buf: Buffer): { messages: RawMessage[]; malformed: boolean } {
  const messages: RawMessage[] = [];
  let off = 0;
  while (off + NLMSG_HDRLEN <= buf.length) {
    const length = readU32(buf, off);
    if (length < NLMSG_HDRLEN || off + length > buf.length) return { messages, malformed: true };
    messages.push({
      type: readU16(buf, off + 4),
      flags: readU16(buf, off + 6),
      seq: readU32(buf, off + 8),
      port: readU32(buf, off + 12),
      data: buf.subarray(off + NLMSG_HDRLEN, off + length),
    });
    off += (length + 3) & ~3;
  }
  return { messages, malformed: off < buf.length };
}

/** How one request's answer ended: its messages (none for a plain ACK), or an errno. */
export type Settled = { messages: RawMessage[] } | { errno: number; detail?: string };

/**
 * Take one message of a request's answer (matched by sequence number) into `parts`. Returns how the
 * answer ended once it has: NLMSG_ERROR (an errno, or 0: the ACK, ending with the parts so far),
 * NLMSG_DONE (the end of a multipart dump; a negative int in it is the dump's error), or a message
 * without NLM_F_MULTI (a single answer, e.g. a GET of one object: the ACK that follows it is then
 * for a request no longer waiting, and dropped). Undefined while the answer goes on.
 */
export function takeMessage(parts: RawMessage[], m: RawMessage): Settled | undefined {
  switch (m.type) {
    case NLMSG.ERROR: {
      if (m.data.length < 4) return { errno: osConstants.errno.EPROTO, detail: "malformed error message" };
      const errno = -readS32(m.data, 0);
      return errno === 0 ? { messages: parts } : { errno };
    }
    case NLMSG.DONE: {
      const status = m.data.length >= 4 ? readS32(m.data, 0) : 0;
      return status < 0 ? { errno: -status, detail: "dump failed" } : { messages: parts };
    }
    case NLMSG.NOOP:
    case NLMSG.OVERRUN:
      return undefined;
    default:
      parts.push(m);
      return (m.flags & NLM_F_MULTI) !== 0 ? undefined : { messages: parts };
  }
}
