import { nodeEndOfLife } from "./nodeSupport";

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
}

function isSea(): boolean {
  try {
    // eslint-disable-next-line @typescript-eslint/no-require-imports
    return (require("node:sea") as { isSea(): boolean }).isSea();
  } catch {
    return false;
  }
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
  };
}
