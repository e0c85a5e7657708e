/** The CNI_* environment: required variables per command, empty == absent, id and ifname rules. */
import assert from "node:assert/strict";
import { describe, test } from "node:test";
import { COMMANDS, ID_PATTERN, MAX_CONTAINER_ID_LENGTH, containerIdProblem, ifnameProblem, isValidId, parseCommand, readEnv, type Command } from "../../src/cni/env";
import { CniError, ErrorCode } from "../../src/cni/errors";

const FULL = {
  CNI_CONTAINERID: "abc123",
  CNI_NETNS: "/run/netns/test",
  CNI_IFNAME: "eth0",
  CNI_PATH: "/opt/cni/bin",
} as const;

type EnvVar = "CNI_CONTAINERID" | "CNI_NETNS" | "CNI_IFNAME";
const ATTACHMENT_VARS: readonly EnvVar[] = ["CNI_CONTAINERID", "CNI_NETNS", "CNI_IFNAME"];

const REQUIRED: Record<Command, readonly EnvVar[]> = {
  ADD: ["CNI_CONTAINERID", "CNI_NETNS", "CNI_IFNAME"],
  CHECK: ["CNI_CONTAINERID", "CNI_NETNS", "CNI_IFNAME"],
  DEL: ["CNI_CONTAINERID", "CNI_IFNAME"],
  GC: [],
  STATUS: [],
  VERSION: [],
};

function env(command: string, vars: Record<string, string | undefined> = {}): NodeJS.ProcessEnv {
  const out: NodeJS.ProcessEnv = { CNI_COMMAND: command };
  for (const [k, v] of Object.entries(vars)) if (v !== undefined) out[k] = v;
  return out;
}

/** Run fn, expect a CniError, return it. */
function cniError(fn: () => unknown): CniError {
  try {
    fn();
  } catch (e) {
    assert.ok(e instanceof CniError, `expected a CniError, got ${String(e)}`);
    return e;
  }
  assert.fail("expected a CniError, nothing was thrown");
}

describe("CNI_COMMAND", () => {
  test("the six commands are known", () => {
    assert.deepEqual([...COMMANDS].sort(), ["ADD", "CHECK", "DEL", "GC", "STATUS", "VERSION"]);
    for (const c of COMMANDS) assert.equal(parseCommand(c), c);
  });

  for (const bad of ["FOO", "add", "Add", " ADD", "ADD ", "", "DELETE"]) {
    test(`unknown CNI_COMMAND ${JSON.stringify(bad)} is code 4 naming the value`, () => {
      const e = cniError(() => readEnv(env(bad, FULL)));
      assert.equal(e.code, ErrorCode.InvalidEnvironment);
      assert.equal(e.code, 4);
      assert.match(e.message, /CNI_COMMAND/);
      if (bad.trim() !== "") assert.ok(e.message.includes(bad), e.message);
    });
  }

  test("a missing CNI_COMMAND is code 4", () => {
    const e = cniError(() => readEnv({ ...FULL }));
    assert.equal(e.code, 4);
    assert.match(e.message, /CNI_COMMAND/);
  });
});

