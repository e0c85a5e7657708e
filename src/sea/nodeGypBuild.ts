/**
 * esbuild aliases `node-gyp-build` to this module. In the bundle only `netlink` calls it (the build
 * checks that), so it returns netlink's binding: from the SEA asset in the single executable, else
 * netlink's prebuild located through node_modules (the `dir` argument netlink passes is the bundle's
 * own directory once bundled, so it is not used).
 */
import { createRequire } from "node:module";
import * as path from "node:path";
import { loadNative } from "./nativeCache.js";

function nodeGypBuild(_dir: string): unknown {
  return loadNative("netlink", () => {
    const req = createRequire(__filename);
    const real = req("node-gyp-build") as (dir: string) => unknown;
    return real(path.dirname(req.resolve("netlink/package.json")));
  });
}

export = nodeGypBuild;
