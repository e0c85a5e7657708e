/** CNI STATUS end to end, in a node namespace: ready, and each way of not being ready (code 50). */
import assert from "node:assert/strict";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { test } from "node:test";
import { cniWorld, errorJson, runCni, successEmpty, successJson } from "../helpers/binary";
import { netnsUnavailable } from "../helpers/netns";

const skip = netnsUnavailable();

test("STATUS: ready, then not ready for a taken bridge name, an exhausted pool, an unwritable store", { skip, timeout: 300_000 }, (t) => {
  const w = cniWorld(t, { label: "status", ranges: [[{ subnet: "10.63.0.0/30" }]] });
  const status = (conf: Record<string, unknown>) => runCni({ command: "STATUS", containerId: "", netns: "", ifname: "", config: conf, inNetns: w.node.name });
  const conf = w.conf("1.1.0", { ipMasq: true });
  successEmpty(status(conf));

  w.node.exec(["ip", "link", "add", w.bridge, "type", "veth", "peer", "name", `${w.bridge}p`]);
  const taken = errorJson(status(conf));
  assert.equal(taken.code, 50);
  assert.match(taken.msg, /not a bridge/);
  w.node.exec(["ip", "link", "del", w.bridge]);

  // A /30 has one address besides the gateway: one ADD exhausts it.
  successJson(w.cni("ADD", w.container("s1"), conf));
  const full = errorJson(status(conf));
  assert.equal(full.code, 50);
  assert.match(full.msg, /pool exhausted: range set 0/);

  const dir = mkdtempSync(join(tmpdir(), "tether-status-"));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  writeFileSync(join(dir, "file"), "");
  const unwritable = errorJson(status(w.conf("1.1.0", {}, { dataDir: join(dir, "file", "sub") })));
  assert.equal(unwritable.code, 50);
  assert.match(unwritable.msg, /not writable/);

  const old = errorJson(status({ ...conf, cniVersion: "1.0.0" }));
  assert.equal(old.code, 1, "STATUS needs cniVersion 1.1.0");
});

test("ranges only in runtimeConfig.ipRanges: ADD with them; STATUS, GC and DEL of tether without runtimeConfig", { skip, timeout: 300_000 }, (t) => {
  const w = cniWorld(t, { label: "rtranges" });
  const conf = w.conf("1.1.0", { isGateway: true });
  conf["ipam"] = { type: "tether-ipam", dataDir: w.dataDir };
  const withRanges = { ...conf, runtimeConfig: { ipRanges: [[{ subnet: "10.64.0.0/24" }]] } };
  const [c1, c2] = [w.container("r1"), w.container("r2")];
  const add = successJson<{ ips: { address: string }[] }>(w.cni("ADD", c1, withRanges));
  assert.deepEqual(add.ips.map((i) => i.address), ["10.64.0.2/24"]);
  successJson(w.cni("ADD", c2, withRanges));
  assert.equal(errorJson(w.cni("ADD", w.container("r3"), conf)).code, 7, "ADD needs ranges");

  successEmpty(runCni({ command: "STATUS", containerId: "", netns: "", ifname: "", config: conf, inNetns: w.node.name }));
  const valid = [{ containerID: w.containerId(c1), ifname: "eth0" }];
  successEmpty(runCni({ command: "GC", containerId: "", netns: "", ifname: "", config: { ...conf, "cni.dev/valid-attachments": valid }, inNetns: w.node.name }));
  assert.deepEqual([...w.reservations().values()], [`${w.containerId(c1)}\r\neth0`], "GC released c2's address");
  successEmpty(w.cni("DEL", c1, conf));
  assert.equal(w.reservations().size, 0, "DEL without runtimeConfig released c1's address");
  assert.equal(c1.hasLink("eth0"), false);
});

test("STATUS with a delegated IPAM missing from CNI_PATH: code 50, the delegate's code in details", { skip, timeout: 300_000 }, (t) => {
  const w = cniWorld(t, { label: "statusdeleg" });
  const dir = mkdtempSync(join(tmpdir(), "tether-status-path-"));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  const conf = { cniVersion: "1.1.0", name: w.network, type: "tether", bridge: w.bridge, ipam: { type: "no-such-ipam" } };
  const err = errorJson(runCni({ command: "STATUS", containerId: "", netns: "", ifname: "", config: conf, cniPath: dir, inNetns: w.node.name }));
  assert.equal(err.code, 50);
  assert.match(err.msg, /no-such-ipam.*not found in CNI_PATH/);
  assert.match(err.details ?? "", /code 7/);
});
