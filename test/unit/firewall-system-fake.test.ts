/**
 * The system firewall with the exec layer faked: fake nft / iptables-* / ip6tables-* first on PATH
 * (every tool the code may run, so no real one is reached). An nft that is installed but does not
 * work must not stop the iptables teardown of DEL and GC.
 */
import assert from "node:assert/strict";
import * as fs from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, beforeEach, describe, it } from "node:test";
import { attachmentTag, iptablesChain, ruleComment } from "../../src/firewall/key";
import { systemFirewall } from "../../src/firewall/system";
import { log } from "../../src/util/log";

const KEY = { network: "net1", containerId: "c1", ifname: "eth0" };
const CHAIN = iptablesChain(KEY);
const SAVE = [
  "*nat",
  ":POSTROUTING ACCEPT [0:0]",
  `:${CHAIN} - [0:0]`,
  `-A POSTROUTING -s 10.88.0.5/32 -m comment --comment "${ruleComment(KEY)}" -j ${CHAIN}`,
  `-A ${CHAIN} -m comment --comment "${ruleComment(KEY)}" -j MASQUERADE`,
  "COMMIT",
  "",
].join("\n");

let dir: string;
let bin: string;
const saved: Record<string, string | undefined> = {};

function tool(name: string, body: string): void {
  fs.writeFileSync(join(bin, name), `#!/bin/sh\necho "$0 $*" >> "${dir}/calls"\n${body}\n`);
  fs.chmodSync(join(bin, name), 0o755);
}

/** nft failing as on a host without usable nf_tables. */
function brokenNft(stderr = "Error: Could not process rule: Operation not supported"): void {
  tool("nft", `/bin/cat >/dev/null; echo '${stderr}' >&2; exit 1`);
}

const calls = (): string[] => (fs.existsSync(join(dir, "calls")) ? fs.readFileSync(join(dir, "calls"), "utf8").trim().split("\n") : []);
const restored = (family: 4 | 6): string => {
  const p = join(dir, `restore${family}`);
  return fs.existsSync(p) ? fs.readFileSync(p, "utf8") : "";
};

describe("system firewall, nft installed but not working", () => {
  before(() => {
    dir = fs.mkdtempSync(join(tmpdir(), "tether-fw-fake-"));
    bin = join(dir, "bin");
    fs.mkdirSync(bin);
    for (const k of ["PATH", "TETHER_FIREWALL_LOCK"]) saved[k] = process.env[k];
    process.env["PATH"] = bin;
    process.env["TETHER_FIREWALL_LOCK"] = join(dir, "firewall.lock");
    log.configure({ file: join(dir, "log"), level: "warn" });
  });
  after(() => {
    for (const [k, v] of Object.entries(saved)) {
      if (v === undefined) delete process.env[k];
      else process.env[k] = v;
    }
    log.configure({ level: "warn" });
    fs.rmSync(dir, { recursive: true, force: true });
  });
  beforeEach(() => {
    for (const f of ["calls", "restore4", "restore6"]) fs.rmSync(join(dir, f), { force: true });
    brokenNft();
    tool("iptables-save", `printf '%s' '${SAVE}'`);
    tool("ip6tables-save", "printf '*nat\\n:POSTROUTING ACCEPT [0:0]\\nCOMMIT\\n'");
    tool("iptables-restore", `/bin/cat > "${dir}/restore4"`);
    tool("ip6tables-restore", `/bin/cat > "${dir}/restore6"`);
  });

  it("DEL (removeMasquerade): a warning, and the iptables chain still goes", async () => {
    await systemFirewall.removeMasquerade(KEY);
    assert.ok(calls().some((c) => c.endsWith("/nft -j -a list table inet tether")), calls().join("\n"));
    assert.match(restored(4), new RegExp(`^-X ${CHAIN}$`, "m"));
    assert.equal(restored(6), "", "nothing of ours in the IPv6 nat table");
    assert.match(fs.readFileSync(join(dir, "log"), "utf8"), /nft does not work/);
  });

  it("GC and removeTagged: the iptables chains of stale attachments still go", async () => {
    await systemFirewall.gc("net1", []);
    assert.match(restored(4), new RegExp(`^-X ${CHAIN}$`, "m"));
    fs.rmSync(join(dir, "restore4"));
    await systemFirewall.removeTagged(new Set([attachmentTag(KEY)]));
    assert.match(restored(4), new RegExp(`^-X ${CHAIN}$`, "m"));
  });

  it("DEL of spoof checks (nft only): nft asked about both tables, nothing else run, not a failure", async () => {
    await systemFirewall.removeSpoofCheck(KEY);
    const names = calls().map((c) => c.split(" ")[0]!.replace(/.*\//, ""));
    assert.deepEqual([...new Set(names)], ["nft"], calls().join("\n"));
    assert.ok(calls().some((c) => c.endsWith("/nft -j -a list table bridge tether")), calls().join("\n"));
    assert.ok(calls().some((c) => c.endsWith("/nft -j -a list table inet tether")), calls().join("\n"));
    assert.equal(restored(4) + restored(6), "", "iptables untouched");
  });

  it("an nft without the table (nothing to remove) stays quiet and fine", async () => {
    brokenNft("Error: No such file or directory; did you mean table 'x'?");
    fs.writeFileSync(join(dir, "log"), "");
    await systemFirewall.removeMasquerade(KEY);
    assert.match(restored(4), new RegExp(`^-X ${CHAIN}$`, "m"));
    assert.equal(fs.readFileSync(join(dir, "log"), "utf8"), "");
  });
});
