/**
 * Delegated IPAM end to end: tether in bridge mode with `ipam.type` naming another plugin, found on
 * CNI_PATH. The Debian reference host-local and static plugins (cniVersion 1.0.0, the newest they
 * speak) for ADD/CHECK/DEL and a late ADD failure that must release the delegate's reservation; a
 * recording plugin proves the same environment and the exact stdin reach it, and that its result is
 * read in the version it answers and its errors come back with their code (STATUS: 50, the code in
 * details); a plugin printing garbage on ADD gets its DEL; GC's list to it gains the attachments with
 * a call running. Everything runs in
 * namespaces the test creates.
 */
import assert from "node:assert/strict";
import { chmodSync, existsSync, mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, test, type TestContext } from "node:test";
import { cniWorld, errorJson, successEmpty, successJson, type CniWorld } from "../helpers/binary";
import { netnsUnavailable } from "../helpers/netns";
import { spawn } from "node:child_process";
import { ATTACHMENT_LOCK_ROOT } from "../../src/plugins/attachmentLock";

const REF = "/usr/lib/cni";
const skip = netnsUnavailable() ?? (existsSync(join(REF, "host-local")) && existsSync(join(REF, "static")) ? undefined : "Debian reference plugins not installed");
const TIMEOUT = 300_000;

interface Result {
  cniVersion: string;
  interfaces?: { name: string; sandbox?: string }[];
  ips?: { address: string; gateway?: string; interface?: number }[];
  routes?: { dst: string; gw?: string }[];
  dns?: { nameservers?: string[] };
}

function world(t: TestContext): CniWorld {
  return cniWorld(t, { ranges: [[{ subnet: "10.91.0.0/24" }]], label: "deleg" });
}

function conf(w: CniWorld, ipam: Record<string, unknown>, version = "1.0.0"): Record<string, unknown> {
  return { cniVersion: version, name: w.network, type: "tether", mode: "bridge", bridge: w.bridge, isGateway: true, ipam };
}

/** host-local's files in the world's data directory (address files only). */
function hostLocalFiles(w: CniWorld): string[] {
  try {
    return readdirSync(join(w.dataDir, w.network)).filter((n) => n !== "lock" && !n.startsWith("last_reserved_ip."));
  } catch {
    return [];
  }
}

function tempDir(t: TestContext, prefix: string): string {
  const d = mkdtempSync(join(tmpdir(), prefix));
  t.after(() => rmSync(d, { recursive: true, force: true }));
  return d;
}

describe("delegated IPAM: Debian host-local", { skip, timeout: TIMEOUT }, () => {
  test("ADD, CHECK, DEL through host-local; the store is host-local's and DEL empties it", (t) => {
    const w = world(t);
    const c = w.container();
    const cf = conf(w, { type: "host-local", dataDir: w.dataDir, ranges: [[{ subnet: "10.91.0.0/24" }]], routes: [{ dst: "198.51.100.0/24" }] });
    const add = successJson<Result>(w.cni("ADD", c, cf, { cniPath: REF }));
    assert.deepEqual(add.ips, [{ address: "10.91.0.2/24", gateway: "10.91.0.1", interface: 2 }]);
    assert.deepEqual(add.routes, [{ dst: "198.51.100.0/24" }]);
    assert.deepEqual(hostLocalFiles(w), ["10.91.0.2"]);
    assert.equal(readFileSync(join(w.dataDir, w.network, "10.91.0.2"), "utf8"), `${w.containerId(c)}\r\neth0`);
    assert.deepEqual(c.addrs("eth0").filter((a) => a.family === "inet").map((a) => `${a.local}/${a.prefixlen}`), ["10.91.0.2/24"]);
    successEmpty(w.cni("CHECK", c, { ...cf, prevResult: add }, { cniPath: REF }));
    successEmpty(w.cni("DEL", c, cf, { cniPath: REF }));
    assert.deepEqual(hostLocalFiles(w), []);
    assert.equal(c.hasLink("eth0"), false);
    successEmpty(w.cni("DEL", c, cf, { cniPath: REF })); // idempotent
  });

  test("a late ADD failure (a route via an off-link gateway) releases host-local's reservation", (t) => {
    const w = world(t);
    const c = w.container();
    const cf = conf(w, {
      type: "host-local",
      dataDir: w.dataDir,
      ranges: [[{ subnet: "10.91.0.0/24" }]],
      routes: [{ dst: "192.0.2.0/24", gw: "10.200.200.1" }],
    });
    const err = errorJson(w.cni("ADD", c, cf, { cniPath: REF }));
    assert.equal(err.code, 103, err.msg);
    assert.deepEqual(hostLocalFiles(w), [], "the delegate's reservation was released");
    assert.equal(c.hasLink("eth0"), false);
    assert.deepEqual(w.nodeVeths(), []);
  });

  test("host-local's errors come back with their code (GC: host-local 1.1.1 does not know it); STATUS says 50", (t) => {
    const w = world(t);
    const cf = conf(w, { type: "host-local", dataDir: w.dataDir, ranges: [[{ subnet: "10.91.0.0/24" }]] }, "1.1.0");
    const err = errorJson(w.cni("GC", "", { ...cf, "cni.dev/valid-attachments": [] }, { cniPath: REF }));
    assert.ok([1, 4].includes(err.code), `code ${err.code}: ${err.msg}`);
    assert.match(err.msg, /host-local/);
    // STATUS answers "plugin not available" whatever the delegate said; its code goes in details.
    const st = errorJson(w.cni("STATUS", "", cf, { cniPath: REF }));
    assert.equal(st.code, 50, st.msg);
    assert.match(st.msg, /IPAM host-local: /);
    assert.match(st.details ?? "", /IPAM host-local STATUS failed with code (1|4)\b/);
  });

  test("an IPAM plugin missing from CNI_PATH: code 7 naming it", (t) => {
    const w = world(t);
    const c = w.container();
    const err = errorJson(w.cni("ADD", c, conf(w, { type: "no-such-ipam" }), { cniPath: REF }));
    assert.equal(err.code, 7);
    assert.match(err.msg, /no-such-ipam/);
    assert.equal(c.hasLink("eth0"), false);
  });
});

