/** src/agent/install.ts pluginVersions: what a chained plugin answers to CNI_COMMAND=VERSION. */
import assert from "node:assert/strict";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { after, before, describe, test } from "node:test";
import { pluginVersions } from "../../src/agent/install";

let dir: string;
before(() => {
  dir = fs.mkdtempSync(path.join(os.tmpdir(), "tether-agent-pv-"));
});
after(() => fs.rmSync(dir, { recursive: true, force: true }));

function script(name: string, body: string): string {
  const p = path.join(dir, name);
  fs.writeFileSync(p, `#!/bin/sh\n${body}\n`, { mode: 0o755 });
  return p;
}

describe("pluginVersions", () => {
  test("the supportedVersions of the VERSION answer; the plugin sees CNI_COMMAND=VERSION", () => {
    const p = script("pm", `[ "$CNI_COMMAND" = VERSION ] || exit 3; cat >/dev/null; echo '{"cniVersion":"1.0.0","supportedVersions":["0.4.0","1.0.0","1.1.0"]}'`);
    assert.deepEqual(pluginVersions(p), ["0.4.0", "1.0.0", "1.1.0"]);
  });
  test("missing, failing or not answering a version result: undefined", () => {
    assert.equal(pluginVersions(path.join(dir, "nope")), undefined);
    assert.equal(pluginVersions(script("fails", "exit 1")), undefined);
    assert.equal(pluginVersions(script("garbage", "echo hello")), undefined);
  });
  test("Debian's portmap (reference plugins), when installed, answers without 1.1.0 or with it", { skip: fs.existsSync("/usr/lib/cni/portmap") ? undefined : "no /usr/lib/cni/portmap" }, () => {
    const v = pluginVersions("/usr/lib/cni/portmap");
    assert.ok(v?.includes("1.0.0"), String(v));
  });
});
