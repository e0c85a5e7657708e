/**
 * STATUS of the built-in IPAM: the store must be writable and every range set the config names
 * must have a free address. The ranges are read by hand for the common shapes (ipam.ranges / ipam.subnet with
 * canonical key names); anything else goes through the full schema.
 */
import { accessSync, lstatSync, constants as fsConstants } from "node:fs";
import { dirname, isAbsolute, join } from "node:path";
import { exhaustedRangeSets } from "../pool";
import { type RangeInput, type RangeSet, type RangeSetInput, canonicalizeRangeSets, rangeSetText } from "../rangeSet";
import { lazy } from "../../util/lazy";
import { DEFAULT_DATA_DIR } from "../../util/defaults";

const ipamModule = lazy(() => require("../../config/ipam") as typeof import("../../config/ipam"));

const RANGE_KEYS = new Set(["subnet", "rangeStart", "rangeEnd", "gateway"]);

interface PoolView {
  network: string;
  dataDir: string;
  rangeSets: RangeSet[];
}

function isRecord(v: unknown): v is Record<string, unknown> {
  return typeof v === "object" && v !== null && !Array.isArray(v);
}

/** A range in canonical form, else undefined (then the schema decides). */
function plainRange(v: unknown, path: string): RangeInput | undefined {
  if (!isRecord(v) || !Object.keys(v).every((k) => RANGE_KEYS.has(k))) return undefined;
  if (typeof v["subnet"] !== "string") return undefined;
  const out: RangeInput = { subnet: v["subnet"], path };
  for (const k of ["rangeStart", "rangeEnd", "gateway"] as const) {
    const x = v[k];
    if (x === undefined) continue;
    if (typeof x !== "string" || x === "") return undefined;
    out[k] = x;
  }
  return out;
}

/** The pool by hand: undefined when the config is not in the plain shape. */
export function plainPoolView(raw: Record<string, unknown>): PoolView | undefined {
  const ipam = raw["ipam"];
  const name = raw["name"];
  if (!isRecord(ipam) || typeof name !== "string" || ipam["addresses"] !== undefined) return undefined;
  const known = new Set(["type", "ranges", "subnet", "rangeStart", "rangeEnd", "gateway", "routes", "dataDir", "resolvConf", "dns"]);
  if (!Object.keys(ipam).every((k) => known.has(k))) return undefined;
  const dataDir = ipam["dataDir"] ?? DEFAULT_DATA_DIR;
  if (typeof dataDir !== "string" || !isAbsolute(dataDir)) return undefined;
  const inputs: RangeSetInput[] = [];
  if (ipam["subnet"] !== undefined) {
    const r = plainRange({ subnet: ipam["subnet"], rangeStart: ipam["rangeStart"], rangeEnd: ipam["rangeEnd"], gateway: ipam["gateway"] }, "ipam");
    if (r === undefined) return undefined;
    inputs.push({ path: "ipam", ranges: [r] });
  }
  const ranges = ipam["ranges"] ?? [];
  if (!Array.isArray(ranges)) return undefined;
  for (const [i, set] of ranges.entries()) {
    if (!Array.isArray(set)) return undefined;
    const rs = set.map((r, j) => plainRange(r, `ipam.ranges[${i}][${j}]`));
    if (rs.some((r) => r === undefined)) return undefined;
    inputs.push({ path: `ipam.ranges[${i}]`, ranges: rs as RangeInput[] });
  }
  // No ranges in the config (they come in runtimeConfig.ipRanges, which STATUS does not get): the
  // store can still be checked, the pool cannot.
  return { network: name, dataDir, rangeSets: inputs.length === 0 ? [] : canonicalizeRangeSets(inputs) };
}

function poolView(raw: Record<string, unknown>): PoolView | undefined {
  const ipam = raw["ipam"];
  if (isRecord(ipam) && ipam["addresses"] !== undefined) return undefined; // static: nothing to run out of
  const plain = plainPoolView(raw);
  if (plain !== undefined) return plain;
  const { loadIpamConfig, isStaticIpam } = ipamModule();
  if (isStaticIpam(ipam)) return undefined;
  const cfg = loadIpamConfig({ name: raw["name"], cniVersion: raw["cniVersion"], ipam }, [], { requireRanges: false });
  return { network: cfg.network, dataDir: cfg.dataDir, rangeSets: cfg.rangeSets };
}

/** The store directory, or the nearest existing parent (made at first ADD), must be writable. */
export function storeProblem(dataDir: string, network: string): string | undefined {
  let dir = join(dataDir, network);
  try {
    if (!lstatSync(dir).isDirectory()) return `IPAM store ${dir} is not a directory`;
  } catch {
    // not made yet: its parents decide
  }
  for (;;) {
    try {
      accessSync(dir, fsConstants.W_OK);
      return undefined;
    } catch (e) {
      const code = (e as NodeJS.ErrnoException).code;
      if (code !== "ENOENT" || dirname(dir) === dir) return `IPAM store ${dir} is not writable (${code ?? String(e)})`;
      dir = dirname(dir);
    }
  }
}

/**
 * Why the built-in IPAM could not serve an ADD now; empty when it could. Throws a ConfigError on a bad
 * config. Without ranges in the config (runtimeConfig.ipRanges only) the pool check is skipped.
 */
export function builtinIpamProblems(raw: Record<string, unknown>): string[] {
  const pool = poolView(raw);
  if (pool === undefined) return [];
  const store = storeProblem(pool.dataDir, pool.network);
  if (store !== undefined) return [store];
  if (pool.rangeSets.length === 0) return [];
  return exhaustedRangeSets(pool.dataDir, pool.network, pool.rangeSets).map(
    (i) => `IPAM pool exhausted: range set ${i} (${rangeSetText(pool.rangeSets[i]!)}) has no free address`,
  );
}
