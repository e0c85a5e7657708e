import { nodeEndOfLife } from "./nodeSupport";
import { lazy } from "./util/lazy";

const nodeSeaModule = lazy(() => require("node:sea") as { isSea(): boolean });
/** Facts baked in by scripts/build (esbuild `define`); absent when running the compiled sources. */
declare const __TETHER_BUILD__: { version: string; commit: string; date: string } | undefined;

export interface BuildInfo {
  version: string;
  commit: string;
  date: string;
  node: string;
  /** End of life of the Node line inside (src/nodeSupport.ts); "unknown" for a line not listed. */
  nodeEndOfLife: string;
  singleExecutable: boolean;
  /**
   * The program's trained code cache (src/sea/front.ts): "accepted" by V8, "rejected" (then every
   * function compiles on its first call: a build or runtime mismatch), or "none" (no front: the
   * compiled sources, or a build made without root).
   */
  codeCache: string;
  /** The V8/Node flags in effect (the executable's execArgv: scripts/build.mjs EXEC_ARGV). */
  execArgv: string[];
}

function isSea(): boolean {
  try {
    return nodeSeaModule().isSea();
  } catch {
    return false;
  }
}

/** What src/sea/front.ts left (Symbol.for: the front and the program are two bundles). */
function codeCacheState(): string {
  const state = (globalThis as Record<symbol, unknown>)[Symbol.for("tether.codeCache")];
  return typeof state === "string" ? state : "none";
}

export function buildInfo(): BuildInfo {
  const baked = typeof __TETHER_BUILD__ !== "undefined" ? __TETHER_BUILD__ : undefined;
  return {
    version: baked?.version ?? "0.1.0-dev",
    commit: baked?.commit ?? "unknown",
    date: baked?.date ?? "unknown",
    node: process.version,
    nodeEndOfLife: nodeEndOfLife(process.version) ?? "unknown",
    singleExecutable: isSea(),
    codeCache: codeCacheState(),
    execArgv: [...process.execArgv],
  };
}