describe("delegated IPAM: Debian static", { skip, timeout: TIMEOUT }, () => {
  test("ADD, CHECK, DEL with static addresses, routes and dns", (t) => {
    const w = world(t);
    const c = w.container();
    const cf = conf(w, {
      type: "static",
      addresses: [{ address: "10.92.0.7/24", gateway: "10.92.0.1" }],
      routes: [{ dst: "203.0.113.0/24" }],
      dns: { nameservers: ["10.92.0.53"] },
    });
    const add = successJson<Result>(w.cni("ADD", c, cf, { cniPath: REF }));
    assert.deepEqual(add.ips, [{ address: "10.92.0.7/24", gateway: "10.92.0.1", interface: 2 }]);
    assert.deepEqual(add.dns, { nameservers: ["10.92.0.53"] });
    assert.deepEqual(c.addrs("eth0").filter((a) => a.family === "inet").map((a) => `${a.local}/${a.prefixlen}`), ["10.92.0.7/24"]);
    assert.ok(c.routes(4).some((r) => r.dst === "203.0.113.0/24"));
    successEmpty(w.cni("CHECK", c, { ...cf, prevResult: add }, { cniPath: REF }));
    successEmpty(w.cni("DEL", c, cf, { cniPath: REF }));
    assert.equal(c.hasLink("eth0"), false);
  });

  test("static's error (an address not in CIDR form) comes back as an error object", (t) => {
    const w = world(t);
    const c = w.container();
    const err = errorJson(w.cni("ADD", c, conf(w, { type: "static", addresses: [{ address: "10.92.0.7" }] }), { cniPath: REF }));
    assert.match(err.msg, /CIDR/);
    assert.equal(c.hasLink("eth0"), false);
    assert.deepEqual(w.nodeVeths(), []);
  });
});

