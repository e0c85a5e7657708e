/** Attachment records: written only into directories of ours, never through a planted symlink. */
import assert from "node:assert/strict";
import * as fs from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, it, type TestContext } from "node:test";
import { listRecordFiles, recordPath, recordsDir, removeRecord, writeRecord, type AttachmentRecord } from "../../src/attach/attachmentRecord";

const REC: AttachmentRecord = { network: "net1", containerId: "c1", ifname: "eth0", netns: "/var/run/netns/c1", hostIfname: "veth1234" };

function temp(t: TestContext): string {
  const d = fs.mkdtempSync(join(tmpdir(), "tether-records-"));
  t.after(() => fs.rmSync(d, { recursive: true, force: true }));
  return d;
}

describe("attachment records", () => {
  it("are written 0600 in 0700 directories, with no temporary file left, and removed", (t) => {
    const dd = temp(t);
    writeRecord(dd, REC);
    assert.equal(fs.statSync(join(dd, ".tether-attachments")).mode & 0o777, 0o700);
    assert.equal(fs.statSync(recordsDir(dd, "net1")).mode & 0o777, 0o700);
    assert.equal(fs.statSync(recordPath(dd, REC)).mode & 0o777, 0o600);
    assert.deepEqual(JSON.parse(fs.readFileSync(recordPath(dd, REC), "utf8")), REC);
    writeRecord(dd, { ...REC, hostIfname: "veth5678" }); // replaced
    assert.deepEqual(fs.readdirSync(recordsDir(dd, "net1")), [recordPath(dd, REC).split("/").pop()]);
    assert.deepEqual(listRecordFiles(dd, "net1").map((f) => f.record?.hostIfname), ["veth5678"]);
    removeRecord(dd, REC);
    assert.deepEqual(fs.readdirSync(recordsDir(dd, "net1")), []);
    removeRecord(temp(t), REC); // nothing there: fine
  });

  it("refuse a symlink planted in place of the network's directory: nothing written, removed or listed through it", (t) => {
    const dd = temp(t);
    const victim = temp(t);
    fs.mkdirSync(join(dd, ".tether-attachments"), { mode: 0o700 });
    fs.symlinkSync(victim, recordsDir(dd, "net1"));
    assert.throws(() => writeRecord(dd, REC), /is not a directory \(symlinks are refused\)/);
    assert.deepEqual(fs.readdirSync(victim), []);
    // A file the victim directory holds under the record's name stays.
    const name = recordPath(dd, REC).split("/").pop()!;
    fs.writeFileSync(join(victim, name), JSON.stringify(REC));
    assert.throws(() => removeRecord(dd, REC), /symlinks are refused/);
    assert.deepEqual(fs.readdirSync(victim), [name]);
    assert.deepEqual(listRecordFiles(dd, "net1"), []);
    assert.deepEqual(listRecordFiles(dd), []);
  });

  it("refuse a symlink in place of .tether-attachments", (t) => {
    const dd = temp(t);
    const victim = temp(t);
    fs.symlinkSync(victim, join(dd, ".tether-attachments"));
    assert.throws(() => writeRecord(dd, REC), /symlinks are refused/);
    assert.deepEqual(fs.readdirSync(victim), []);
    assert.deepEqual(listRecordFiles(dd), []);
  });

  it("refuse a group/world-writable directory, and one of another owner", (t) => {
    const dd = temp(t);
    fs.mkdirSync(recordsDir(dd, "net1"), { recursive: true, mode: 0o700 });
    fs.chmodSync(recordsDir(dd, "net1"), 0o777);
    assert.throws(() => writeRecord(dd, REC), /group- or world-writable/);
    fs.chmodSync(recordsDir(dd, "net1"), 0o700);
    const euid = process.geteuid?.();
    if (euid === 0) {
      fs.chownSync(recordsDir(dd, "net1"), 4242, 4242);
      assert.throws(() => writeRecord(dd, REC), /owned by uid 4242, not 0/);
      fs.chownSync(recordsDir(dd, "net1"), 0, 0);
    }
    writeRecord(dd, REC);
    assert.ok(fs.existsSync(recordPath(dd, REC)));
  });

  it("never follow a symlink planted where the temporary file used to go (<record>.<pid>.tmp)", (t) => {
    const dd = temp(t);
    const victim = join(temp(t), "victim");
    fs.writeFileSync(victim, "precious");
    fs.mkdirSync(recordsDir(dd, "net1"), { recursive: true, mode: 0o700 });
    fs.symlinkSync(victim, `${recordPath(dd, REC)}.${process.pid}.tmp`);
    writeRecord(dd, REC);
    assert.equal(fs.readFileSync(victim, "utf8"), "precious");
    assert.deepEqual(JSON.parse(fs.readFileSync(recordPath(dd, REC), "utf8")), REC);
    assert.equal(fs.lstatSync(recordPath(dd, REC)).isFile(), true);
    const left = fs.readdirSync(recordsDir(dd, "net1")).filter((n) => n.endsWith(".tmp"));
    assert.deepEqual(left, [`${recordPath(dd, REC).split("/").pop()}.${process.pid}.tmp`], "only the planted link; no temporary file of ours");
  });
});
