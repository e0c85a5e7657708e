/**
 * Preloaded (`node -r`) into a tether run by test/e2e/footprint.test.ts: at exit, writes what the
 * process loaded to the file named by TETHER_TEST_LOADED: Node's built-in modules
 * (process.moduleLoadList) and the files in the require cache.
 */
import { writeFileSync } from "node:fs";

const out = process.env["TETHER_TEST_LOADED"];
if (out !== undefined && out !== "") {
  process.on("exit", () => {
    const list = (process as unknown as { moduleLoadList: string[] }).moduleLoadList;
    const builtins = list.filter((m) => m.startsWith("NativeModule ")).map((m) => m.slice("NativeModule ".length));
    writeFileSync(out, JSON.stringify({ builtins, files: Object.keys(require.cache) }));
  });
}