describe("required variables per command", () => {
  for (const command of COMMANDS) {
    const required = REQUIRED[command];

    test(`${command}: succeeds with every variable set`, () => {
      const r = readEnv(env(command, FULL));
      assert.equal(r.command, command);
    });

    for (const v of required) {
      for (const how of ["absent", "empty"] as const) {
        test(`${command}: ${v} ${how} is code 4 naming ${v} (and only it)`, () => {
          const e = cniError(() => readEnv(env(command, { ...FULL, [v]: how === "absent" ? undefined : "" })));
          assert.equal(e.code, 4);
          assert.ok(e.message.includes(v), e.message);
          for (const other of ATTACHMENT_VARS) {
            if (other !== v) assert.ok(!e.message.includes(other), `${e.message} should not name ${other}`);
          }
        });
      }
    }

    if (required.length > 1) {
      test(`${command}: all required variables missing -> one error naming every one`, () => {
        const e = cniError(() => readEnv(env(command)));
        assert.equal(e.code, 4);
        for (const v of required) assert.ok(e.message.includes(v), `${e.message} should name ${v}`);
      });

      test(`${command}: libcni's empty strings count as absent (all named)`, () => {
        const e = cniError(() => readEnv(env(command, { CNI_CONTAINERID: "", CNI_NETNS: "", CNI_IFNAME: "", CNI_PATH: "" })));
        assert.equal(e.code, 4);
        for (const v of required) assert.ok(e.message.includes(v), `${e.message} should name ${v}`);
      });
    }

    const optional = ATTACHMENT_VARS.filter((v) => !required.includes(v));
    for (const v of optional) {
      test(`${command}: ${v} is optional (absent or empty)`, () => {
        assert.equal(readEnv(env(command, { ...FULL, [v]: undefined })).command, command);
        assert.equal(readEnv(env(command, { ...FULL, [v]: "" })).command, command);
      });
    }
  }

  test("GC/STATUS/VERSION need nothing but CNI_COMMAND", () => {
    for (const c of ["GC", "STATUS", "VERSION"] as const) {
      const r = readEnv(env(c));
      assert.equal(r.command, c);
      assert.equal(r.containerId, "");
      assert.equal(r.netns, "");
      assert.equal(r.ifname, "");
      assert.deepEqual(r.path, []);
    }
  });

  test("GC and STATUS accept libcni's all-empty attachment variables", () => {
    for (const c of ["GC", "STATUS"] as const) {
      const r = readEnv(env(c, { CNI_CONTAINERID: "", CNI_NETNS: "", CNI_IFNAME: "", CNI_ARGS: "", CNI_PATH: "/opt/cni/bin" }));
      assert.equal(r.command, c);
      assert.deepEqual(r.path, ["/opt/cni/bin"]);
    }
  });

  test("DEL without a netns reports it as empty", () => {
    const r = readEnv(env("DEL", { CNI_CONTAINERID: "c1", CNI_IFNAME: "eth0", CNI_NETNS: "" }));
    assert.equal(r.netns, "");
    assert.equal(r.containerId, "c1");
    assert.equal(r.ifname, "eth0");
  });

  test("the parsed environment carries every field", () => {
    const r = readEnv(env("ADD", { ...FULL, CNI_ARGS: "IgnoreUnknown=1", CNI_PATH: "/a::/b:" }));
    assert.deepEqual(r, {
      command: "ADD",
      containerId: "abc123",
      netns: "/run/netns/test",
      ifname: "eth0",
      args: "IgnoreUnknown=1",
      path: ["/a", "/b"],
      netnsOverride: false,
    });
  });

  for (const [value, expected] of [
    ["1", true],
    ["true", true],
    ["TRUE", true],
    ["True", true],
    ["0", false],
    ["false", false],
    ["", false],
    ["yes", false],
  ] as const) {
    test(`CNI_NETNS_OVERRIDE=${JSON.stringify(value)} -> ${expected}`, () => {
      assert.equal(readEnv(env("ADD", { ...FULL, CNI_NETNS_OVERRIDE: value })).netnsOverride, expected);
    });
  }

  test("a relative CNI_NETNS is code 4 naming CNI_NETNS", () => {
    const e = cniError(() => readEnv(env("ADD", { ...FULL, CNI_NETNS: "run/netns/x" })));
    assert.equal(e.code, 4);
    assert.match(e.message, /CNI_NETNS/);
  });
});

describe("container id", () => {
  const valid = ["a", "0", "abc123", "A-b_c.d", "0123456789abcdef".repeat(4), "x.", "x-", "x_"];
  const invalid = ["-abc", "_abc", ".abc", "a b", "a/b", "a:b", "a\tb", "ä", "abc\n", "a;b", "a=b", "../x", "a*"];

  for (const id of valid) {
    test(`${JSON.stringify(id)} is accepted`, () => {
      assert.ok(isValidId(id));
      assert.equal(readEnv(env("ADD", { ...FULL, CNI_CONTAINERID: id })).containerId, id);
    });
  }
  for (const id of invalid) {
    test(`${JSON.stringify(id)} is code 4 naming CNI_CONTAINERID`, () => {
      assert.ok(!isValidId(id));
      const e = cniError(() => readEnv(env("DEL", { ...FULL, CNI_CONTAINERID: id })));
      assert.equal(e.code, 4);
      assert.match(e.message, /CNI_CONTAINERID/);
    });
  }

  test("the pattern is the Go library's", () => {
    assert.equal(ID_PATTERN.source, "^[a-zA-Z0-9][a-zA-Z0-9_.-]*$");
  });
});

