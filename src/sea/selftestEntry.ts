/**
 * Entry of the test build `dist/tether-selftest` (scripts/build.sh --selftest): with the hidden
 * argument `__natives-selftest` it prints the native self-test as JSON; otherwise it is the normal
 * entry. Stands in until the human CLI grows `tether version --natives`.
 */
import { writeSync } from "node:fs";
import { lazy } from "../util/lazy";

const selftestModule = lazy(() => require("./selftest.js") as typeof import("./selftest.js"));

if (process.argv[2] === "__natives-selftest") {
  const { loadNativesForSelfTest } = selftestModule();
  writeSync(1, JSON.stringify(loadNativesForSelfTest()) + "\n");
} else {
  // eslint-disable-next-line no-restricted-syntax -- the entry itself: main runs on this branch only
  require("../main.js");
}
