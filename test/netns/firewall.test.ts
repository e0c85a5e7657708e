/**
 * src/firewall/system.ts against real nftables and iptables, inside a namespace each test creates
 * (the rules live in that namespace and go with it). The firewall runs in a child process entered
 * into the namespace with `ip netns exec`, as tether itself would run on a node.
 */
import assert from "node:assert/strict";
import { spawn, spawnSync } from "node:child_process";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { describe, test, type TestContext } from "node:test";
import { iptablesChain, ruleComment, type AttachmentKey } from "../../src/firewall/key";
import { createNetns, netnsUnavailable, type TestNetns } from "../helpers/netns";

const skip = netnsUnavailable();
const SYSTEM = resolve(__dirname, "..", "..", "src", "firewall", "system.js");

type Op =
  | { op: "addMasquerade"; key: AttachmentKey; cidrs: string[]; backend?: "nftables" | "iptables" }
  | { op: "removeMasquerade" | "removeSpoofCheck" | "hasMasquerade" | "hasSpoofCheck"; key: AttachmentKey }
  | { op: "addSpoofCheck"; key: AttachmentKey; spec: Record<string, unknown> }
  | { op: "gc"; network: string; valid: AttachmentKey[] };

const DRIVER = `
const fw = require(${JSON.stringify(SYSTEM)}).systemFirewall;
const o = JSON.parse(process.argv[1]);
const call = o.op === "addMasquerade" ? fw.addMasquerade(o.key, o.cidrs, o.backend)
  : o.op === "addSpoofCheck" ? fw.addSpoofCheck(o.key, o.spec)
  : o.op === "gc" ? fw.gc(o.network, o.valid)
  : fw[o.op](o.key);
call.then((v) => process.stdout.write(JSON.stringify(v ?? null)), (e) => { process.stderr.write(String(e && e.stack || e)); process.exit(1); });
`;

function world(t: TestContext): { ns: TestNetns; run: (o: Op) => unknown; runAsync: (o: Op) => Promise<void> } {
  const ns = createNetns(t, "fw");
  const lockDir = mkdtempSync(join(tmpdir(), "tether-fwlock-"));
  t.after(() => rmSync(lockDir, { recursive: true, force: true }));
  const env = { ...process.env, TETHER_FIREWALL_LOCK: join(lockDir, "firewall.lock") };
  const argv = (o: Op): string[] => ["netns", "exec", ns.name, process.execPath, "-e", DRIVER, JSON.stringify(o)];
  return {
    ns,
    run(o) {
      const r = spawnSync("ip", argv(o), { env, encoding: "utf8", timeout: 120_000 });
      if (r.status !== 0) throw new Error(`${o.op} failed: ${r.stderr}`);
      return JSON.parse(r.stdout) as unknown;
    },
    runAsync(o) {
      return new Promise((res, rej) => {
        const child = spawn("ip", argv(o), { env, stdio: ["ignore", "ignore", "pipe"] });
        let err = "";
        child.stderr.on("data", (b: Buffer) => (err += b.toString()));
        child.on("close", (code) => (code === 0 ? res() : rej(new Error(`${o.op} failed: ${err}`))));
      });
    },
  };
}

function nftRuleset(ns: TestNetns): string {
  return ns.exec(["nft", "list", "ruleset"]);
}

function countComment(text: string, key: AttachmentKey): number {
  return text.split("\n").filter((l) => l.includes(ruleComment(key))).length;
}

const key = (containerId: string, network = "fwnet"): AttachmentKey => ({ network, containerId, ifname: "eth0" });

