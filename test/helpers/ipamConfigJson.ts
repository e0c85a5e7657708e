/** IpamConfig <-> JSON (bigints tagged), so child processes get the same config without loading zod. */
import type { IpamConfig } from "../../src/config/ipam";

export function serializeConfig(cfg: IpamConfig): string {
  return JSON.stringify(cfg, (_k, v: unknown) => (typeof v === "bigint" ? { $big: v.toString() } : v));
}

export function reviveConfig(text: string): IpamConfig {
  return JSON.parse(text, (_k, v: unknown) =>
    typeof v === "object" && v !== null && "$big" in v && typeof v.$big === "string" ? BigInt(v.$big) : v,
  ) as IpamConfig;
}
