/**
 * Raw netlink attribute (TLV) encoding and decoding, on top of the `netlink` package's struct helpers,
 * for what its typed attributes lack: nested attributes need NLA_F_NESTED, which the package's typed
 * formatters never set. Every encoded attribute is padded to 4 bytes, so pieces concatenate safely.
 */
import { netlinkStructs } from "./rtnl";

/** One encoded attribute, or several in a row: a list of buffers. */
export type Encoded = Uint8Array[];

export function attrBytes(type: number, data: Uint8Array | Uint8Array[]): Encoded {
  const nl = netlinkStructs();
  return nl.pad(nl.formatAttribute({ type, data }));
}

export function attrU8(type: number, value: number): Encoded {
  return attrBytes(type, netlinkStructs().putU8(value));
}

export function attrU16(type: number, value: number): Encoded {
  return attrBytes(type, netlinkStructs().putU16(value));
}

export function attrU32(type: number, value: number): Encoded {
  return attrBytes(type, netlinkStructs().putU32(value));
}

/** A NUL-terminated string attribute. */
export function attrString(type: number, value: string): Encoded {
  return attrBytes(type, Buffer.from(`${value}\0`, "utf8"));
}

/** A nested attribute (NLA_F_NESTED set) holding `children` in order; undefined children are skipped. */
export function attrNested(type: number, ...children: (Encoded | undefined)[]): Encoded {
  const nl = netlinkStructs();
  const data = children.flatMap((c) => c ?? []);
  return nl.pad(nl.formatAttribute({ type, nested: true, data }));
}

/** The attributes in `buf` by type (the last one wins for a repeated type). */
export function parseAttrMap(buf: Buffer): Map<number, Buffer> {
  const map = new Map<number, Buffer>();
  netlinkStructs().parseAttributes(buf, (a) => map.set(a.type, a.data));
  return map;
}

/** Every attribute in `buf`, repeated types included, in order. */
export function parseAttrList(buf: Buffer): { type: number; data: Buffer }[] {
  const list: { type: number; data: Buffer }[] = [];
  netlinkStructs().parseAttributes(buf, (a) => list.push({ type: a.type, data: a.data }));
  return list;
}

/** A NUL-terminated string attribute's value. */
export function readString(buf: Buffer): string {
  const end = buf.indexOf(0);
  return buf.toString("utf8", 0, end === -1 ? buf.length : end);
}

export function readU8(buf: Buffer): number {
  return netlinkStructs().getU8(buf.subarray(0, 1));
}

export function readU16(buf: Buffer): number {
  return netlinkStructs().getU16(buf.subarray(0, 2));
}

export function readU32(buf: Buffer): number {
  return netlinkStructs().getU32(buf.subarray(0, 4));
}

export function readS32(buf: Buffer): number {
  return netlinkStructs().getS32(buf.subarray(0, 4));
}