describe("firewall on the real kernel (in a test namespace)", { skip }, () => {
  test("nftables masquerade: added per address, removed by key alone, other attachments untouched, table gone at the end", (t) => {
    const { ns, run } = world(t);
    run({ op: "addMasquerade", key: key("a"), cidrs: ["10.60.0.2/24", "fd00:60::2/64"] });
    run({ op: "addMasquerade", key: key("b"), cidrs: ["10.60.0.3/24"], backend: "nftables" });
    let rules = nftRuleset(ns);
    assert.equal(countComment(rules, key("a")), 2, rules);
    assert.equal(countComment(rules, key("b")), 1, rules);
    assert.match(rules, /ip saddr 10\.60\.0\.2 ip daddr != 10\.60\.0\.0\/24 ip daddr != 224\.0\.0\.0\/4 masquerade/);
    assert.equal(run({ op: "hasMasquerade", key: key("a") }), true);
    run({ op: "removeMasquerade", key: key("a") });
    rules = nftRuleset(ns);
    assert.equal(countComment(rules, key("a")), 0, rules);
    assert.equal(countComment(rules, key("b")), 1, rules);
    assert.equal(run({ op: "hasMasquerade", key: key("a") }), false);
    run({ op: "removeMasquerade", key: key("a") }); // again: nothing to do
    run({ op: "removeMasquerade", key: key("b") });
    assert.doesNotMatch(nftRuleset(ns), /tether/);
  });

  test("iptables masquerade: a chain per attachment with its jumps, both families, removed by key", (t) => {
    const { ns, run } = world(t);
    run({ op: "addMasquerade", key: key("a"), cidrs: ["10.61.0.2/24", "fd00:61::2/64"], backend: "iptables" });
    run({ op: "addMasquerade", key: key("b"), cidrs: ["10.61.0.3/24"], backend: "iptables" });
    const v4 = ns.exec(["iptables-save", "-t", "nat"]);
    const v6 = ns.exec(["ip6tables-save", "-t", "nat"]);
    const chainA = iptablesChain(key("a"));
    assert.match(v4, new RegExp(`-A POSTROUTING -s 10\\.61\\.0\\.2/32 .*-j ${chainA}`));
    assert.match(v4, new RegExp(`-A ${chainA} .*-j MASQUERADE`));
    assert.match(v6, new RegExp(`-A POSTROUTING -s fd00:61::2/128 .*-j ${chainA}`));
    assert.equal(run({ op: "hasMasquerade", key: key("a") }), true);
    run({ op: "removeMasquerade", key: key("a") });
    assert.doesNotMatch(ns.exec(["iptables-save", "-t", "nat"]), new RegExp(chainA));
    assert.doesNotMatch(ns.exec(["ip6tables-save", "-t", "nat"]), new RegExp(chainA));
    assert.match(ns.exec(["iptables-save", "-t", "nat"]), new RegExp(iptablesChain(key("b"))));
    run({ op: "removeMasquerade", key: key("b") });
    assert.doesNotMatch(ns.exec(["iptables-save"]), /TETHER-|tether:/);
  });

  test("spoof checks in the bridge and inet families, removed by key", (t) => {
    const { ns, run } = world(t);
    run({ op: "addSpoofCheck", key: key("a"), spec: { family: "bridge", hostIfname: "vetha", mac: "0a:00:00:00:00:0a", addresses: ["10.62.0.2/24"] } });
    run({ op: "addSpoofCheck", key: key("b"), spec: { family: "inet", hostIfname: "vethb", addresses: ["fd00:62::3/64"] } });
    let rules = nftRuleset(ns);
    assert.match(rules, /table bridge tether/);
    assert.match(rules, /iifname "vetha" ether saddr != 0a:00:00:00:00:0a drop/);
    assert.match(rules, /iifname "vethb" ip6 saddr != \{ ::, fd00:62::3, fe80::\/10 \} drop/);
    assert.equal(run({ op: "hasSpoofCheck", key: key("b") }), true);
    run({ op: "removeSpoofCheck", key: key("a") });
    rules = nftRuleset(ns);
    assert.doesNotMatch(rules, /table bridge tether/);
    assert.equal(countComment(rules, key("b")), 2);
    run({ op: "removeSpoofCheck", key: key("b") });
    assert.doesNotMatch(nftRuleset(ns), /tether/);
  });

  test("GC removes stale attachments of its network in both backends, nothing else", (t) => {
    const { ns, run } = world(t);
    run({ op: "addMasquerade", key: key("keep"), cidrs: ["10.63.0.2/24"] });
    run({ op: "addMasquerade", key: key("stale"), cidrs: ["10.63.0.3/24"] });
    run({ op: "addMasquerade", key: key("stale4", "fwnet"), cidrs: ["10.63.0.4/24"], backend: "iptables" });
    run({ op: "addMasquerade", key: key("x", "othernet"), cidrs: ["10.64.0.2/24"] });
    run({ op: "gc", network: "fwnet", valid: [key("keep")] });
    const rules = nftRuleset(ns);
    assert.equal(countComment(rules, key("keep")), 1);
    assert.equal(countComment(rules, key("stale")), 0);
    assert.equal(countComment(rules, key("x", "othernet")), 1);
    assert.doesNotMatch(ns.exec(["iptables-save", "-t", "nat"]), new RegExp(iptablesChain(key("stale4"))));
  });

  test("concurrent ADDs never lose a rule, and concurrent DELs leave nothing", { timeout: 600_000 }, async (t) => {
    const { ns, runAsync } = world(t);
    const n = 8;
    const ids = Array.from({ length: n }, (_, i) => `c${i}`);
    await Promise.all(
      ids.flatMap((id, i) => [
        runAsync({ op: "addMasquerade", key: key(id), cidrs: [`10.65.0.${i + 2}/24`] }),
        runAsync({ op: "addSpoofCheck", key: key(id), spec: { family: "bridge", hostIfname: `veth${i}`, mac: "0a:00:00:00:00:0a" } }),
        runAsync({ op: "addMasquerade", key: key(`${id}-ipt`), cidrs: [`10.66.0.${i + 2}/24`], backend: "iptables" }),
      ]),
    );
    const rules = nftRuleset(ns);
    for (const id of ids) assert.equal(countComment(rules, key(id)), 2, `${id}: ${rules}`);
    const save = ns.exec(["iptables-save", "-t", "nat"]);
    for (const id of ids) assert.match(save, new RegExp(`-A POSTROUTING .*-j ${iptablesChain(key(`${id}-ipt`))}`));
    await Promise.all(
      ids.flatMap((id) => [
        runAsync({ op: "removeMasquerade", key: key(id) }),
        runAsync({ op: "removeSpoofCheck", key: key(id) }),
        runAsync({ op: "removeMasquerade", key: key(`${id}-ipt`) }),
      ]),
    );
    assert.doesNotMatch(nftRuleset(ns), /tether/);
    assert.doesNotMatch(ns.exec(["iptables-save"]), /TETHER-|tether:/);
  });
});
