/**
 * Foreign bytes of a network configuration in what `tether status|gc|exec` print (issue 18, item 10
 * applied to conflists): a name, a plugin type or a file that is not JSON appears quoted, control
 * bytes escaped, cut to a readable length.
 */
import assert from "node:assert/strict";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, test } from "node:test";
import { buildProgram } from "../../src/cli/index";

const dir = mkdtempSync(join(tmpdir(), "tether-cli-foreign-"));
after(() => rmSync(dir, { recursive: true, force: true }));

function run(...args: string[]): { code: number; text: string } {
  let text = "";
  const status = { code: 0 };
  const program = buildProgram({ out: (t) => void (text += t), err: (t) => void (text += t) }, status);
  program.exitOverride();
  try {
    program.parse(["node", "tether", ...args]);
  } catch {
    /* commander's exit */
  }
  return { code: status.code, text };
}

function assertTame(text: string): void {
  assert.ok(text.length < 1200, `${text.length} characters: ${text.slice(0, 200)}`);
  // eslint-disable-next-line no-control-regex
  assert.doesNotMatch(text.replace(/\n/g, ""), /[\x00-\x1f\x7f]/, JSON.stringify(text.slice(0, 300)));
}

const hostile = "x\x1b[31mred\x07" + "z".repeat(5000);
const conf = join(dir, "evil.conflist");
writeFileSync(conf, JSON.stringify({ cniVersion: "1.0.0", name: hostile, plugins: [{ type: `ty\x1b[2Jpe${"q".repeat(5000)}` }] }));
const garbage = join(dir, "garbage.conflist");
writeFileSync(garbage, Buffer.from([0xef, 0xbf, 0xbd, 0x1b, 0x5b, 0x32, 0x4a, 0x11, 0x00, 0x07, ...Buffer.alloc(3000, 0x41)]));

test("status: a hostile network name and plugin type", () => {
  const r = run("status", "--conf", conf, "--cni-path", dir);
  assert.equal(r.code, 1);
  assertTame(r.text);
});

test("status --json: a hostile network name and plugin type", () => {
  const r = run("status", "--conf", conf, "--cni-path", dir, "--json");
  assert.equal(r.code, 1);
  const doc = JSON.parse(r.text) as { network: string; failures: { plugin: string; error: string }[] };
  assert.equal(doc.network, JSON.parse(JSON.stringify(hostile)), "the JSON carries the name as it is");
  assert.equal(doc.failures.length, 1);
  assert.ok(doc.failures[0]!.error.length < 700, `an error of ${doc.failures[0]!.error.length} characters`);
});

test("gc: a hostile plugin type", () => {
  const r = run("gc", "--conf", conf, "--cni-path", dir, "--none-valid");
  assert.equal(r.code, 1);
  assertTame(r.text);
});

for (const cmd of ["status", "gc"]) {
  test(`${cmd}: a configuration that is not JSON`, () => {
    const r = run(cmd, "--conf", garbage, "--cni-path", dir, ...(cmd === "gc" ? ["--none-valid"] : []));
    assert.equal(r.code, 2);
    assertTame(r.text);
  });
}
