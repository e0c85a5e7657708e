/**
 * Lazy loading, the one way product code defers a module. The plugin binary is a fresh process per CNI
 * call, so a module it loads is paid for on every call: each path reads only what it needs
 * (test/e2e/footprint.test.ts holds the ADD path to that). Declare at module level
 *
 *   const ptp = lazy(() => require("./ptp") as typeof import("./ptp"));
 *
 * and call `ptp().ptpHandlers` where needed. The `require("literal")` must stay at the call site: Node
 * resolves it against the caller's file and esbuild bundles only literal requires. The linter
 * (tools/lint) refuses a require() anywhere but inside lazy().
 */
export function lazy<T>(load: () => T): () => T {
  let loaded: { value: T } | undefined;
  return () => (loaded ??= { value: load() }).value;
}