describe("interface name", () => {
  const valid = ["eth0", "e", "a".repeat(15), "net1.100", "...", "a..", "veth-x_y@z", "€€€€€", "é".repeat(7) + "a"];
  for (const name of valid) {
    test(`${JSON.stringify(name)} (${Buffer.byteLength(name)} bytes) is accepted`, () => {
      assert.equal(ifnameProblem(name), undefined);
      assert.equal(readEnv(env("ADD", { ...FULL, CNI_IFNAME: name })).ifname, name);
    });
  }

  const invalid: [string, RegExp][] = [
    ["a".repeat(16), /16 bytes/],
    ["a".repeat(64), /64 bytes/],
    // 6 characters but 18 bytes in UTF-8: the limit counts bytes, not characters.
    ["€€€€€€", /18 bytes/],
    ["é".repeat(8), /16 bytes/],
    // 4 characters (emoji are 2 UTF-16 units) but 16 bytes
    ["😀😀😀😀", /16 bytes/],
    [".", /"\."/],
    ["..", /"\.\."/],
    ["a/b", /'\/'/],
    ["/", /'\/'/],
    ["eth0:1", /':'/],
    ["eth 0", /whitespace/],
    [" eth0", /whitespace/],
    ["eth0\t", /whitespace/],
    ["eth\n0", /whitespace/],
    ["eth\u00a00", /whitespace/],
    ["a\0b", /NUL/],
  ];
  for (const [name, why] of invalid) {
    test(`${JSON.stringify(name)} is code 4 naming CNI_IFNAME`, () => {
      const problem = ifnameProblem(name);
      assert.ok(problem !== undefined, `${JSON.stringify(name)} should be rejected`);
      assert.match(problem, why);
      for (const command of ["ADD", "CHECK", "DEL"] as const) {
        const e = cniError(() => readEnv(env(command, { ...FULL, CNI_IFNAME: name })));
        assert.equal(e.code, 4);
        assert.match(e.message, /^CNI_IFNAME/);
      }
    });
  }

  test("exactly 15 bytes of multi-byte characters is accepted, 16 is not", () => {
    assert.equal(Buffer.byteLength("€€€€€"), 15);
    assert.equal(ifnameProblem("€€€€€"), undefined);
    assert.equal(Buffer.byteLength("€€€€€a"), 16);
    assert.notEqual(ifnameProblem("€€€€€a"), undefined);
  });

  test("an empty name is a problem on its own", () => {
    assert.notEqual(ifnameProblem(""), undefined);
  });
});

describe("issue 18: ids of any deliverable length, ifnames Node could not decode", () => {
  test("a container id up to MAX_CONTAINER_ID_LENGTH is taken, one character more is code 4 naming the limit", () => {
    assert.equal(MAX_CONTAINER_ID_LENGTH, 131_055);
    const ok = readEnv(env("DEL", { ...FULL, CNI_CONTAINERID: "a".repeat(MAX_CONTAINER_ID_LENGTH) }));
    assert.equal(ok.containerId.length, MAX_CONTAINER_ID_LENGTH);
    const e = cniError(() => readEnv(env("ADD", { ...FULL, CNI_CONTAINERID: "a".repeat(MAX_CONTAINER_ID_LENGTH + 1) })));
    assert.equal(e.code, 4);
    assert.match(e.message, /CNI_CONTAINERID: .* the limit is 131055/);
    assert.ok(e.message.length < 300, "the id is cut in the message");
    assert.equal(containerIdProblem("x".repeat(70_000)), undefined);
  });

  test("an ifname holding U+FFFD (what Node makes of bytes that are not UTF-8) is code 4 naming CNI_IFNAME", () => {
    const e = cniError(() => readEnv(env("ADD", { ...FULL, CNI_IFNAME: "e\uFFFD0" })));
    assert.equal(e.code, 4);
    assert.match(e.message, /^CNI_IFNAME: "e\\ufffd0" is not valid UTF-8/);
    assert.equal(readEnv(env("ADD", { ...FULL, CNI_IFNAME: "e\u00e90" })).ifname, "e\u00e90");
  });
});
