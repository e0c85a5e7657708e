/** The CRI test client's hand-written protobuf codec (test/helpers/cri/wire.ts), and what kubelet's path sends tether. */
import assert from "node:assert/strict";
import { test } from "node:test";
import protobuf from "protobufjs/minimal";
import { loadNetConf } from "../../src/config/netconf";
import { Decoded, encode, int, map, msg, msgs, str, strs } from "../helpers/cri/wire";

test("wire: strings, varints, nested and repeated messages, maps round-trip", () => {
  const buf = encode([
    ...str(1, "pod-a"),
    ...int(4, 3),
    ...int(2, true),
    ...strs(3, ["a", "b"]),
    ...msg(5, [...str(1, "10.0.0.2"), ...msgs(2, [str(1, "fd00::2")])]),
    ...map(7, { k1: "v1", k2: "" }),
    ...str(9, ""), // default values are not on the wire (proto3)
    ...int(10, 0),
  ]);
  const d = Decoded.from(buf);
  assert.equal(d.str(1), "pod-a");
  assert.equal(d.int(4), 3);
  assert.equal(d.bool(2), true);
  assert.deepEqual(d.strs(3), ["a", "b"]);
  assert.equal(d.msg(5).str(1), "10.0.0.2");
  assert.deepEqual(d.msg(5).msgs(2).map((m) => m.str(1)), ["fd00::2"]);
  assert.deepEqual(d.map(7), { k1: "v1", k2: "" });
  assert.equal(d.str(9), "");
  assert.equal(d.int(10), 0);
  assert.equal(d.msg(11).str(1), "", "an absent message reads as empty");
});

test("wire: the bytes are protobuf's (tag, length, UTF-8), and unknown wire types are skipped", () => {
  assert.deepEqual([...encode(str(1, "é"))], [0x0a, 0x02, 0xc3, 0xa9]);
  assert.deepEqual([...encode(int(3, 300))], [0x18, 0xac, 0x02]);
  const w = protobuf.Writer.create();
  w.uint32((6 << 3) | 1).fixed64(7); // a fixed64 field this codec does not read
  w.uint32((1 << 3) | 2).string("kept");
  assert.equal(Decoded.from(w.finish()).str(1), "kept");
});

test("a config as containerd sends it: runtimeConfig keys tether has no use for are accepted", () => {
  const conf = loadNetConf({
    cniVersion: "1.0.0",
    name: "k8s-pod-network",
    type: "tether",
    capabilities: { "io.kubernetes.cri.pod-annotations": true, bandwidth: true, portMappings: true },
    runtimeConfig: {
      "io.kubernetes.cri.pod-annotations": { "kubernetes.io/ingress-bandwidth": "10M" },
      bandwidth: { ingressRate: 10_000_000, ingressBurst: 2_147_483_647 },
      portMappings: [{ hostPort: 30081, containerPort: 8080, protocol: "tcp" }],
    },
    ipam: { type: "tether-ipam", ranges: [[{ subnet: "10.244.0.0/24" }]] },
  });
  assert.equal(conf.name, "k8s-pod-network");
});
