/**
 * The attachment lock's removal protocol (src/plugins/attachmentLock.ts): files are unlinked only
 * while locked, and a caller whose locked file was unlinked tries again. Several processes lock,
 * keep or remove files and sweep them as GC does, all at once: no two ever hold one attachment, and
 * once they are done a sweep leaves no file and no directory. Needs no root (a temporary lock root).
 */
import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { existsSync, mkdtempSync, readdirSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { test } from "node:test";
import {
  attachmentLockHeld,
  attachmentLockPath,
  networkLockDir,
  removeLockFile,
  removeStaleLocks,
  tryAttachmentLock,
  unheldLockFiles,
  withAttachmentLock,
} from "../../src/plugins/attachmentLock";

const WORKER = join(__dirname, "..", "helpers", "lockWorker.js");

function worker(args: string[]): { done: Promise<string>; child: ReturnType<typeof spawn> } {
  const child = spawn(process.execPath, [WORKER, ...args], { stdio: ["pipe", "pipe", "pipe"] });
  let text = "";
  child.stdout!.on("data", (b: Buffer) => (text += b.toString()));
  child.stderr!.on("data", (b: Buffer) => (text += b.toString()));
  const done = new Promise<string>((resolve) => child.on("close", () => resolve(text)));
  return { done, child };
}

function tempRoot(t: { after(fn: () => void): void }): string {
  const base = mkdtempSync(join(tmpdir(), "tether-lock-test-"));
  t.after(() => rmSync(base, { recursive: true, force: true }));
  return join(base, "locks");
}

const key = (containerId: string) => ({ network: "locknet", containerId, ifname: "eth0" });

test("every call removes its lock file on the way out, and the network's directory with the last", async (t) => {
  const root = tempRoot(t);
  let seen = false;
  await withAttachmentLock(key("a"), async () => {
    seen = existsSync(attachmentLockPath(key("a"), root));
  }, undefined, { root });
  assert.equal(seen, true, "the lock file exists while held");
  assert.equal(existsSync(attachmentLockPath(key("a"), root)), false);
  assert.equal(existsSync(join(root, networkLockDir("locknet"))), false);
  await assert.rejects(withAttachmentLock(key("b"), async () => { throw new Error("failed"); }, undefined, { root }), /failed/);
  assert.deepEqual(readdirSync(root), [], "a failed call leaves no lock file either");
});

test("a file a killed call left is removed by GC's sweep; a held one is left alone, and tryAttachmentLock does not wait for it", async (t) => {
  const root = tempRoot(t);
  // What a killed call leaves: the file, no holder.
  await withAttachmentLock(key("killed"), async () => {}, () => false, { root });
  const holder = worker(["hold", root, "locknet", "busy"]);
  t.after(() => holder.child.kill("SIGKILL"));
  await new Promise<void>((resolve) => holder.child.stdout!.once("data", () => resolve()));
  assert.equal(attachmentLockHeld(key("busy"), { root }), true);
  assert.equal(attachmentLockHeld(key("killed"), { root }), false);
  assert.deepEqual(unheldLockFiles("locknet", root), [attachmentLockPath(key("killed"), root)]);
  assert.equal(tryAttachmentLock(key("busy"), { root }), undefined, "a held lock is not taken");
  assert.equal(removeLockFile(attachmentLockPath(key("busy"), root)), "held");
  // A file for an attachment GC keeps stays too.
  await withAttachmentLock(key("valid"), async () => {}, () => false, { root });
  assert.equal(removeStaleLocks("locknet", [key("valid")], root), 1);
  assert.equal(existsSync(attachmentLockPath(key("killed"), root)), false);
  assert.equal(existsSync(attachmentLockPath(key("busy"), root)), true, "the held file stays");
  assert.equal(existsSync(attachmentLockPath(key("valid"), root)), true, "the valid attachment's file stays");
  holder.child.stdin!.end();
  assert.match(await holder.done, /locked/);
  assert.equal(existsSync(attachmentLockPath(key("busy"), root)), false, "its holder removed it on the way out");
  // Not a regular file: never removed through.
  const planted = join(root, networkLockDir("locknet"), "planted.lock");
  writeFileSync(join(root, "target"), "x");
  assert.equal(removeLockFile(planted), "gone");
  assert.equal(removeStaleLocks("locknet", [], root), 1);
  assert.equal(existsSync(join(root, networkLockDir("locknet"))), false, "the network's directory goes with its last file");
});

test("locking, keeping, removing and sweeping at once in 6 processes: never two holders of one attachment, nothing left", async (t) => {
  const root = tempRoot(t);
  const rounds = String(Number(process.env["TETHER_LOCK_ROUNDS"] ?? "300"));
  const kinds = ["lock", "lock", "lock", "lock", "sweep", "sweep"];
  const runs = kinds.map((k) => worker([k, root, "locknet", "3", rounds]));
  const outputs = await Promise.all(runs.map((r) => r.done));
  let violations = 0;
  for (const o of outputs) {
    const last = JSON.parse(o.trim().split("\n").pop() ?? "{}") as { rounds?: number; violations?: number; error?: string };
    assert.equal(last.error, undefined, o);
    assert.equal(last.rounds, Number(rounds), o);
    violations += last.violations ?? 0;
  }
  assert.equal(violations, 0, "two holders of one attachment's lock at once");
  removeStaleLocks("locknet", [], root);
  assert.deepEqual(readdirSync(root).filter((n) => !n.startsWith("held-")), [], "lock files or directories left");
  t.diagnostic(`processes=${kinds.length} rounds=${rounds} violations=${violations}`);
});
