/**
 * GC and the attachment locks, on a fake kernel and firewall with the real built-in IPAM on a temp
 * store and a temporary lock root: a stale attachment whose lock a call holds keeps everything
 * (reservation, rule, host veth, record), and so does one whose ADD began after the GC; what goes
 * by tag is spared while a running call names it; the lock holder's key; a delegate's list.
 */
import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { mkdtempSync, rmSync, utimesSync, writeFileSync, mkdirSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, it, test } from "node:test";
import { makePtpHandlers } from "../../src/plugins/ptp/index";
import { gcEnv } from "../../src/plugins/gc";
import { attachmentLockPath, heldLockKeys, parseHolderKey, tryAttachmentLock, withAttachmentLock } from "../../src/plugins/attachmentLock";
import { intentPath, recordFileTag, recordPath, recordTagsWhere, recordTimes } from "../../src/attach/attachmentRecord";
import { attachmentTag } from "../../src/firewall/key";
import { withKept } from "../../src/ipam/plugin/choice";
import { FAKE_NETNS as NETNS, fakeWorlds } from "../helpers/fakeKernel";
import { addressFiles } from "../helpers/ipamFixtures";
import { invocation } from "../helpers/invocation";

const WORKER = join(__dirname, "..", "helpers", "lockWorker.js");

function config(dataDir: string, extra: Record<string, unknown> = {}): Record<string, unknown> {
  return {
    cniVersion: "1.1.0",
    name: "gcnet",
    type: "tether",
    mode: "ptp",
    ipMasq: true,
    ipam: { type: "tether-ipam", dataDir, ranges: [[{ subnet: "10.9.0.0/24" }]] },
    ...extra,
  };
}

const setup = fakeWorlds("tether-gc-locks-", (k) => makePtpHandlers(() => k, () => k.firewall));
const key = (containerId: string) => ({ network: "gcnet", containerId, ifname: "eth0" });

/** Hold an attachment's lock from another process, as a running call does, until the returned function is called. */
async function hold(t: { after(fn: () => Promise<void> | void): void }, root: string, containerId: string): Promise<() => Promise<void>> {
  const child = spawn(process.execPath, [WORKER, "hold", root, "gcnet", containerId], { stdio: ["pipe", "pipe", "inherit"] });
  const closed = new Promise<void>((resolve) => child.on("close", () => resolve()));
  t.after(async () => {
    child.kill("SIGKILL");
    await closed;
  });
  await new Promise<void>((resolve, reject) => {
    child.stdout.once("data", () => resolve());
    child.once("close", () => reject(new Error("the lock holder exited")));
  });
  return async () => {
    child.stdin.end();
    await closed;
  };
}

/** Run GC in this process as if it had started at `since` (default: after every ADD so far). */
async function withGcEnv<T>(lockRoot: string, fn: () => Promise<T>, since = Number.POSITIVE_INFINITY): Promise<T> {
  const saved = { ...gcEnv };
  Object.assign(gcEnv, { since: () => since, lockRoot });
  try {
    return await fn();
  } finally {
    Object.assign(gcEnv, saved);
  }
}

