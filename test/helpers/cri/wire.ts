/**
 * A minimal protobuf codec for the CRI messages the tests use, on protobufjs' Reader/Writer. Messages
 * are described as lists of fields by number (the CRI runtime.v1 API's numbers, written down in
 * messages.ts), so no .proto file is needed.
 */
import protobuf from "protobufjs/minimal";

export type FieldValue =
  | { kind: "string"; value: string }
  | { kind: "varint"; value: number | boolean }
  | { kind: "message"; value: Field[] };

export type Field = [number, FieldValue];

export const str = (no: number, value: string | undefined): Field[] => (value === undefined || value === "" ? [] : [[no, { kind: "string", value }]]);
export const strs = (no: number, values: readonly string[] | undefined): Field[] => (values ?? []).map((value) => [no, { kind: "string", value }]);
export const int = (no: number, value: number | boolean | undefined): Field[] => (value === undefined || value === 0 || value === false ? [] : [[no, { kind: "varint", value }]]);
export const msg = (no: number, value: Field[] | undefined): Field[] => (value === undefined ? [] : [[no, { kind: "message", value }]]);
export const msgs = (no: number, values: readonly Field[][] | undefined): Field[] => (values ?? []).map((value) => [no, { kind: "message", value }]);
/** map<string, string>: repeated entries of {1: key, 2: value}. */
export const map = (no: number, m: Record<string, string> | undefined): Field[] =>
  Object.entries(m ?? {}).map(([k, v]) => [no, { kind: "message", value: [...str(1, k), [2, { kind: "string", value: v }]] }]);

function write(w: protobuf.Writer, fields: Field[]): protobuf.Writer {
  for (const [no, f] of fields) {
    if (f.kind === "string") w.uint32((no << 3) | 2).string(f.value);
    else if (f.kind === "varint") w.uint32(no << 3).int64(typeof f.value === "boolean" ? (f.value ? 1 : 0) : f.value);
    else write(w.uint32((no << 3) | 2).fork(), f.value).ldelim();
  }
  return w;
}

export function encode(fields: Field[]): Buffer {
  return Buffer.from(write(protobuf.Writer.create(), fields).finish());
}

/** A decoded message: each field number's values in order (varints as numbers, the rest as bytes). */
export class Decoded {
  constructor(private readonly fields: Map<number, (number | Uint8Array)[]>) {}

  static from(buf: Uint8Array): Decoded {
    const r = protobuf.Reader.create(buf);
    const fields = new Map<number, (number | Uint8Array)[]>();
    while (r.pos < r.len) {
      const tag = r.uint32();
      const no = tag >>> 3;
      const wire = tag & 7;
      let v: number | Uint8Array;
      if (wire === 0) v = Number(r.int64().toString());
      else if (wire === 2) v = r.bytes();
      else {
        r.skipType(wire);
        continue;
      }
      const list = fields.get(no) ?? [];
      list.push(v);
      fields.set(no, list);
    }
    return new Decoded(fields);
  }

  private bytesOf(no: number): Uint8Array[] {
    return (this.fields.get(no) ?? []).filter((v): v is Uint8Array => v instanceof Uint8Array);
  }

  str(no: number): string {
    return this.strs(no)[0] ?? "";
  }

  strs(no: number): string[] {
    return this.bytesOf(no).map((b) => Buffer.from(b).toString("utf8"));
  }

  bytes(no: number): Buffer {
    return Buffer.from(this.bytesOf(no)[0] ?? new Uint8Array());
  }

  int(no: number): number {
    const v = this.fields.get(no)?.[0];
    return typeof v === "number" ? v : 0;
  }

  bool(no: number): boolean {
    return this.int(no) !== 0;
  }

  msg(no: number): Decoded {
    return Decoded.from(this.bytesOf(no)[0] ?? new Uint8Array());
  }

  msgs(no: number): Decoded[] {
    return this.bytesOf(no).map((b) => Decoded.from(b));
  }

  map(no: number): Record<string, string> {
    return Object.fromEntries(this.msgs(no).map((e) => [e.str(1), e.str(2)]));
  }
}
