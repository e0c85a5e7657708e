/** enterSync, openNetns and Rtnl binding, against the real kernel, inside throwaway namespaces. */
import assert from "node:assert/strict";
import { fstatSync, mkdtempSync, readlinkSync, rmSync, statSync, writeFileSync } from "node:fs";
import { constants as osConstants, tmpdir } from "node:os";
import { join } from "node:path";
import { describe, test } from "node:test";
import {
  NetlinkError,
  NetnsError,
  Rtnl,
  enterSync,
  isOwnNetns,
  listLinks,
  netnsExists,
  openNetns,
  closeNetns,
  getLinkByName,
} from "../../src/netlink";
import { createNetns, netnsUnavailable } from "../helpers/netns";

const skip = netnsUnavailable();
const threadNetns = (): string => readlinkSync("/proc/thread-self/ns/net");
const netnsId = (path: string): string => `net:[${statSync(path).ino}]`;

describe("enterSync", { skip }, () => {
  test("runs fn inside the namespace and returns its value", (t) => {
    const ns = createNetns(t);
    const before = threadNetns();
    const inside = enterSync(ns.path, () => threadNetns());
    assert.equal(inside, netnsId(ns.path));
    assert.notEqual(inside, before);
    assert.equal(threadNetns(), before);
  });

  test("restores the namespace when fn throws", (t) => {
    const ns = createNetns(t);
    const before = threadNetns();
    assert.throws(
      () =>
        enterSync(ns.path, () => {
          throw new Error("boom");
        }),
      /boom/,
    );
    assert.equal(threadNetns(), before);
  });

  test("refuses an async fn, and restores the namespace", async (t) => {
    const ns = createNetns(t);
    const before = threadNetns();
    assert.throws(
      () => enterSync(ns.path, async () => 1),
      (err: unknown) => err instanceof NetlinkError && /promise/.test(err.message),
    );
    assert.equal(threadNetns(), before);
    // A rejected abandoned promise must not surface as an unhandled rejection.
    assert.throws(() =>
      enterSync(ns.path, () => Promise.reject(new Error("late"))),
    );
    await new Promise((r) => setImmediate(r));
    assert.equal(threadNetns(), before);
  });

  test("nests: the inner call restores the outer namespace", (t) => {
    const a = createNetns(t, "a");
    const b = createNetns(t, "b");
    const seen = enterSync(a.path, () => {
      const inner = enterSync(b.path, () => threadNetns());
      return [inner, threadNetns()];
    });
    assert.deepEqual(seen, [netnsId(b.path), netnsId(a.path)]);
  });

  test("a path that is not a namespace fails before switching", () => {
    const before = threadNetns();
    assert.throws(() => enterSync("/proc/self/status", () => 1), NetnsError);
    assert.equal(threadNetns(), before);
  });
});

describe("openNetns", { skip }, () => {
  test("opens a network namespace file", (t) => {
    const ns = createNetns(t);
    const fd = openNetns(ns.path);
    try {
      assert.equal(fstatSync(fd).ino, statSync(ns.path).ino);
    } finally {
      closeNetns(fd);
    }
  });

  test("refuses a regular file, a directory, a missing path and the process's own namespace", (t) => {
    const dir = mkdtempSync(join(tmpdir(), "tether-netns-"));
    t.after(() => rmSync(dir, { recursive: true, force: true }));
    const file = join(dir, "file");
    writeFileSync(file, "not a namespace");
    const refused = (path: string, reason: string, code: string) => (err: unknown) =>
      err instanceof NetnsError && err.reason === reason && err.code === code && err.message.includes(path);
    assert.throws(() => openNetns(file), refused(file, "not-netns", "EINVAL"));
    assert.throws(() => openNetns(dir), refused(dir, "not-netns", "EINVAL"));
    assert.throws(() => openNetns(join(dir, "missing")), refused(join(dir, "missing"), "not-found", "ENOENT"));
    assert.throws(() => openNetns("/proc/self/ns/net"), refused("/proc/self/ns/net", "own-netns", "EINVAL"));
    // Another kind of namespace is not a network namespace either.
    assert.throws(() => openNetns("/proc/self/ns/uts"), refused("/proc/self/ns/uts", "not-netns", "EINVAL"));
  });

  test("isOwnNetns and netnsExists", (t) => {
    const ns = createNetns(t);
    assert.equal(isOwnNetns("/proc/self/ns/net"), true);
    assert.equal(isOwnNetns(ns.path), false);
    assert.equal(netnsExists(ns.path), true);
    assert.equal(netnsExists("/proc/self/status"), false);
    ns.remove();
    assert.equal(netnsExists(ns.path), false);
  });
});

