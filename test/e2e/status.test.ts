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
