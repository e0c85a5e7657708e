/** `tether ipam list`: every reservation with address, container id, ifname and range. */
import assert from "node:assert/strict";
import * as fs from "node:fs";
import { join } from "node:path";
import { after, describe, test } from "node:test";
import { runCli } from "../../src/cli/index";
import { removeDir, tempDir } from "../helpers/ipamFixtures";

const root = tempDir("tether-ipam-cli-");
after(() => removeDir(root));

async function cli(argv: string[]): Promise<{ code: number; out: string; err: string }> {
  let out = "";
  let err = "";
  const code = await runCli(argv, { out: (t) => (out += t), err: (t) => (err += t) });
  return { code, out, err };
}

const data = join(root, "data");
const confDir = join(root, "conf");
fs.mkdirSync(join(data, "netb"), { recursive: true });
fs.mkdirSync(join(data, "neta"), { recursive: true });
fs.mkdirSync(join(data, ".tether-index"), { recursive: true });
fs.mkdirSync(confDir);
fs.writeFileSync(join(data, "neta", "10.1.0.10"), "c1\r\neth0");
fs.writeFileSync(join(data, "neta", "10.1.0.9"), "c2\r\nnet1");
fs.writeFileSync(join(data, "neta", "lock"), "");
fs.writeFileSync(join(data, "neta", "last_reserved_ip.0"), "10.1.0.10");
fs.writeFileSync(join(data, "netb", "fd00::5"), "legacy");
fs.writeFileSync(
  join(confDir, "10-a.conflist"),
  JSON.stringify({ cniVersion: "1.0.0", name: "neta", plugins: [{ type: "tether", ipam: { type: "host-local", ranges: [[{ subnet: "10.1.0.0/24", rangeStart: "10.1.0.5" }]] } }] }),
);

describe("tether ipam list", () => {
  test("a table sorted by network and address, ranges from the configs", async () => {
    const r = await cli(["ipam", "list", "--data-dir", data, "--conf-dir", confDir]);
    assert.equal(r.code, 0, r.err);
    assert.equal(
      r.out,
      [
        "NETWORK  ADDRESS    CONTAINER  IFNAME  RANGE",
        "neta     10.1.0.9   c2         net1    10.1.0.5-10.1.0.254",
        "neta     10.1.0.10  c1         eth0    10.1.0.5-10.1.0.254",
        "netb     fd00::5    legacy     -       -",
        "",
      ].join("\n"),
    );
  });
  test("--json and --network", async () => {
    const r = await cli(["ipam", "list", "--data-dir", data, "--conf-dir", confDir, "--network", "neta", "--json"]);
    assert.equal(r.code, 0, r.err);
    assert.deepEqual(JSON.parse(r.out), [
      { network: "neta", address: "10.1.0.9", containerId: "c2", ifname: "net1", range: "10.1.0.5-10.1.0.254", rangeSet: 0 },
      { network: "neta", address: "10.1.0.10", containerId: "c1", ifname: "eth0", range: "10.1.0.5-10.1.0.254", rangeSet: 0 },
    ]);
  });
  test("nothing to list: exit 0; a bad network name: exit 1; a bad option: exit 2", async () => {
    const empty = await cli(["ipam", "list", "--data-dir", join(root, "none"), "--json"]);
    assert.deepEqual([empty.code, empty.out], [0, "[]\n"]);
    const bad = await cli(["ipam", "list", "--data-dir", data, "--network", "../etc"]);
    assert.equal(bad.code, 1);
    assert.match(bad.err, /not a valid network name/);
    const usage = await cli(["ipam", "list", "--bogus"]);
    assert.equal(usage.code, 2);
    assert.equal(usage.out, "");
    const help = await cli(["ipam", "list", "--help"]);
    assert.equal(help.code, 0);
    assert.match(help.out, /Exit codes: 0/);
  });
});
