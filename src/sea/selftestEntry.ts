/**
 * Entry of the test build `dist/tether-selftest` (scripts/build.sh --selftest): with the hidden
 * argument `__natives-selftest` it prints the native self-test as JSON; otherwise it is the normal
 * entry. Stands in until the human CLI grows `tether version --natives`.
 */
import { writeSync } from "node:fs";

if (process.argv[2] === "__natives-selftest") {
  const { loadNativesForSelfTest } = require("./selftest.js") as typeof import("./selftest.js");
  writeSync(1, JSON.stringify(loadNativesForSelfTest()) + "\n");
} else {
  require("../main.js");
}
