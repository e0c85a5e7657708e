/**
 * Raw netlink attribute (TLV) encoding and decoding: struct nlattr { u16 len; u16 type; } then the
 * value, in host byte order. Nested attributes carry NLA_F_NESTED. Every encoded attribute is padded
 * to 4 bytes, so pieces concatenate safely.
 */
import { readS32 as s32At, readU16 as u16At, readU32 as u32At, writeU16, writeU32 } from "./nlmsg";

/** One encoded attribute, or several in a row: a list of buffers. */
export type Encoded = Uint8Array[];

const NLA_HDRLEN = 4;
const NLA_F_NESTED = 0x8000;
/** The type bits of nla_type (NLA_F_NESTED and NLA_F_NET_BYTEORDER are the two above them). */
const NLA_TYPE_MASK = 0x3fff;

function attr(type: number, data: readonly Uint8Array[]): Encoded {
  let length = NLA_HDRLEN;
  for (const d of data) length += d.length;
  if (length >= 0x10000) throw new Error(`netlink attribute ${type & NLA_TYPE_MASK} too long (${length} bytes)`);
  const header = Buffer.alloc(NLA_HDRLEN);
  writeU16(header, length, 0);
  writeU16(header, type, 2);
  const out: Encoded = [header, ...data];
  const pad = -length & 3;
  if (pad !== 0) out.push(Buffer.alloc(pad));
  return out;
}

export function attrBytes(type: number, data: Uint8Array | Uint8Array[]): Encoded {
  return attr(type & NLA_TYPE_MASK, Array.isArray(data) ? data : [data]);
}

export function attrU8(type: number, value: number): Encoded {
  return attrBytes(type, Buffer.of(value));
}

export function attrU16(type: number, value: number): Encoded {
  return attrBytes(type, u16(value));
}

export function attrU32(type: number, value: number): Encoded {
  const b = Buffer.alloc(4);
  writeU32(b, value, 0);
  return attrBytes(type, b);
}

/** A 2-byte value in host order (a piece of an attribute's value). */
export function u16(value: number): Buffer {
  const b = Buffer.alloc(2);
  writeU16(b, value, 0);
  return b;
}

/** A NUL-terminated string attribute. */
export function attrString(type: number, value: string): Encoded {
  return attrBytes(type, Buffer.from(`${value}\0`, "utf8"));
}

/** A nested attribute (NLA_F_NESTED set) holding `children` in order; undefined children are skipped. */
export function attrNested(type: number, ...children: (Encoded | undefined)[]): Encoded {
  return attr((type & NLA_TYPE_MASK) | NLA_F_NESTED, children.flatMap((c) => c ?? []));
}

/** Calls `fn` for each attribute in `buf`; throws on an attribute whose length does not fit. */
function eachAttr(buf: Buffer, fn: (type: number, data: Buffer) => void): void {
  let off = 0;
  while (off < buf.length) {
    if (buf.length - off < NLA_HDRLEN) throw new Error(`truncated netlink attribute (${buf.length - off} bytes)`);
    const length = u16At(buf, off);
    if (length < NLA_HDRLEN || off + length > buf.length) throw new Error(`invalid netlink attribute length (${length})`);
    fn(u16At(buf, off + 2) & NLA_TYPE_MASK, buf.subarray(off + NLA_HDRLEN, off + length));
    off += (length + 3) & ~3;
  }
}

/** The attributes in `buf` by type (the last one wins for a repeated type). */
export function parseAttrMap(buf: Buffer): Map<number, Buffer> {
  const map = new Map<number, Buffer>();
  eachAttr(buf, (type, data) => map.set(type, data));
  return map;
}

/** Every attribute in `buf`, repeated types included, in order. */
export function parseAttrList(buf: Buffer): { type: number; data: Buffer }[] {
  const list: { type: number; data: Buffer }[] = [];
  eachAttr(buf, (type, data) => list.push({ type, data }));
  return list;
}

/** A NUL-terminated string attribute's value. */
export function readString(buf: Buffer): string {
  const end = buf.indexOf(0);
  return buf.toString("utf8", 0, end === -1 ? buf.length : end);
}

/** The value of a fixed-size attribute; a value of another size is malformed (throws). */
function sized(buf: Buffer, size: number): Buffer {
  if (buf.length !== size) throw new Error(`netlink attribute of ${buf.length} bytes where ${size} were expected`);
  return buf;
}

export function readU8(buf: Buffer): number {
  return sized(buf.subarray(0, 1), 1)[0]!;
}

export function readU16(buf: Buffer): number {
  return u16At(sized(buf.subarray(0, 2), 2), 0);
}

export function readU32(buf: Buffer): number {
  return u32At(sized(buf.subarray(0, 4), 4), 0);
}

export function readS32(buf: Buffer): number {
  return s32At(sized(buf.subarray(0, 4), 4), 0);
}
