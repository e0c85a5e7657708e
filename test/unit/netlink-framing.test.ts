/**
 * Netlink framing and attributes (src/netlink/nlmsg.ts, nlattr.ts, msg.ts): pure, no socket. The
 * bytes are checked against the layouts of linux/netlink.h and linux/rtnetlink.h.
 */
import assert from "node:assert/strict";
import { describe, test } from "node:test";
import { constants as osConstants } from "node:os";
import fc from "fast-check";
import { NLMSG, NLM_F_MULTI, type RawMessage, encodeMessage, parseDatagram, takeMessage } from "../../src/netlink/nlmsg";
import { attrBytes, attrNested, attrString, attrU16, attrU32, attrU8, parseAttrList, parseAttrMap, readS32, readString, readU16, readU32, readU8 } from "../../src/netlink/nlattr";
import { ifaddrmsg, ifinfomsg, parseIfaddrmsg, parseIfinfomsg, parseRtmsg, rtmsg } from "../../src/netlink/msg";

const cat = (parts: Uint8Array[]): Buffer => Buffer.concat(parts);

/** A kernel message as it arrives: header then payload, padded to 4 bytes. */
function kernelMessage(type: number, flags: number, seq: number, data: Buffer): Buffer {
  const m = encodeMessage(type, flags, seq, [data]);
  m.writeUInt32LE(4242, 12); // the kernel puts our port in
  return Buffer.concat([m, Buffer.alloc(-m.length & 3)]);
}

function errorMessage(seq: number, errno: number): Buffer {
  const body = Buffer.alloc(20);
  body.writeInt32LE(-errno, 0);
  return kernelMessage(NLMSG.ERROR, 0, seq, body);
}

const one = (buf: Buffer): RawMessage => {
  const { messages, malformed } = parseDatagram(buf);
  assert.equal(malformed, false);
  assert.equal(messages.length, 1);
  return messages[0]!;
};

describe("netlink messages", () => {
  test("a request's header: length, type, flags, seq, port 0, then the payload", () => {
    const m = encodeMessage(26, 0x305, 7, [Buffer.from([1, 2, 3]), Buffer.from([4])]);
    assert.equal(m.length, 20);
    assert.deepEqual([m.readUInt32LE(0), m.readUInt16LE(4), m.readUInt16LE(6), m.readUInt32LE(8), m.readUInt32LE(12)], [20, 26, 0x305, 7, 0]);
    assert.deepEqual([...m.subarray(16)], [1, 2, 3, 4]);
  });

  test("a datagram of several messages, each padded to 4 bytes; a header that overruns is reported", () => {
    const a = kernelMessage(16, NLM_F_MULTI, 3, Buffer.from([9, 9, 9]));
    const b = kernelMessage(NLMSG.DONE, NLM_F_MULTI, 3, Buffer.alloc(4));
    const { messages, malformed } = parseDatagram(Buffer.concat([a, b]));
    assert.equal(malformed, false);
    assert.deepEqual(messages.map((m) => [m.type, m.flags, m.seq, m.port, [...m.data]]), [
      [16, NLM_F_MULTI, 3, 4242, [9, 9, 9]],
      [NLMSG.DONE, NLM_F_MULTI, 3, 4242, [0, 0, 0, 0]],
    ]);
    const bad = Buffer.from(a);
    bad.writeUInt32LE(400, 0);
    assert.deepEqual(parseDatagram(Buffer.concat([b, bad])).malformed, true);
    assert.equal(parseDatagram(Buffer.concat([b, bad])).messages.length, 1);
    assert.equal(parseDatagram(Buffer.alloc(8)).malformed, true, "fewer bytes than a header");
  });

  test("an answer ends with the ACK, an errno, DONE (a negative int in it is the dump's error) or a single message", () => {
    assert.deepEqual(takeMessage([], one(errorMessage(1, 0))), { messages: [] });
    assert.deepEqual(takeMessage([], one(errorMessage(1, osConstants.errno.EEXIST))), { errno: osConstants.errno.EEXIST });
    assert.deepEqual(takeMessage([], one(kernelMessage(NLMSG.ERROR, 0, 1, Buffer.alloc(2)))), { errno: osConstants.errno.EPROTO, detail: "malformed error message" });

    const parts: RawMessage[] = [];
    assert.equal(takeMessage(parts, one(kernelMessage(24, NLM_F_MULTI, 5, Buffer.alloc(12)))), undefined);
    assert.equal(takeMessage(parts, one(kernelMessage(24, NLM_F_MULTI, 5, Buffer.alloc(12)))), undefined);
    assert.equal(takeMessage(parts, one(kernelMessage(NLMSG.NOOP, 0, 5, Buffer.alloc(0)))), undefined, "NOOP is skipped");
    const done = takeMessage(parts, one(kernelMessage(NLMSG.DONE, NLM_F_MULTI, 5, Buffer.alloc(4))));
    assert.ok(done !== undefined && "messages" in done && done.messages.length === 2 && done.messages.every((m) => m.type === 24));

    const failed = Buffer.alloc(4);
    failed.writeInt32LE(-osConstants.errno.EINTR, 0);
    assert.deepEqual(takeMessage([], one(kernelMessage(NLMSG.DONE, NLM_F_MULTI, 5, failed))), { errno: osConstants.errno.EINTR, detail: "dump failed" });

    const single = takeMessage([], one(kernelMessage(16, 0, 9, Buffer.alloc(16))));
    assert.ok(single !== undefined && "messages" in single && single.messages.length === 1 && single.messages[0]!.type === 16);
  });
});

