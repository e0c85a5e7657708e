/**
 * The protocol as a runtime sees it: spawn tether with only PATH and CNI_* in the environment and the
 * config on a pipe, then read exit code, stdout and stderr. Runs against the compiled sources and,
 * when it exists, dist/tether (see test/helpers/binary.ts). Nothing here reaches the kernel: every
 * invocation either needs no kernel (VERSION, CLI) or fails before the plugin touches anything.
 */
import assert from "node:assert/strict";
import { after, before, describe, test } from "node:test";
import { spawn } from "node:child_process";
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { COMPILED_MAIN, tetherCommands, type TetherCommand } from "../helpers/binary";

const SUPPORTED = ["0.1.0", "0.2.0", "0.3.0", "0.3.1", "0.4.0", "1.0.0", "1.1.0"];

interface Outcome {
  status: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
}

/** Exec tether as a runtime would: a small environment, stdin from a pipe (or /dev/null). */
function exec(t: TetherCommand, env: Record<string, string>, stdin?: string, argv: string[] = []): Promise<Outcome> {
  return new Promise((resolvePromise, reject) => {
    const child = spawn(t.cmd, [...t.args, ...argv], {
      env: { PATH: process.env["PATH"] ?? "/usr/local/bin:/usr/bin:/bin", ...env },
      stdio: [stdin === undefined ? "ignore" : "pipe", "pipe", "pipe"],
      cwd: "/",
    });
    const out: Buffer[] = [];
    const err: Buffer[] = [];
    child.stdout?.on("data", (b: Buffer) => out.push(b));
    child.stderr?.on("data", (b: Buffer) => err.push(b));
    const timer = setTimeout(() => child.kill("SIGKILL"), 30_000);
    child.on("error", (e) => {
      clearTimeout(timer);
      reject(e);
    });
    child.on("close", (status, signal) => {
      clearTimeout(timer);
      resolvePromise({
        status,
        signal,
        stdout: Buffer.concat(out).toString("utf8"),
        stderr: Buffer.concat(err).toString("utf8"),
      });
    });
    if (stdin !== undefined) {
      child.stdin?.on("error", () => undefined); // the plugin may exit before reading it all
      child.stdin?.end(stdin);
    }
  });
}

function cni(command: string, extra: Record<string, string> = {}): Record<string, string> {
  return {
    CNI_COMMAND: command,
    CNI_CONTAINERID: "e2e0001",
    CNI_NETNS: "/proc/self/ns/net",
    CNI_IFNAME: "eth0",
    CNI_PATH: "/nonexistent/cni/bin",
    ...extra,
  };
}

function conf(extra: Record<string, unknown> = {}): string {
  return JSON.stringify({ cniVersion: "1.0.0", name: "tether-e2e", type: "tether", ...extra });
}