describe("GC takes each stale attachment's lock", () => {
  it("skips an attachment whose lock a call holds (all of it stays), removes the others, and takes it once the call is gone", async (t) => {
    const { k, dataDir, h } = setup();
    const lockRoot = join(dataDir, "locks");
    k.addNs("/var/run/netns/c2");
    await h.add(invocation("ADD", config(dataDir), { netns: NETNS, containerId: "c1" }));
    await h.add(invocation("ADD", config(dataDir), { netns: "/var/run/netns/c2", containerId: "c2" }));
    const gcConf = { ...config(dataDir), "cni.dev/valid-attachments": [] };
    const release = await hold(t, lockRoot, "c1");
    assert.deepEqual(heldLockKeys("gcnet", new Set(), lockRoot), [key("c1")], "the holder's key, written in its lock file");
    await withGcEnv(lockRoot, () => h.gc(invocation("GC", gcConf)));
    assert.deepEqual(k.firewall.rules.map((r) => r.key.containerId), ["c1"], "c1's rule stays, c2's goes");
    assert.deepEqual([...addressFiles(dataDir, "gcnet").values()].map((v) => v.split("\r\n")[0]), ["c1"], "c1's reservation stays");
    const hostVeths = [...k.spaces.get("<host>")!.links.values()].filter((l) => l.kind === "veth");
    assert.equal(hostVeths.length, 1, "c1's host veth stays");
    assert.equal(hostVeths[0]!.alias?.endsWith(attachmentTag(key("c1"))), true);
    assert.ok(recordTimes(dataDir, key("c1")).length > 0, "c1's record stays");
    assert.deepEqual(recordTimes(dataDir, key("c2")), [], "c2's record goes");

    await release();
    await withGcEnv(lockRoot, () => h.gc(invocation("GC", gcConf)));
    assert.deepEqual(k.firewall.rules, []);
    assert.equal(addressFiles(dataDir, "gcnet").size, 0);
    assert.equal([...k.spaces.get("<host>")!.links.values()].filter((l) => l.kind === "veth").length, 0);
    assert.deepEqual(recordTimes(dataDir, key("c1")), []);
  });

  it("more stale attachments than it locks at once: every batch goes whole, a held one among them stays", async (t) => {
    const { k, dataDir, h } = setup();
    const lockRoot = join(dataDir, "locks");
    const n = 70;
    for (let i = 0; i < n; i++) {
      k.addNs(`/var/run/netns/b${i}`);
      await h.add(invocation("ADD", config(dataDir, { ipam: { type: "tether-ipam", dataDir, ranges: [[{ subnet: "10.9.0.0/24" }]] } }), { netns: `/var/run/netns/b${i}`, containerId: `b${i}` }));
    }
    const release = await hold(t, lockRoot, "b42");
    await withGcEnv(lockRoot, () => h.gc(invocation("GC", { ...config(dataDir), "cni.dev/valid-attachments": [] })));
    assert.deepEqual(k.firewall.rules.map((r) => r.key.containerId), ["b42"]);
    assert.deepEqual([...addressFiles(dataDir, "gcnet").values()].map((v) => v.split("\r\n")[0]), ["b42"]);
    assert.equal([...k.spaces.get("<host>")!.links.values()].filter((l) => l.kind === "veth").length, 1);
    for (let i = 0; i < n; i++) assert.equal(recordTimes(dataDir, key(`b${i}`)).length > 0, i === 42, `record of b${i}`);
    await release();
  });

  it("skips an attachment whose ADD began or ended after the GC started (newer than its list)", async () => {
    const { k, dataDir, h } = setup();
    const lockRoot = join(dataDir, "locks");
    k.addNs("/var/run/netns/c2");
    await h.add(invocation("ADD", config(dataDir), { netns: NETNS, containerId: "old" }));
    await h.add(invocation("ADD", config(dataDir), { netns: "/var/run/netns/c2", containerId: "new" }));
    // The GC "starts" a minute from now: "new" is made newer still (file times are all GC looks at).
    const since = Date.now() + 60_000;
    utimesSync(recordPath(dataDir, key("new")), (since + 60_000) / 1000, (since + 60_000) / 1000);
    await withGcEnv(lockRoot, () => h.gc(invocation("GC", { ...config(dataDir), "cni.dev/valid-attachments": [] })), since);
    assert.deepEqual(k.firewall.rules.map((r) => r.key.containerId), ["new"]);
    assert.deepEqual([...addressFiles(dataDir, "gcnet").values()].map((v) => v.split("\r\n")[0]), ["new"]);
    assert.deepEqual(recordTimes(dataDir, key("old")), []);
  });

  it("what only a tag names (a rule with no record) is spared while a running call names it", async (t) => {
    const { k, dataDir, h } = setup();
    const lockRoot = join(dataDir, "locks");
    k.firewall.rules.push({ kind: "masquerade", key: key("orphan") }, { kind: "masquerade", key: key("running") });
    const release = await hold(t, lockRoot, "running");
    await withGcEnv(lockRoot, () => h.gc(invocation("GC", { ...config(dataDir), "cni.dev/valid-attachments": [] })));
    assert.deepEqual(k.firewall.rules.map((r) => r.key.containerId), ["running"]);
    await release();
  });
});

test("GC of what a previous tether left: records in its format, an unlabelled host veth a record names, an id-only reservation, a lock held without a key", async (t) => {
  const { k, dataDir, h } = setup();
  const lockRoot = join(dataDir, "locks");
  const recDir = join(dataDir, ".tether-attachments", "gcnet");
  mkdirSync(recDir, { recursive: true, mode: 0o700 });
  mkdirSync(join(dataDir, "gcnet"), { recursive: true });
  const plantRecord = (id: string, hostIfname: string): void => {
    // Byte for byte what tether wrote since records exist (JSON.stringify of the record, newline).
    writeFileSync(recordPath(dataDir, key(id)), `{"network":"gcnet","containerId":"${id}","ifname":"eth0","netns":"/var/run/netns/${id}","hostIfname":"${hostIfname}"}\n`, { mode: 0o600 });
  };
  plantRecord("oldrec", "veth0ld00001");
  plantRecord("busy", "veth0ld00002");
  writeFileSync(join(dataDir, "gcnet", "10.9.0.7"), "oldrec\r\neth0");
  writeFileSync(join(dataDir, "gcnet", "10.9.0.8"), "busy\r\neth0");
  writeFileSync(join(dataDir, "gcnet", "10.9.0.9"), "legacy"); // host-local before ifname was written
  const host = k.spaces.get("<host>")!;
  host.links.set(50, { index: 50, name: "veth0ld00001", kind: "veth", mtu: 1500, up: true, promisc: false, peerIndex: 2, peerNetnsId: 1 });
  // A call of a tether that wrote no key in its lock file, still running.
  const busy = tryAttachmentLock(key("busy"), { root: lockRoot });
  assert.ok(busy !== undefined);
  t.after(() => busy.release());
  await withGcEnv(lockRoot, () => h.gc(invocation("GC", { ...config(dataDir), "cni.dev/valid-attachments": [] })));
  assert.deepEqual([...addressFiles(dataDir, "gcnet").keys()], ["10.9.0.8"], "only the running call's reservation stays");
  assert.equal(host.links.has(50), false, "the unlabelled veth the stale record names");
  assert.deepEqual(recordTimes(dataDir, key("oldrec")), []);
  assert.ok(recordTimes(dataDir, key("busy")).length > 0);
});