describe("netlink attributes", () => {
  test("struct nlattr: length without padding, type, value, zero padding to 4 bytes", () => {
    assert.deepEqual([...cat(attrU8(3, 7))], [5, 0, 3, 0, 7, 0, 0, 0]);
    assert.deepEqual([...cat(attrU16(0x4003, 0x0102))], [6, 0, 3, 0, 2, 1, 0, 0], "type bits only");
    assert.deepEqual([...cat(attrU32(1, 0x01020304))], [8, 0, 1, 0, 4, 3, 2, 1]);
    assert.deepEqual([...cat(attrString(3, "ab"))], [7, 0, 3, 0, 0x61, 0x62, 0, 0]);
    assert.deepEqual([...cat(attrNested(18, attrU8(1, 1), undefined, attrU16(2, 2)))], [20, 0, 18, 0x80, 5, 0, 1, 0, 1, 0, 0, 0, 6, 0, 2, 0, 2, 0, 0, 0]);
    assert.throws(() => attrBytes(1, Buffer.alloc(0x10000)), /too long/);
  });

  test("parse: by type (last wins) and in order; flags are not part of the type; a bad length throws", () => {
    const buf = cat([...attrU32(1, 10), ...attrNested(2, attrU8(1, 5)), ...attrU32(1, 11), ...attrString(3, "eth0")]);
    const map = parseAttrMap(buf);
    assert.deepEqual([...map.keys()], [1, 2, 3]);
    assert.equal(readU32(map.get(1)!), 11);
    assert.equal(readString(map.get(3)!), "eth0");
    assert.equal(readU8(parseAttrMap(map.get(2)!).get(1)!), 5);
    assert.deepEqual(parseAttrList(buf).map((a) => a.type), [1, 2, 1, 3]);
    const bad = Buffer.from(buf);
    bad.writeUInt16LE(200, 0);
    assert.throws(() => parseAttrMap(bad), /invalid netlink attribute length/);
    assert.throws(() => readU32(Buffer.alloc(2)), /2 bytes where 4/);
  });

  test("encode then parse gives the values back (property)", () => {
    fc.assert(
      fc.property(fc.array(fc.tuple(fc.integer({ min: 0, max: 0x3fff }), fc.integer({ min: -0x80000000, max: 0x7fffffff }), fc.uint8Array({ maxLength: 40 }))), (items) => {
        const buf = cat(items.flatMap(([type, n, bytes]) => [...attrU32(type, n >>> 0), ...attrBytes(type, bytes)]));
        const list = parseAttrList(buf);
        assert.equal(list.length, items.length * 2);
        items.forEach(([type, n, bytes], i) => {
          assert.equal(list[2 * i]!.type, type);
          assert.equal(readS32(list[2 * i]!.data), n);
          assert.deepEqual([...list[2 * i + 1]!.data], [...bytes]);
        });
      }),
    );
    assert.equal(readU16(cat(attrU16(1, 0xfffe)).subarray(4, 6)), 0xfffe);
  });
});

describe("rtnetlink headers", () => {
  test("ifinfomsg, ifaddrmsg and rtmsg at their kernel offsets", () => {
    const ifi = ifinfomsg({ family: 7, index: 12, flags: 0x101, change: 0x1 });
    assert.deepEqual([ifi.length, ifi[0], ifi.readInt32LE(4), ifi.readUInt32LE(8), ifi.readUInt32LE(12)], [16, 7, 12, 0x101, 1]);
    assert.deepEqual(parseIfinfomsg(ifi), { family: 7, index: 12, flags: 0x101, change: 1 });
    const ifa = ifaddrmsg({ family: 2, prefixLen: 24, flags: 0x180, scope: 253, index: 3 });
    assert.deepEqual([...ifa], [2, 24, 0x80, 253, 3, 0, 0, 0]);
    assert.deepEqual(parseIfaddrmsg(ifa), { family: 2, prefixLen: 24, flags: 0x80, scope: 253, index: 3 });
    const rt = rtmsg({ family: 10, dstLen: 64, table: 254, protocol: 152, scope: 0, type: 1, flags: 0x200 });
    assert.deepEqual([...rt.subarray(0, 8)], [10, 64, 0, 0, 254, 152, 0, 1]);
    assert.deepEqual(parseRtmsg(rt), { family: 10, dstLen: 64, srcLen: 0, tos: 0, table: 254, protocol: 152, scope: 0, type: 1, flags: 0x200 });
  });
});