/** A failure: exit 1, stdout is one JSON error object and nothing else, no stack lines. */
function assertError(o: Outcome, code: number): { cniVersion: string; code: number; msg: string; details?: string } {
  assert.equal(o.signal, null, `killed by ${o.signal}; stderr: ${o.stderr}`);
  assert.equal(o.status, 1, `exit status; stdout: ${o.stdout}; stderr: ${o.stderr}`);
  let doc: unknown;
  try {
    doc = JSON.parse(o.stdout);
  } catch {
    assert.fail(`stdout is not exactly one JSON document: ${JSON.stringify(o.stdout)}`);
  }
  assert.ok(typeof doc === "object" && doc !== null && !Array.isArray(doc), o.stdout);
  const obj = doc as Record<string, unknown>;
  for (const k of Object.keys(obj)) assert.ok(["cniVersion", "code", "msg", "details"].includes(k), `unexpected key ${k}`);
  assert.equal(obj["code"], code, o.stdout);
  assert.equal(typeof obj["msg"], "string");
  assert.equal(typeof obj["cniVersion"], "string");
  assert.doesNotMatch(o.stdout, /\bat \S+ \(/, "no stack frame on stdout");
  assert.doesNotMatch(o.stdout, /\\n\s*at /, "no stack frame on stdout");
  assert.doesNotMatch(o.stdout, /^\s*at /m, "no stack frame on stdout");
  assert.equal(o.stdout.trim().split("\n").length, 1, "one line on stdout");
  return obj as unknown as { cniVersion: string; code: number; msg: string; details?: string };
}

/** Every non-empty stderr line is a pino JSON record. */
function logRecords(stderr: string): Record<string, unknown>[] {
  return stderr
    .split("\n")
    .filter((l) => l.trim() !== "")
    .map((line) => {
      let rec: unknown;
      try {
        rec = JSON.parse(line);
      } catch {
        assert.fail(`stderr line is not JSON: ${JSON.stringify(line)}`);
      }
      assert.ok(typeof rec === "object" && rec !== null && !Array.isArray(rec), line);
      const r = rec as Record<string, unknown>;
      assert.equal(typeof r["level"], "number", line);
      assert.equal(typeof r["time"], "number", line);
      assert.equal(typeof r["msg"], "string", line);
      return r;
    });
}

test("the compiled main exists (run tsc first)", async () => {
  assert.ok(existsSync(COMPILED_MAIN), COMPILED_MAIN);
});

for (const t of tetherCommands()) {
  describe(`protocol: ${t.label}`, () => {
    let dir = "";
    before(() => {
      dir = mkdtempSync(join(tmpdir(), "tether-e2e-"));
      writeFileSync(join(dir, "regular-file"), "x");
    });
    after(() => rmSync(dir, { recursive: true, force: true }));

    describe("VERSION", { concurrency: 4 }, () => {
      for (const v of ["1.1.0", "1.0.0", "0.4.0", "0.1.0"]) {
        test(`echoes ${v}, exact bytes, exit 0, nothing on stderr`, async () => {
          const o = await exec(t, { CNI_COMMAND: "VERSION" }, JSON.stringify({ cniVersion: v }));
          assert.equal(o.status, 0, o.stderr);
          assert.equal(o.stdout, `{"cniVersion":"${v}","supportedVersions":${JSON.stringify(SUPPORTED)}}`);
          assert.equal(o.stderr, "");
        });
      }
      test("with stdin from /dev/null", async () => {
        const o = await exec(t, { CNI_COMMAND: "VERSION" });
        assert.equal(o.status, 0, o.stderr);
        assert.equal(o.stdout, `{"cniVersion":"1.1.0","supportedVersions":${JSON.stringify(SUPPORTED)}}`);
      });
      test("with an empty pipe and libcni's dummy variables", async () => {
        const o = await exec(t, { CNI_COMMAND: "VERSION", CNI_NETNS: "dummy", CNI_IFNAME: "dummy", CNI_PATH: "dummy" }, "");
        assert.equal(o.status, 0, o.stderr);
        assert.deepEqual(JSON.parse(o.stdout), { cniVersion: "1.1.0", supportedVersions: SUPPORTED });
      });
    });

    describe("every error class: exit 1, one JSON object on stdout, no stack", { concurrency: 4 }, () => {
      test("unknown CNI_COMMAND -> 4", async () => {
        const e = assertError(await exec(t, cni("FROB"), conf()), 4);
        assert.match(e.msg, /CNI_COMMAND/);
      });
      test("missing variables -> 4 naming them", async () => {
        const e = assertError(await exec(t, { CNI_COMMAND: "ADD" }, conf()), 4);
        for (const v of ["CNI_CONTAINERID", "CNI_NETNS", "CNI_IFNAME"]) assert.ok(e.msg.includes(v), e.msg);
        assert.equal(e.cniVersion, "1.0.0");
      });
      test("empty variables (libcni style) -> 4", async () => {
        const e = assertError(await exec(t, cni("DEL", { CNI_CONTAINERID: "", CNI_IFNAME: "", CNI_NETNS: "" }), conf()), 4);
        assert.ok(e.msg.includes("CNI_CONTAINERID") && e.msg.includes("CNI_IFNAME"), e.msg);
      });
      test("an ifname of 16 bytes -> 4", async () => {
        assertError(await exec(t, cni("ADD", { CNI_IFNAME: "abcdefghijklmnop" }), conf()), 4);
      });
      test("a bad container id -> 4", async () => {
        assertError(await exec(t, cni("ADD", { CNI_CONTAINERID: "-bad" }), conf()), 4);
      });
      test("malformed JSON -> 6", async () => {
        assertError(await exec(t, cni("ADD"), '{"cniVersion": "1.0.0",'), 6);
      });
      test("empty stdin -> 6", async () => {
        assertError(await exec(t, cni("DEL"), ""), 6);
      });
      test("unsupported cniVersion -> 1 with details", async () => {
        const e = assertError(await exec(t, cni("ADD"), conf({ cniVersion: "9.9.9" })), 1);
        assert.match(e.details ?? "", /9\.9\.9/);
      });
      test("CHECK below 0.4.0 -> 1", async () => {
        const e = assertError(await exec(t, cni("CHECK"), conf({ cniVersion: "0.3.1" })), 1);
        assert.equal(e.cniVersion, "0.3.1");
      });
      test("GC and STATUS below 1.1.0 (every older version, and none: 0.1.0) -> 1 in that version", async () => {
        for (const command of ["GC", "STATUS"]) {
          for (const v of ["0.1.0", "0.2.0", "0.3.0", "0.3.1", "0.4.0", "1.0.0", undefined]) {
            const e = assertError(await exec(t, cni(command), conf({ cniVersion: v, "cni.dev/valid-attachments": [] })), 1);
            assert.equal(e.cniVersion, v ?? "0.1.0", `${command} ${v}`);
            assert.match(e.msg, new RegExp(`does not allow ${command}`));
          }
          // At 1.1.0 both run for real: test/e2e/gc.test.ts does that inside its own namespaces (never here,
          // in the test's own namespace).
        }
      });
      test("a bad network name -> 7", async () => {
        const e = assertError(await exec(t, cni("ADD"), conf({ name: "bad name" })), 7);
        assert.match(e.msg, /^name: /);
      });
      test("a config field out of range -> 7 naming the field", async () => {
        const e = assertError(await exec(t, cni("ADD"), conf({ mtu: 1 })), 7);
        assert.match(e.msg, /^mtu: /);
      });
      test("unknown CNI_ARGS keys on ADD -> 4", async () => {
        const e = assertError(await exec(t, cni("ADD", { CNI_ARGS: "FOO=bar" }), conf()), 4);
        assert.match(e.msg, /FOO/);
      });
      test("CNI_NETNS a regular file -> 4", async () => {
        const e = assertError(await exec(t, cni("ADD", { CNI_NETNS: join(dir, "regular-file") }), conf()), 4);
        assert.match(e.msg, /CNI_NETNS/);
      });
      test("CNI_NETNS a directory -> 4", async () => {
        assertError(await exec(t, cni("CHECK", { CNI_NETNS: dir }), conf()), 4);
      });
      test("CNI_NETNS the plugin's own namespace -> 8", async () => {
        const e = assertError(await exec(t, cni("ADD"), conf()), 8);
        assert.equal(e.cniVersion, "1.0.0");
      });
      test("a malformed prevResult on CHECK -> 6", async () => {
        const e = assertError(await exec(t, cni("CHECK", { CNI_NETNS_OVERRIDE: "1" }), conf({ prevResult: { ips: "x" } })), 6);
        assert.match(e.msg, /^prevResult\.ips/);
      });
    });

    describe("the human CLI", { concurrency: 4 }, () => {
      test("no CNI_COMMAND and no arguments: usage on stderr, exit 2, nothing on stdout", async () => {
        const o = await exec(t, {});
        assert.equal(o.status, 2);
        assert.equal(o.stdout, "");
        assert.match(o.stderr, /Usage: tether/);
      });
      test("an empty CNI_COMMAND counts as absent", async () => {
        const o = await exec(t, { CNI_COMMAND: "" });
        assert.equal(o.status, 2);
        assert.equal(o.stdout, "");
        assert.match(o.stderr, /Usage: tether/);
      });
      test("version: exit 0, the CNI versions on stdout", async () => {
        const o = await exec(t, {}, undefined, ["version"]);
        assert.equal(o.status, 0, o.stderr);
        assert.ok(o.stdout.includes(SUPPORTED.join(", ")), o.stdout);
        assert.equal(o.stderr, "");
      });
      test("version --json parses", async () => {
        const o = await exec(t, {}, undefined, ["version", "--json"]);
        assert.equal(o.status, 0, o.stderr);
        assert.deepEqual((JSON.parse(o.stdout) as { cniVersions: unknown }).cniVersions, SUPPORTED);
      });
      test("--help: exit 0", async () => {
        const o = await exec(t, {}, undefined, ["--help"]);
        assert.equal(o.status, 0);
        assert.match(o.stdout, /Usage: tether/);
      });
      test("an unknown subcommand: exit 2, usage on stderr, nothing on stdout", async () => {
        const o = await exec(t, {}, undefined, ["frobnicate"]);
        assert.equal(o.status, 2);
        assert.equal(o.stdout, "");
        assert.match(o.stderr, /Usage: tether/);
      });
      test("version --bogus: exit 2, nothing on stdout", async () => {
        const o = await exec(t, {}, undefined, ["version", "--bogus"]);
        assert.equal(o.status, 2);
        assert.equal(o.stdout, "");
        assert.match(o.stderr, /--bogus/);
      });
    });

    describe("logging: JSON on stderr (or the log file), never on stdout", { concurrency: 4 }, () => {
      test("TETHER_LOG_LEVEL=debug, a failing ADD: stdout is the error alone, stderr is pino records with the invocation's fields", async () => {
        const o = await exec(t, cni("ADD", { TETHER_LOG_LEVEL: "debug" }), conf());
        assertError(o, 8);
        const recs = logRecords(o.stderr);
        const failed = recs.find((r) => r["msg"] === "ADD failed");
        assert.ok(failed, o.stderr);
        assert.equal(failed["level"], 50);
        assert.equal(failed["command"], "ADD");
        assert.equal(failed["containerId"], "e2e0001");
        assert.equal(failed["ifname"], "eth0");
        assert.equal(failed["network"], "tether-e2e");
        assert.equal(typeof failed["durationMs"], "number");
      });
      test("the default level still logs errors as JSON on stderr", async () => {
        const o = await exec(t, cni("ADD"), conf());
        assertError(o, 8);
        assert.ok(logRecords(o.stderr).some((r) => r["msg"] === "ADD failed"), o.stderr);
      });
      test("TETHER_LOG_LEVEL wins over the config's log.level", async () => {
        const o = await exec(t, cni("ADD", { TETHER_LOG_LEVEL: "debug" }), conf({ log: { level: "silent" } }));
        assertError(o, 8);
        assert.ok(logRecords(o.stderr).some((r) => r["msg"] === "ADD failed"), o.stderr);
      });
      test("log.level silent in the config: nothing on stderr", async () => {
        const o = await exec(t, cni("ADD"), conf({ log: { level: "silent" } }));
        assertError(o, 8);
        assert.equal(o.stderr, "");
      });
      test("log.file in the config: records go to the file, not stderr or stdout", async () => {
        const file = join(dir, `log-${t.label.replace(/\W+/g, "_")}.jsonl`);
        const o = await exec(t, cni("ADD", { TETHER_LOG_LEVEL: "debug" }), conf({ log: { file } }));
        assertError(o, 8);
        assert.equal(o.stderr, "");
        const recs = logRecords(readFileSync(file, "utf8"));
        assert.ok(recs.some((r) => r["msg"] === "ADD failed" && r["network"] === "tether-e2e"), readFileSync(file, "utf8"));
      });
      test("TETHER_LOG_LEVEL=debug, VERSION: stdout exactly the version document", async () => {
        const o = await exec(t, { CNI_COMMAND: "VERSION", TETHER_LOG_LEVEL: "debug" }, '{"cniVersion":"1.0.0"}');
        assert.equal(o.status, 0);
        assert.equal(o.stdout, `{"cniVersion":"1.0.0","supportedVersions":${JSON.stringify(SUPPORTED)}}`);
        logRecords(o.stderr);
      });
      test("TETHER_LOG_LEVEL=debug, a successful STATUS (no IPAM): empty stdout, JSON records with a duration", async () => {
        const o = await exec(t, cni("STATUS", { TETHER_LOG_LEVEL: "debug", CNI_CONTAINERID: "", CNI_NETNS: "", CNI_IFNAME: "" }), conf({ cniVersion: "1.1.0" }));
        assert.equal(o.status, 0, `stdout: ${o.stdout}; stderr: ${o.stderr}`);
        assert.equal(o.stdout, "");
        const done = logRecords(o.stderr).find((r) => r["msg"] === "STATUS done");
        assert.ok(done, o.stderr);
        assert.equal(done["command"], "STATUS");
        assert.equal(done["network"], "tether-e2e");
        assert.equal(typeof done["durationMs"], "number");
      });
      test("TETHER_LOG_LEVEL=debug, malformed JSON (before the config is known): still JSON records only", async () => {
        const o = await exec(t, cni("ADD", { TETHER_LOG_LEVEL: "debug" }), "{");
        assertError(o, 6);
        logRecords(o.stderr);
      });
    });
  });
}