describe("delegated IPAM: what the delegate sees", { skip, timeout: TIMEOUT }, () => {
  /** A plugin that records its environment and stdin per command and answers in cniVersion 0.4.0. */
  function recorder(t: TestContext, fail?: { code: number; msg: string }): { dir: string; record: string } {
    const dir = tempDir(t, "tether-e2e-recorder-");
    const record = join(dir, "record");
    const answer = fail
      ? `printf '%s' '${JSON.stringify({ cniVersion: "1.0.0", code: fail.code, msg: fail.msg })}'; exit 1`
      : `[ "$CNI_COMMAND" = ADD ] && printf '%s' '{"cniVersion":"0.4.0","ips":[{"version":"4","address":"10.93.0.5/24","gateway":"10.93.0.1"}],"dns":{"nameservers":["10.93.0.53"]}}'; exit 0`;
    writeFileSync(
      join(dir, "recorder"),
      `#!/bin/sh\nenv | sort > "${record}.env.$CNI_COMMAND"\ncat > "${record}.stdin.$CNI_COMMAND"\n${answer}\n`,
    );
    chmodSync(join(dir, "recorder"), 0o755);
    return { dir, record };
  }

  test("same environment, exact stdin bytes, a 0.4.0 answer converted to the request's 1.0.0", (t) => {
    const w = world(t);
    const c = w.container();
    const rec = recorder(t);
    // Odd spacing and key order: the delegate must get these bytes, not a re-encoding.
    const stdin = `{ "cniVersion":"1.0.0",  "name":"${w.network}","type":"tether","bridge":"${w.bridge}",\n "ipam": {"type":"recorder", "extra": [1, 2]} }`;
    const add = successJson<Result>(w.cni("ADD", c, {}, { cniPath: rec.dir, config: stdin, args: "IgnoreUnknown=1;FOO=bar" }));
    assert.equal(add.cniVersion, "1.0.0");
    assert.deepEqual(add.ips, [{ address: "10.93.0.5/24", gateway: "10.93.0.1", interface: 2 }]);
    assert.deepEqual(add.dns, { nameservers: ["10.93.0.53"] });
    assert.equal(readFileSync(`${rec.record}.stdin.ADD`, "utf8"), stdin);
    const env = readFileSync(`${rec.record}.env.ADD`, "utf8").trim().split("\n").filter((l) => !/^(PWD|SHLVL|_)=/.test(l));
    assert.deepEqual(env, [
      "CNI_ARGS=IgnoreUnknown=1;FOO=bar",
      "CNI_COMMAND=ADD",
      `CNI_CONTAINERID=${w.containerId(c)}`,
      "CNI_IFNAME=eth0",
      `CNI_NETNS=${c.path}`,
      `CNI_PATH=${rec.dir}`,
      "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
    ]);
    successEmpty(w.cni("DEL", c, {}, { cniPath: rec.dir, config: stdin, args: "IgnoreUnknown=1;FOO=bar" }));
    assert.equal(readFileSync(`${rec.record}.stdin.DEL`, "utf8"), stdin);
    assert.match(readFileSync(`${rec.record}.env.DEL`, "utf8"), /^CNI_COMMAND=DEL$/m);
  });

  test("GC and STATUS run on the delegate too", (t) => {
    const w = world(t);
    const rec = recorder(t);
    const cf = { cniVersion: "1.1.0", name: w.network, type: "tether", bridge: w.bridge, ipam: { type: "recorder" }, "cni.dev/valid-attachments": [] };
    successEmpty(w.cni("GC", "", cf, { cniPath: rec.dir }));
    successEmpty(w.cni("STATUS", "", cf, { cniPath: rec.dir }));
    assert.deepEqual(JSON.parse(readFileSync(`${rec.record}.stdin.GC`, "utf8")), cf);
    assert.deepEqual(JSON.parse(readFileSync(`${rec.record}.stdin.STATUS`, "utf8")), cf);
  });

  test("GC: the delegate's list gains the attachments with a call running (their lock held), under each key it had", async (t) => {
    const w = world(t);
    const rec = recorder(t);
    const list = [{ containerID: "kept", ifname: "eth0" }];
    const cf = { cniVersion: "1.1.0", name: w.network, type: "tether", bridge: w.bridge, ipam: { type: "recorder" }, "cni.dev/valid-attachments": list };
    const holder = spawn(process.execPath, [join(__dirname, "..", "helpers", "lockWorker.js"), "hold", ATTACHMENT_LOCK_ROOT, w.network, "running"], { stdio: ["pipe", "pipe", "inherit"] });
    const closed = new Promise<void>((resolve) => holder.on("close", () => resolve()));
    t.after(async () => {
      holder.kill("SIGKILL");
      await closed;
    });
    await new Promise<void>((resolve, reject) => {
      holder.stdout.once("data", () => resolve());
      holder.once("close", () => reject(new Error("the lock holder exited")));
    });
    successEmpty(w.cni("GC", "", cf, { cniPath: rec.dir }));
    const sent = JSON.parse(readFileSync(`${rec.record}.stdin.GC`, "utf8")) as Record<string, unknown>;
    assert.deepEqual(sent["cni.dev/valid-attachments"], [...list, { containerID: "running", ifname: "eth0" }]);
    assert.equal(sent["cni.dev/attachments"], undefined);
    holder.stdin.end();
    await closed;
  });

  test("a delegate's ADD that succeeds with unusable output: its DEL runs, and the error comes back", (t) => {
    for (const [label, output] of [
      ["not JSON", "this is not json"],
      ["no IP addresses", '{"cniVersion":"1.0.0","ips":[]}'],
      ["not a result", '{"cniVersion":"1.0.0","ips":"garbage"}'],
    ] as const) {
      const w = world(t);
      const c = w.container();
      const dir = tempDir(t, "tether-e2e-garbage-");
      const record = join(dir, "record");
      writeFileSync(
        join(dir, "garbage"),
        `#!/bin/sh\ncat >/dev/null\necho "$CNI_COMMAND $CNI_CONTAINERID $CNI_IFNAME" >> "${record}"\n[ "$CNI_COMMAND" = ADD ] && printf '%s' '${output}'\nexit 0\n`,
      );
      chmodSync(join(dir, "garbage"), 0o755);
      const err = errorJson(w.cni("ADD", c, conf(w, { type: "garbage" }), { cniPath: dir }));
      assert.ok([6, 7, 105].includes(err.code), `${label}: code ${err.code}: ${err.msg}`);
      assert.deepEqual(readFileSync(record, "utf8").trim().split("\n"), [`ADD ${w.containerId(c)} eth0`, `DEL ${w.containerId(c)} eth0`], label);
      assert.equal(c.hasLink("eth0"), false, label);
      assert.deepEqual(w.nodeVeths(), [], label);
    }
  });

  test("a delegate's error keeps its code and message; nothing is left behind", (t) => {
    const w = world(t);
    const c = w.container();
    const rec = recorder(t, { code: 11, msg: "pool busy, try later" });
    const err = errorJson(w.cni("ADD", c, conf(w, { type: "recorder" }), { cniPath: rec.dir }));
    assert.equal(err.code, 11);
    assert.match(err.msg, /pool busy, try later/);
    assert.equal(c.hasLink("eth0"), false);
    assert.deepEqual(w.nodeVeths(), []);
  });
});
