/** The human CLI (no CNI_COMMAND): version, help, usage errors with exit 2. */
import assert from "node:assert/strict";
import { describe, test } from "node:test";
import { runCli } from "../../src/cli/index";
import { nodeEndOfLife } from "../../src/nodeSupport";

const SUPPORTED = ["0.1.0", "0.2.0", "0.3.0", "0.3.1", "0.4.0", "1.0.0", "1.1.0"];

async function cli(argv: string[]): Promise<{ code: number; out: string; err: string }> {
  let out = "";
  let err = "";
  const exitCodeBefore = process.exitCode;
  const code = await runCli(argv, { out: (t) => (out += t), err: (t) => (err += t) });
  assert.equal(process.exitCode, exitCodeBefore, "runCli must not set process.exitCode itself");
  return { code, out, err };
}

describe("tether version", () => {
  test("prints tether's version, the CNI versions and node", async () => {
    const r = await cli(["version"]);
    assert.equal(r.code, 0);
    assert.equal(r.err, "");
    assert.match(r.out, /^tether \S+/);
    assert.ok(r.out.includes(SUPPORTED.join(", ")), r.out);
    assert.ok(r.out.includes(`Node.js ${process.version} (end of life `), r.out);
  });
  test("--json parses and carries the same facts", async () => {
    const r = await cli(["version", "--json"]);
    assert.equal(r.code, 0);
    assert.equal(r.err, "");
    const info = JSON.parse(r.out) as Record<string, unknown>;
    assert.deepEqual(info["cniVersions"], SUPPORTED);
    assert.equal(typeof info["version"], "string");
    assert.equal(typeof info["commit"], "string");
    assert.equal(typeof info["date"], "string");
    assert.equal(info["node"], process.version);
    assert.equal(info["nodeEndOfLife"], nodeEndOfLife(process.version) ?? "unknown");
    assert.equal(typeof info["singleExecutable"], "boolean");
    assert.equal(info["codeCache"], "none", "the compiled sources run without the front");
  });
  test("an unknown option -> exit 2, usage on err, nothing on out", async () => {
    const r = await cli(["version", "--bogus"]);
    assert.equal(r.code, 2);
    assert.equal(r.out, "");
    assert.match(r.err, /--bogus/);
    assert.match(r.err, /Usage: tether version/);
  });
  test("extra arguments -> exit 2", async () => {
    const r = await cli(["version", "extra"]);
    assert.equal(r.code, 2);
    assert.equal(r.out, "");
    assert.notEqual(r.err, "");
  });
  test("version --help -> exit 0, help on out", async () => {
    const r = await cli(["version", "--help"]);
    assert.equal(r.code, 0);
    assert.match(r.out, /Usage: tether version/);
    assert.match(r.out, /--json/);
    assert.equal(r.err, "");
  });
});

describe("help", () => {
  for (const argv of [["--help"], ["-h"], ["help"]]) {
    test(`${argv.join(" ")} -> exit 0, usage on out listing the commands`, async () => {
      const r = await cli(argv);
      assert.equal(r.code, 0);
      assert.equal(r.err, "");
      assert.match(r.out, /Usage: tether/);
      assert.match(r.out, /version/);
      assert.match(r.out, /CNI_COMMAND/);
    });
  }
  test("help version -> the version command's help", async () => {
    const r = await cli(["help", "version"]);
    assert.equal(r.code, 0);
    assert.match(r.out, /Usage: tether version/);
  });
});

describe("usage errors", () => {
  test("an unknown subcommand -> exit 2, usage on err, nothing on out", async () => {
    const r = await cli(["frobnicate"]);
    assert.equal(r.code, 2);
    assert.equal(r.out, "");
    assert.match(r.err, /frobnicate/);
    assert.match(r.err, /Usage: tether/);
  });
  test("an unknown option -> exit 2, usage on err, nothing on out", async () => {
    const r = await cli(["--bogus"]);
    assert.equal(r.code, 2);
    assert.equal(r.out, "");
    assert.match(r.err, /Usage: tether/);
  });
  test("no arguments -> usage on err, exit 2", async () => {
    const r = await cli([]);
    assert.equal(r.code, 2);
    assert.equal(r.out, "");
    assert.match(r.err, /Usage: tether/);
    assert.match(r.err, /version/);
  });
  test("a CNI command name is not a subcommand", async () => {
    const r = await cli(["ADD"]);
    assert.equal(r.code, 2);
    assert.equal(r.out, "");
  });
});
