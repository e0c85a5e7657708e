/**
 * esbuild aliases `@koromix/koffi-linux-x64` (what koffi's loader requires) to this module, so the
 * bundle takes koffi.node from the SEA asset. Outside a SEA it loads the package from node_modules.
 */
import { createRequire } from "node:module";
import { loadNative } from "./nativeCache.js";

const koffiNative: unknown = loadNative("koffi", () => createRequire(__filename)("@koromix/koffi-linux-x64"));

export = koffiNative;