describe("Rtnl", { skip }, () => {
  test("a socket opened in a namespace sees only that namespace's links", async (t) => {
    const a = createNetns(t, "a");
    const b = createNetns(t, "b");
    a.exec(["ip", "link", "add", "only-in-a", "type", "veth", "peer", "name", "peer-in-a"]);
    const rtA = Rtnl.open(a.path);
    const rtB = Rtnl.open(b.path);
    t.after(() => {
      rtA.close();
      rtB.close();
    });
    const namesA = (await listLinks(rtA)).map((l) => l.name).sort();
    const namesB = (await listLinks(rtB)).map((l) => l.name).sort();
    assert.deepEqual(namesA, ["lo", "only-in-a", "peer-in-a"]);
    assert.deepEqual(namesB, ["lo"]);
    assert.equal((await getLinkByName(rtA, "only-in-a"))?.index, a.link("only-in-a").ifindex);
    assert.equal(await getLinkByName(rtB, "only-in-a"), undefined);
  });

  test("concurrent requests on one socket all succeed (dumps included)", async (t) => {
    const ns = createNetns(t);
    ns.exec(["ip", "link", "add", "name", "va", "type", "veth", "peer", "name", "vb"]);
    const rtnl = Rtnl.open(ns.path);
    t.after(() => rtnl.close());
    const [links, byName, again] = await Promise.all([listLinks(rtnl), getLinkByName(rtnl, "va"), listLinks(rtnl)]);
    assert.deepEqual(links.map((l) => l.name).sort(), ["lo", "va", "vb"]);
    assert.equal(byName?.index, ns.link("va").ifindex);
    assert.deepEqual(again, links);
  });

  test("requests fail cleanly after close", async (t) => {
    const ns = createNetns(t);
    const rtnl = Rtnl.open(ns.path);
    rtnl.close();
    await assert.rejects(listLinks(rtnl), (err: unknown) => err instanceof NetlinkError && err.code === "EBADF");
  });

  test("an answer not queued yet is waited for on a worker thread; no answer at all is ETIMEDOUT; the socket stays usable", async (t) => {
    // The kernel queues rtnetlink answers before sendto returns, so the wait path is reached by
    // hiding them from the socket's reads for a while (the compiled CJS calls libc through its exports).
    const libc = require("../../src/sys/libc") as { recvFrom: (...a: unknown[]) => number };
    const real = libc.recvFrom;
    t.after(() => (libc.recvFrom = real));
    const ns = createNetns(t);
    ns.exec(["ip", "link", "add", "name", "wa", "type", "veth", "peer", "name", "wb"]);
    const rtnl = Rtnl.open(ns.path, { timeoutMs: 300 });
    t.after(() => rtnl.close());

    let hidden = 0;
    libc.recvFrom = (...a) => (hidden++ < 3 ? -osConstants.errno.EAGAIN : real(...a));
    const links = await listLinks(rtnl);
    assert.deepEqual(links.map((l) => l.name).sort(), ["lo", "wa", "wb"]);
    assert.ok(hidden >= 3);

    libc.recvFrom = () => -osConstants.errno.EAGAIN;
    await assert.rejects(getLinkByName(rtnl, "wa"), (err: unknown) => err instanceof NetlinkError && err.code === "ETIMEDOUT" && /RTM_GETLINK/.test(err.message));
    libc.recvFrom = real;
    // The late answer (and its ACK) are for a request no longer waiting: dropped, not taken for the next one's.
    assert.equal((await getLinkByName(rtnl, "wb"))?.index, ns.link("wb").ifindex);
    assert.deepEqual((await listLinks(rtnl)).map((l) => l.name).sort(), ["lo", "wa", "wb"]);
  });

  test("ENOBUFS (answers dropped by the kernel) fails the waiting requests with ENOBUFS; the next request works", async (t) => {
    const libc = require("../../src/sys/libc") as { recvFrom: (...a: unknown[]) => number };
    const real = libc.recvFrom;
    t.after(() => (libc.recvFrom = real));
    const ns = createNetns(t);
    const rtnl = Rtnl.open(ns.path);
    t.after(() => rtnl.close());
    let once = true;
    libc.recvFrom = (...a) => {
      if (!once) return real(...a);
      once = false;
      return -osConstants.errno.ENOBUFS;
    };
    await assert.rejects(listLinks(rtnl), (err: unknown) => err instanceof NetlinkError && err.code === "ENOBUFS");
    assert.deepEqual((await listLinks(rtnl)).map((l) => l.name), ["lo"]);
  });

  test("close fails a request still waiting with EBADF", async (t) => {
    const libc = require("../../src/sys/libc") as { recvFrom: (...a: unknown[]) => number };
    const real = libc.recvFrom;
    t.after(() => (libc.recvFrom = real));
    const ns = createNetns(t);
    const rtnl = Rtnl.open(ns.path);
    libc.recvFrom = () => -osConstants.errno.EAGAIN;
    const waiting = listLinks(rtnl);
    await new Promise((r) => setTimeout(r, 20));
    rtnl.close();
    await assert.rejects(waiting, (err: unknown) => err instanceof NetlinkError && err.code === "EBADF");
  });

  test("an open socket does not keep the process alive", (t) => {
    const ns = createNetns(t);
    const script = `const { Rtnl, listLinks } = require(${JSON.stringify(join(__dirname, "../../src/netlink"))});
      const r = Rtnl.open(${JSON.stringify(ns.path)});
      listLinks(r).then((l) => console.log(l.length));`;
    const started = Date.now();
    const out = require("node:child_process").execFileSync(process.execPath, ["-e", script], { encoding: "utf8", timeout: 10_000 }) as string;
    assert.equal(out.trim(), "1");
    assert.ok(Date.now() - started < 5000);
  });
});
