/** dispatch(): one invocation end to end, with a fake Io and a fake plugin that records its calls. */
import assert from "node:assert/strict";
import { after, before, describe, test } from "node:test";
import { spawn, type ChildProcess } from "node:child_process";
import { mkdtempSync, readlinkSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { dispatch, type Handlers, type Invocation, type Io, type PluginSpec } from "../../src/cni/dispatch";
import { CniError } from "../../src/cni/errors";
import type { Result } from "../../src/cni/types";
import { loadNetConf } from "../../src/config/netconf";

// ---- fakes -----------------------------------------------------------------------------------

interface Conf {
  name: string;
}

interface Run {
  code: number;
  /** Every writeStdout call. */
  out: string[];
  stdinReads: number;
  rec: Recorder;
}

interface Recorder {
  loadConfig: Record<string, unknown>[];
  onConfig: number;
  handlers: number;
  calls: { command: string; inv: Invocation<Conf> }[];
  done: { command: string; ok: boolean; ms: number; error?: unknown }[];
}

interface PluginBehaviour {
  /** What ADD returns. */
  result?: Result;
  /** What every handler throws. */
  throws?: unknown;
  /** What loadConfig throws. */
  loadThrows?: unknown;
  /** Use the real config loader. */
  realConfig?: boolean;
}

const ADD_RESULT: Result = {
  cniVersion: "1.1.0",
  interfaces: [
    { name: "veth0", mac: "0a:58:0a:16:00:01", mtu: 1500 },
    { name: "eth0", mac: "0a:58:0a:16:00:05", mtu: 1500, sandbox: "/run/netns/x" },
  ],
  ips: [
    { address: "10.22.0.5/16", gateway: "10.22.0.1", interface: 1 },
    { address: "fd00::5/64", gateway: "fd00::1", interface: 1 },
  ],
  routes: [{ dst: "0.0.0.0/0", gw: "10.22.0.1", priority: 10 }, { dst: "::/0" }],
  dns: { nameservers: ["10.22.0.1"] },
};

function fakePlugin(b: PluginBehaviour): { plugin: PluginSpec<Conf>; rec: Recorder } {
  const rec: Recorder = { loadConfig: [], onConfig: 0, handlers: 0, calls: [], done: [] };
  const record = async (command: string, inv: Invocation<Conf>): Promise<void> => {
    rec.calls.push({ command, inv });
    if (b.throws !== undefined) throw b.throws;
  };
  const handlers: Handlers<Conf> = {
    async add(inv) {
      await record("ADD", inv);
      return b.result ?? ADD_RESULT;
    },
    del: (inv) => record("DEL", inv),
    check: (inv) => record("CHECK", inv),
    gc: (inv) => record("GC", inv),
    status: (inv) => record("STATUS", inv),
  };
  const plugin: PluginSpec<Conf> = {
    loadConfig(raw) {
      rec.loadConfig.push(raw);
      if (b.loadThrows !== undefined) throw b.loadThrows;
      if (b.realConfig) return { name: loadNetConf(raw).name };
      return { name: typeof raw["name"] === "string" ? raw["name"] : "" };
    },
    onConfig() {
      rec.onConfig++;
    },
    handlers() {
      rec.handlers++;
      return handlers;
    },
    onDone(outcome) {
      rec.done.push(outcome);
    },
  };
  return { plugin, rec };
}

/** The environment libcni would set for a command, with an own-netns override so ADD/CHECK can run. */
function cniEnv(command: string, extra: Record<string, string> = {}): NodeJS.ProcessEnv {
  return {
    CNI_COMMAND: command,
    CNI_CONTAINERID: "c0ffee",
    CNI_NETNS: "/proc/self/ns/net",
    CNI_NETNS_OVERRIDE: "1",
    CNI_IFNAME: "eth0",
    CNI_PATH: "/opt/cni/bin",
    ...extra,
  };
}

async function run(
  env: NodeJS.ProcessEnv,
  stdin: string | Buffer | undefined | (() => Buffer | undefined),
  b: PluginBehaviour = {},
  writeStdout?: (text: string) => void,
): Promise<Run> {
  const { plugin, rec } = fakePlugin(b);
  const out: string[] = [];
  let stdinReads = 0;
  let t = 0;
  const io: Io = {
    env,
    readStdin() {
      stdinReads++;
      if (typeof stdin === "function") return stdin();
      return stdin === undefined ? undefined : Buffer.from(stdin);
    },
    writeStdout: writeStdout ?? ((text) => out.push(text)),
    now: () => (t += 5),
  };
  const code = await dispatch(io, plugin);
  return { code, out, stdinReads, rec };
}

function conf(extra: Record<string, unknown> = {}): string {
  return JSON.stringify({ cniVersion: "1.0.0", name: "testnet", type: "tether", ...extra });
}

/** Exactly one JSON document was written; return it. */
function theDocument(r: Run): Record<string, unknown> {
  assert.equal(r.out.length, 1, `expected one write to stdout, got ${JSON.stringify(r.out)}`);
  const doc = JSON.parse(r.out.join("")) as unknown;
  assert.ok(typeof doc === "object" && doc !== null && !Array.isArray(doc));
  return doc as Record<string, unknown>;
}

interface ErrorDoc {
  cniVersion: string;
  code: number;
  msg: string;
  details?: string;
}

/** An error object: exit 1, one document, the spec's keys, no stack anywhere. */
function theError(r: Run, code: number): ErrorDoc {
  assert.equal(r.code, 1, "a failure exits non-zero");
  const doc = theDocument(r);
  for (const k of Object.keys(doc)) assert.ok(["cniVersion", "code", "msg", "details"].includes(k), `unexpected key ${k}`);
  assert.equal(doc["code"], code, `expected code ${code}: ${JSON.stringify(doc)}`);
  assert.equal(typeof doc["msg"], "string");
  assert.equal(typeof doc["cniVersion"], "string");
  const text = r.out.join("");
  assert.doesNotMatch(text, /\bat .*:\d+:\d+/, "no stack frame");
  assert.ok(!text.includes(__filename), "no stack frame naming this file");
  return doc as unknown as ErrorDoc;
}

function handled(r: Run): string[] {
  return r.rec.calls.map((c) => c.command);
}

// ---- VERSION -------------------------------------------------------------------------------------

describe("VERSION", () => {
  const SUPPORTED = ["0.1.0", "0.2.0", "0.3.0", "0.3.1", "0.4.0", "1.0.0", "1.1.0"];
  for (const v of ["0.1.0", "0.3.1", "0.4.0", "1.0.0", "1.1.0"]) {
    test(`echoes the input's cniVersion ${v}`, async () => {
      const r = await run({ CNI_COMMAND: "VERSION" }, JSON.stringify({ cniVersion: v }));
      assert.equal(r.code, 0);
      assert.equal(r.out.join(""), JSON.stringify({ cniVersion: v, supportedVersions: SUPPORTED }));
    });
  }
  test("works with no stdin at all", async () => {
    const r = await run({ CNI_COMMAND: "VERSION" }, undefined);
    assert.equal(r.code, 0);
    assert.deepEqual(theDocument(r), { cniVersion: "1.1.0", supportedVersions: SUPPORTED });
  });
  test("works with empty stdin, malformed stdin, and a stdin that fails to read", async () => {
    for (const stdin of ["", "{not json", "[]", "null", () => { throw new CniError(5, "EIO"); }] as const) {
      const r = await run({ CNI_COMMAND: "VERSION" }, stdin);
      assert.equal(r.code, 0);
      assert.deepEqual(theDocument(r), { cniVersion: "1.1.0", supportedVersions: SUPPORTED });
    }
  });
  test("needs no other variable and ignores libcni's dummy ones", async () => {
    const r = await run({ CNI_COMMAND: "VERSION", CNI_NETNS: "dummy", CNI_IFNAME: "dummy", CNI_PATH: "dummy" }, '{"cniVersion":"1.1.0"}');
    assert.equal(r.code, 0);
    assert.equal(theDocument(r)["cniVersion"], "1.1.0");
  });
  test("does not call the plugin", async () => {
    const r = await run({ CNI_COMMAND: "VERSION" }, conf());
    assert.deepEqual(r.rec.loadConfig, []);
    assert.equal(r.rec.handlers, 0);
    assert.equal(r.rec.onConfig, 0);
    assert.deepEqual(handled(r), []);
  });
});

// ---- success paths -------------------------------------------------------------------------------

describe("ADD", () => {
  test("prints the handler's result in the request's version (1.0.0)", async () => {
    const r = await run(cniEnv("ADD"), conf());
    assert.equal(r.code, 0);
    assert.deepEqual(theDocument(r), { ...ADD_RESULT, cniVersion: "1.0.0" });
    assert.deepEqual(handled(r), ["ADD"]);
  });
  test("0.4.0: version on each IP, 1.1 fields gone", async () => {
    const r = await run(cniEnv("ADD"), conf({ cniVersion: "0.4.0" }));
    assert.equal(r.code, 0);
    const doc = theDocument(r);
    assert.equal(doc["cniVersion"], "0.4.0");
    assert.deepEqual(doc["ips"], [
      { version: "4", address: "10.22.0.5/16", gateway: "10.22.0.1", interface: 1 },
      { version: "6", address: "fd00::5/64", gateway: "fd00::1", interface: 1 },
    ]);
    assert.deepEqual(doc["routes"], [{ dst: "0.0.0.0/0", gw: "10.22.0.1" }, { dst: "::/0" }]);
    assert.deepEqual(doc["interfaces"], [
      { name: "veth0", mac: "0a:58:0a:16:00:01" },
      { name: "eth0", mac: "0a:58:0a:16:00:05", sandbox: "/run/netns/x" },
    ]);
  });
  test("0.2.0: ip4/ip6", async () => {
    const r = await run(cniEnv("ADD"), conf({ cniVersion: "0.2.0" }));
    assert.equal(r.code, 0);
    assert.deepEqual(theDocument(r), {
      cniVersion: "0.2.0",
      ip4: { ip: "10.22.0.5/16", gateway: "10.22.0.1", routes: [{ dst: "0.0.0.0/0", gw: "10.22.0.1" }] },
      ip6: { ip: "fd00::5/64", gateway: "fd00::1", routes: [{ dst: "::/0" }] },
      dns: { nameservers: ["10.22.0.1"] },
    });
  });
  test("a missing cniVersion answers in 0.1.0 format", async () => {
    const r = await run(cniEnv("ADD"), JSON.stringify({ name: "n", type: "tether" }));
    assert.equal(r.code, 0);
    const doc = theDocument(r);
    assert.equal(doc["cniVersion"], "0.1.0");
    assert.ok("ip4" in doc && !("ips" in doc));
  });
  test("a result the version cannot express is an error object, not a result", async () => {
    const r = await run(cniEnv("ADD"), conf({ cniVersion: "0.2.0" }), { result: { cniVersion: "1.1.0", interfaces: [{ name: "eth0" }] } });
    const e = theError(r, 1);
    assert.equal(e.cniVersion, "0.2.0");
    assert.deepEqual(handled(r), ["ADD"]);
  });
  test("the invocation carries env, version, raw config, exact stdin bytes and parsed args", async () => {
    const stdin = conf({ extra: { a: 1 } }) + "\n";
    const r = await run(cniEnv("ADD", { CNI_ARGS: "K8S_POD_NAME=web;K8S_POD_NAMESPACE=prod" }), stdin);
    assert.equal(r.code, 0);
    const inv = r.rec.calls[0]?.inv;
    assert.ok(inv);
    assert.equal(inv.command, "ADD");
    assert.equal(inv.version, "1.0.0");
    assert.equal(inv.env.containerId, "c0ffee");
    assert.equal(inv.env.ifname, "eth0");
    assert.deepEqual(inv.env.path, ["/opt/cni/bin"]);
    assert.deepEqual(inv.raw["extra"], { a: 1 });
    assert.equal(inv.stdin.toString("utf8"), stdin);
    assert.equal(inv.args.k8sPodName, "web");
    assert.equal(inv.args.k8sPodNamespace, "prod");
    assert.equal(inv.conf.name, "testnet");
    assert.equal(inv.prevResult, undefined);
    assert.equal(r.rec.onConfig, 1);
  });
  test("unknown CNI_ARGS keys without IgnoreUnknown -> code 4, handler not run", async () => {
    const r = await run(cniEnv("ADD", { CNI_ARGS: "FOO=bar" }), conf());
    const e = theError(r, 4);
    assert.match(e.msg, /FOO/);
    assert.deepEqual(handled(r), []);
  });
  test("unknown CNI_ARGS keys with IgnoreUnknown -> runs", async () => {
    const r = await run(cniEnv("ADD", { CNI_ARGS: "IgnoreUnknown=1;FOO=bar" }), conf());
    assert.equal(r.code, 0);
    assert.deepEqual(handled(r), ["ADD"]);
  });
  test("a bad IP= on ADD -> code 4", async () => {
    const r = await run(cniEnv("ADD", { CNI_ARGS: "IP=10.0.0.300" }), conf());
    theError(r, 4);
  });
});

describe("DEL, CHECK, GC, STATUS print nothing on success", () => {
  const cases: [string, string][] = [
    ["DEL", conf()],
    ["CHECK", conf({ prevResult: { cniVersion: "1.0.0", ips: [{ address: "10.0.0.2/24" }] } })],
    ["GC", conf({ cniVersion: "1.1.0", "cni.dev/valid-attachments": [] })],
    ["STATUS", conf({ cniVersion: "1.1.0" })],
  ];
  for (const [command, stdin] of cases) {
    test(command, async () => {
      const r = await run(cniEnv(command), stdin);
      assert.equal(r.code, 0);
      assert.deepEqual(r.out, []);
      assert.deepEqual(handled(r), [command]);
      assert.equal(r.rec.done.length, 1);
      assert.equal(r.rec.done[0]?.ok, true);
    });
  }
  test("GC and STATUS with libcni's empty attachment variables", async () => {
    for (const command of ["GC", "STATUS"]) {
      const r = await run({ CNI_COMMAND: command, CNI_CONTAINERID: "", CNI_NETNS: "", CNI_IFNAME: "", CNI_ARGS: "", CNI_PATH: "/opt/cni/bin" }, conf({ cniVersion: "1.1.0" }));
      assert.equal(r.code, 0);
      assert.deepEqual(r.out, []);
      assert.deepEqual(handled(r), [command]);
    }
  });
});

describe("DEL is best effort", () => {
  test("unknown CNI_ARGS keys still run the handler (they are kept in raw)", async () => {
    const r = await run(cniEnv("DEL", { CNI_ARGS: "FOO=bar;junk;IP=nope;K8S_POD_NAME=p" }), conf());
    assert.equal(r.code, 0);
    assert.deepEqual(r.out, []);
    assert.deepEqual(handled(r), ["DEL"]);
    const args = r.rec.calls[0]?.inv.args;
    assert.equal(args?.k8sPodName, "p");
    assert.ok(args?.raw.some(([k]) => k === "FOO"));
  });
  test("no CNI_NETNS", async () => {
    const env = cniEnv("DEL");
    delete env["CNI_NETNS"];
    const r = await run(env, conf());
    assert.equal(r.code, 0);
    assert.equal(r.rec.calls[0]?.inv.env.netns, "");
  });
  test("a CNI_NETNS that no longer exists", async () => {
    const r = await run(cniEnv("DEL", { CNI_NETNS: "/run/netns/gone-long-ago", CNI_NETNS_OVERRIDE: "" }), conf());
    assert.equal(r.code, 0);
    assert.deepEqual(handled(r), ["DEL"]);
  });
  test("a broken prevResult does not stop DEL (the handler runs without it)", async () => {
    const r = await run(cniEnv("DEL"), conf({ prevResult: { cniVersion: "1.0.0", ips: [{ address: 5 }] } }));
    assert.equal(r.code, 0);
    assert.deepEqual(handled(r), ["DEL"]);
    assert.equal(r.rec.calls[0]?.inv.prevResult, undefined);
  });
  test("a good prevResult is handed to DEL", async () => {
    const r = await run(cniEnv("DEL"), conf({ prevResult: { cniVersion: "1.0.0", ips: [{ address: "10.0.0.2/24" }] } }));
    assert.deepEqual(r.rec.calls[0]?.inv.prevResult, { cniVersion: "1.0.0", ips: [{ address: "10.0.0.2/24" }] });
  });
});

describe("prevResult", () => {
  test("is parsed and handed to CHECK", async () => {
    const prev = {
      cniVersion: "1.0.0",
      interfaces: [{ name: "eth0", sandbox: "/run/netns/x" }],
      ips: [{ address: "10.0.0.2/24", gateway: "10.0.0.1", interface: 0 }],
      routes: [{ dst: "0.0.0.0/0" }],
    };
    const r = await run(cniEnv("CHECK"), conf({ prevResult: prev }));
    assert.equal(r.code, 0);
    assert.deepEqual(r.rec.calls[0]?.inv.prevResult, prev);
  });
  test("0.4.0 prevResult: version dropped", async () => {
    const r = await run(cniEnv("CHECK"), conf({ cniVersion: "0.4.0", prevResult: { cniVersion: "0.4.0", ips: [{ version: "4", address: "10.0.0.2/24" }] } }));
    assert.equal(r.code, 0);
    assert.deepEqual(r.rec.calls[0]?.inv.prevResult, { cniVersion: "0.4.0", ips: [{ address: "10.0.0.2/24" }] });
  });
  test("a prevResult without cniVersion takes the request's", async () => {
    const r = await run(cniEnv("CHECK"), conf({ cniVersion: "1.1.0", prevResult: { ips: [{ address: "10.0.0.2/24" }] } }));
    assert.equal(r.rec.calls[0]?.inv.prevResult?.cniVersion, "1.1.0");
  });
  test("a malformed prevResult on CHECK -> code 6 naming the field", async () => {
    const r = await run(cniEnv("CHECK"), conf({ prevResult: { cniVersion: "1.0.0", interfaces: [], ips: [{ address: "10.0.0.2/24", interface: 0 }] } }));
    const e = theError(r, 6);
    assert.match(e.msg, /^prevResult\.ips\[0\]\.interface/);
    assert.deepEqual(handled(r), []);
  });
  test("a malformed prevResult on ADD -> code 6", async () => {
    const r = await run(cniEnv("ADD"), conf({ prevResult: "nope" }));
    theError(r, 6);
  });
  test("not parsed for GC and STATUS", async () => {
    for (const command of ["GC", "STATUS"]) {
      const r = await run(cniEnv(command), conf({ cniVersion: "1.1.0", prevResult: "garbage" }));
      assert.equal(r.code, 0);
      assert.equal(r.rec.calls[0]?.inv.prevResult, undefined);
    }
  });
});

// ---- errors --------------------------------------------------------------------------------------

describe("errors: one JSON object on stdout, never a result and an error", () => {
  test("unknown CNI_COMMAND -> 4", async () => {
    const r = await run({ CNI_COMMAND: "FROB" }, conf());
    const e = theError(r, 4);
    assert.match(e.msg, /CNI_COMMAND/);
    assert.equal(r.rec.loadConfig.length, 0);
  });
  test("malformed JSON -> 6", async () => {
    for (const stdin of ["{", "not json", '{"cniVersion":"1.0.0",}']) {
      const r = await run(cniEnv("ADD"), stdin);
      theError(r, 6);
      assert.deepEqual(handled(r), []);
      assert.equal(r.rec.loadConfig.length, 0);
    }
  });
  test("JSON that is not an object -> 6", async () => {
    for (const stdin of ["[]", "null", "42", '"x"']) theError(await run(cniEnv("ADD"), stdin), 6);
  });
  test("empty or absent stdin -> 6 (for every command but VERSION)", async () => {
    for (const command of ["ADD", "DEL", "CHECK", "GC", "STATUS"]) {
      theError(await run(cniEnv(command), ""), 6);
      theError(await run(cniEnv(command), undefined), 6);
    }
  });
  test("a stdin read failure -> 5", async () => {
    const r = await run(cniEnv("ADD"), () => {
      throw new CniError(5, "reading stdin: EIO");
    });
    theError(r, 5);
  });
  test("missing env -> 4 naming every missing variable", async () => {
    const r = await run({ CNI_COMMAND: "ADD" }, conf());
    const e = theError(r, 4);
    for (const v of ["CNI_CONTAINERID", "CNI_NETNS", "CNI_IFNAME"]) assert.ok(e.msg.includes(v), e.msg);
    assert.deepEqual(handled(r), []);
  });
  test("empty env -> 4 (DEL: CNI_CONTAINERID and CNI_IFNAME)", async () => {
    const r = await run({ CNI_COMMAND: "DEL", CNI_CONTAINERID: "", CNI_IFNAME: "", CNI_NETNS: "" }, conf());
    const e = theError(r, 4);
    assert.ok(e.msg.includes("CNI_CONTAINERID") && e.msg.includes("CNI_IFNAME"), e.msg);
    assert.ok(!e.msg.includes("CNI_NETNS"), e.msg);
  });
  test("a 16-byte ifname -> 4", async () => {
    theError(await run(cniEnv("ADD", { CNI_IFNAME: "abcdefghijklmnop" }), conf()), 4);
  });
  test("unsupported version -> 1 with details", async () => {
    const r = await run(cniEnv("ADD"), conf({ cniVersion: "9.9.9" }));
    const e = theError(r, 1);
    assert.match(e.details ?? "", /9\.9\.9/);
    assert.equal(r.rec.loadConfig.length, 0);
  });
  test("a non-string cniVersion -> 6", async () => {
    theError(await run(cniEnv("ADD"), conf({ cniVersion: 1 })), 6);
  });
  test("CHECK below 0.4.0 -> 1", async () => {
    for (const v of ["0.1.0", "0.2.0", "0.3.0", "0.3.1"]) {
      const r = await run(cniEnv("CHECK"), conf({ cniVersion: v }));
      const e = theError(r, 1);
      assert.equal(e.cniVersion, v);
      assert.deepEqual(handled(r), []);
    }
  });
  test("CHECK with no cniVersion (0.1.0) -> 1", async () => {
    theError(await run(cniEnv("CHECK"), JSON.stringify({ name: "n", type: "tether" })), 1);
  });
  test("GC and STATUS below 1.1.0 -> 1", async () => {
    for (const command of ["GC", "STATUS"]) {
      for (const v of ["0.4.0", "1.0.0"]) {
        const r = await run(cniEnv(command), conf({ cniVersion: v }));
        theError(r, 1);
        assert.deepEqual(handled(r), []);
      }
    }
  });
  test("a config error from the plugin passes through (code 7)", async () => {
    const r = await run(cniEnv("ADD"), conf({ name: "bad name" }), { realConfig: true });
    const e = theError(r, 7);
    assert.match(e.msg, /^name: /);
    assert.deepEqual(handled(r), []);
  });
  test("a bad network name on DEL is also code 7", async () => {
    theError(await run(cniEnv("DEL"), conf({ name: "-x" }), { realConfig: true }), 7);
  });
  test("a handler's CniError passes through", async () => {
    const r = await run(cniEnv("CHECK"), conf(), { throws: new CniError(104, "eth0 is missing", "no link named eth0 in /run/netns/x") });
    const e = theError(r, 104);
    assert.deepEqual(e, { cniVersion: "1.0.0", code: 104, msg: "eth0 is missing", details: "no link named eth0 in /run/netns/x" });
  });
  test("a handler throwing a plain Error -> 999 with details, no stack", async () => {
    for (const command of ["ADD", "DEL", "CHECK", "GC", "STATUS"]) {
      const r = await run(cniEnv(command), conf({ cniVersion: "1.1.0" }), { throws: new Error("kaboom", { cause: new Error("EPERM") }) });
      const e = theError(r, 999);
      assert.equal(e.msg, "kaboom");
      assert.equal(e.details, "Error: kaboom; caused by Error: EPERM");
      assert.equal(r.rec.done[0]?.ok, false);
    }
  });
  test("a handler throwing a non-Error -> 999", async () => {
    theError(await run(cniEnv("ADD"), conf(), { throws: "a string" }), 999);
  });
  test("loadConfig throwing a plain Error -> 999", async () => {
    theError(await run(cniEnv("ADD"), conf(), { loadThrows: new TypeError("x is undefined") }), 999);
  });
  test("a failed ADD prints the error only (no result before it)", async () => {
    const r = await run(cniEnv("ADD"), conf(), { throws: new Error("late failure") });
    theError(r, 999);
    assert.ok(!r.out.join("").includes("ips"));
  });
  test("stdout closed: dispatch still returns 1 and does not throw", async () => {
    const r = await run(cniEnv("ADD"), conf(), { throws: new Error("x") }, () => {
      throw Object.assign(new Error("EPIPE"), { code: "EPIPE" });
    });
    assert.equal(r.code, 1);
  });
});

describe("the error object carries the request's cniVersion", () => {
  for (const v of ["0.1.0", "0.2.0", "0.3.1", "0.4.0", "1.0.0", "1.1.0"]) {
    test(`${v}: handler error`, async () => {
      const r = await run(cniEnv("ADD"), conf({ cniVersion: v }), { throws: new Error("x") });
      assert.equal(theError(r, 999).cniVersion, v);
    });
    test(`${v}: environment error (before the config is parsed)`, async () => {
      const r = await run({ CNI_COMMAND: "ADD" }, conf({ cniVersion: v }));
      assert.equal(theError(r, 4).cniVersion, v);
    });
  }
  test("no cniVersion in the request -> 0.1.0", async () => {
    const r = await run({ CNI_COMMAND: "ADD" }, JSON.stringify({ name: "n" }));
    assert.equal(theError(r, 4).cniVersion, "0.1.0");
  });
  test("unreadable request -> still a cniVersion", async () => {
    const r = await run(cniEnv("ADD"), "{");
    assert.equal(typeof theError(r, 6).cniVersion, "string");
  });
});

// ---- CNI_NETNS -----------------------------------------------------------------------------------

describe("CNI_NETNS for ADD and CHECK", () => {
  let dir = "";
  let other: ChildProcess | undefined;
  let otherNetns: string | undefined;

  before(async () => {
    dir = mkdtempSync(join(tmpdir(), "tether-dispatch-"));
    writeFileSync(join(dir, "file"), "not a namespace");
    // A process in a fresh network namespace of its own (nothing in the root namespace changes).
    try {
      const own = readlinkSync("/proc/self/ns/net");
      const child = spawn("unshare", ["--net", "sleep", "60"], { stdio: "ignore" });
      other = child;
      child.on("error", () => undefined);
      for (let i = 0; i < 100 && child.pid !== undefined && child.exitCode === null; i++) {
        try {
          if (readlinkSync(`/proc/${child.pid}/ns/net`) !== own) {
            otherNetns = `/proc/${child.pid}/ns/net`;
            break;
          }
        } catch {
          // not there yet
        }
        await new Promise((res) => setTimeout(res, 20));
      }
    } catch {
      otherNetns = undefined;
    }
  });

  after(() => {
    if (other?.pid !== undefined && other.exitCode === null) other.kill("SIGKILL");
    rmSync(dir, { recursive: true, force: true });
  });

  for (const command of ["ADD", "CHECK"]) {
    test(`${command}: a regular file -> 4`, async () => {
      const r = await run(cniEnv(command, { CNI_NETNS: join(dir, "file"), CNI_NETNS_OVERRIDE: "" }), conf());
      const e = theError(r, 4);
      assert.match(e.msg, /CNI_NETNS/);
      assert.match(e.msg, /regular file/);
      assert.deepEqual(handled(r), []);
    });
    test(`${command}: a directory -> 4`, async () => {
      const r = await run(cniEnv(command, { CNI_NETNS: dir, CNI_NETNS_OVERRIDE: "" }), conf());
      const e = theError(r, 4);
      assert.match(e.msg, /directory/);
      assert.deepEqual(handled(r), []);
    });
    test(`${command}: a path that does not exist -> 4`, async () => {
      const r = await run(cniEnv(command, { CNI_NETNS: join(dir, "nope"), CNI_NETNS_OVERRIDE: "" }), conf());
      assert.match(theError(r, 4).msg, /CNI_NETNS/);
    });
    test(`${command}: a relative path -> 4`, async () => {
      theError(await run(cniEnv(command, { CNI_NETNS: "run/netns/x", CNI_NETNS_OVERRIDE: "" }), conf()), 4);
    });
    test(`${command}: a directory is refused even with CNI_NETNS_OVERRIDE=1`, async () => {
      theError(await run(cniEnv(command, { CNI_NETNS: dir, CNI_NETNS_OVERRIDE: "1" }), conf()), 4);
    });
    for (const own of ["/proc/self/ns/net", "/proc/thread-self/ns/net", `/proc/${process.pid}/ns/net`]) {
      test(`${command}: the plugin's own namespace ${own} -> 8`, async () => {
        const r = await run(cniEnv(command, { CNI_NETNS: own, CNI_NETNS_OVERRIDE: "" }), conf());
        const e = theError(r, 8);
        assert.match(e.msg, /own network namespace/);
        assert.deepEqual(handled(r), []);
      });
    }
    for (const override of ["1", "true", "TRUE"]) {
      test(`${command}: the own namespace is allowed with CNI_NETNS_OVERRIDE=${override}`, async () => {
        const r = await run(cniEnv(command, { CNI_NETNS: "/proc/self/ns/net", CNI_NETNS_OVERRIDE: override }), conf());
        assert.equal(r.code, 0);
        assert.deepEqual(handled(r), [command]);
      });
    }
    test(`${command}: CNI_NETNS_OVERRIDE=0 does not allow it`, async () => {
      theError(await run(cniEnv(command, { CNI_NETNS: "/proc/self/ns/net", CNI_NETNS_OVERRIDE: "0" }), conf()), 8);
    });
    test(`${command}: another process's namespace is accepted`, async (t) => {
      if (otherNetns === undefined) {
        t.skip("could not create a network namespace (unshare --net)");
        return;
      }
      const r = await run(cniEnv(command, { CNI_NETNS: otherNetns, CNI_NETNS_OVERRIDE: "" }), conf());
      assert.equal(r.code, 0, r.out.join(""));
      assert.deepEqual(handled(r), [command]);
      assert.equal(r.rec.calls[0]?.inv.env.netns, otherNetns);
    });
  }

  test("DEL does not fail on CNI_NETNS (it may be gone, or a file left behind)", async () => {
    for (const netns of [join(dir, "file"), dir, join(dir, "nope")]) {
      const r = await run(cniEnv("DEL", { CNI_NETNS: netns, CNI_NETNS_OVERRIDE: "" }), conf());
      assert.equal(r.code, 0, r.out.join(""));
      assert.deepEqual(handled(r), ["DEL"]);
    }
  });
});

describe("onDone", () => {
  test("reports once, with the command, outcome and a duration", async () => {
    const ok = await run(cniEnv("DEL"), conf());
    assert.equal(ok.rec.done.length, 1);
    assert.equal(ok.rec.done[0]?.command, "DEL");
    assert.equal(ok.rec.done[0]?.ok, true);
    assert.ok((ok.rec.done[0]?.ms ?? 0) > 0);
    const bad = await run(cniEnv("ADD"), "{");
    assert.equal(bad.rec.done.length, 1);
    assert.equal(bad.rec.done[0]?.ok, false);
    assert.ok(bad.rec.done[0]?.error instanceof CniError);
  });
});

describe("a hostile cniVersion is not echoed whole (issue 18 item 10, review)", () => {
  const hostile = "v".repeat(50_000) + "\u001b[31m";
  test("ADD: code 1, short, no control bytes; the error's cniVersion is one a runtime can read", async () => {
    const r = await run(cniEnv("ADD"), conf({ cniVersion: hostile }));
    const e = theError(r, 1);
    assert.ok(r.out[0]!.length < 600, `${r.out[0]!.length} characters`);
    assert.equal(e.cniVersion, "1.1.0");
    // eslint-disable-next-line no-control-regex
    assert.doesNotMatch(String(e.details), /[\x00-\x1f]/);
  });
  test("ADD: a cniVersion that is not a string (a 50 KB object)", async () => {
    const r = await run(cniEnv("ADD"), conf({ cniVersion: { x: hostile } }));
    assert.ok(r.out[0]!.length < 600, `${r.out[0]!.length} characters`);
    theError(r, 6);
  });
  test("a version-shaped unknown version is still echoed (9.9.9)", async () => {
    const r = await run(cniEnv("ADD"), conf({ cniVersion: "9.9.9" }));
    assert.equal(theError(r, 1).cniVersion, "9.9.9");
  });
  test("VERSION echoes a version, not 50 KB of anything", async () => {
    const r = await run({ CNI_COMMAND: "VERSION" }, JSON.stringify({ cniVersion: hostile }));
    assert.ok(r.out[0]!.length < 300, `${r.out[0]!.length} characters`);
    const ok = await run({ CNI_COMMAND: "VERSION" }, JSON.stringify({ cniVersion: "0.3.1" }));
    assert.equal((JSON.parse(ok.out[0]!) as { cniVersion: string }).cniVersion, "0.3.1");
  });
});