test("heldLockKeys: only files held now, and not those GC holds itself; parseHolderKey refuses anything else", async (t) => {
  const root = join(mkdtempSync(join(tmpdir(), "tether-gc-held-")), "locks");
  t.after(() => rmSync(join(root, ".."), { recursive: true, force: true }));
  // What a killed call leaves: its file and key, no holder.
  await withAttachmentLock(key("killed"), async () => {}, () => false, { root });
  assert.deepEqual(heldLockKeys("gcnet", new Set(), root), []);
  await withAttachmentLock(key("me"), async () => {
    assert.deepEqual(heldLockKeys("gcnet", new Set(), root), [key("me")]);
    assert.deepEqual(heldLockKeys("gcnet", new Set([attachmentLockPath(key("me"), root)]), root), []);
    assert.deepEqual(heldLockKeys("othernet", new Set(), root), []);
  }, undefined, { root });
  assert.equal(parseHolderKey(""), undefined);
  assert.equal(parseHolderKey('{"network":"n","containerId":1,"ifname":"e"}'), undefined);
  assert.deepEqual(parseHolderKey('{"network":"n","containerId":"c","ifname":"e"}'), { network: "n", containerId: "c", ifname: "e" });
});

test("record times and tags: when an ADD began or ended, by file name and times only", (t) => {
  const dataDir = mkdtempSync(join(tmpdir(), "tether-gc-rec-"));
  t.after(() => rmSync(dataDir, { recursive: true, force: true }));
  const dir = join(dataDir, ".tether-attachments", "gcnet");
  mkdirSync(dir, { recursive: true, mode: 0o700 });
  const a = attachmentTag(key("a"));
  assert.equal(recordFileTag(`${a}.json`), a);
  assert.equal(recordFileTag(`${a}.adding.json`), a);
  assert.equal(recordFileTag(`${a}.json.tmp`), undefined);
  assert.equal(recordFileTag("other.json"), undefined);
  const before = Date.now() - 1000;
  writeFileSync(recordPath(dataDir, key("a")), "{}");
  writeFileSync(intentPath(dataDir, key("b")), "{}");
  const later = Math.ceil(Date.now() / 1000) * 1000 + 60_000; // whole seconds: utimes takes seconds
  utimesSync(intentPath(dataDir, key("b")), later / 1000, later / 1000);
  const [ta] = recordTimes(dataDir, key("a"));
  assert.ok(ta !== undefined && ta.beganMs >= before && ta.beganMs < later && ta.endedMs >= before && ta.endedMs < later);
  // utimes changes the mtime (began) and, as any change, the ctime (ended: now).
  const [tb] = recordTimes(dataDir, key("b"));
  assert.ok(tb !== undefined && tb.beganMs === later && tb.endedMs < later);
  assert.deepEqual(recordTimes(dataDir, key("c")), []);
  assert.deepEqual(recordTagsWhere(dataDir, "gcnet", (t) => t.beganMs >= later), [attachmentTag(key("b"))]);
  assert.deepEqual(recordTagsWhere(dataDir, "gcnet", (t) => t.endedMs >= before).sort(), [a, attachmentTag(key("b"))].sort());
  assert.deepEqual(recordTagsWhere(dataDir, "nonet", () => true), []);
});

test("withKept: a delegated IPAM's GC list gains the attachments GC spares, under each key the request had", () => {
  const raw = { name: "n", "cni.dev/valid-attachments": [{ containerID: "v", ifname: "eth0" }] };
  const out = JSON.parse(withKept(raw, [{ containerId: "r", ifname: "eth1" }]).toString()) as Record<string, unknown>;
  assert.deepEqual(out["cni.dev/valid-attachments"], [{ containerID: "v", ifname: "eth0" }, { containerID: "r", ifname: "eth1" }]);
  assert.equal(out["cni.dev/attachments"], undefined);
});
