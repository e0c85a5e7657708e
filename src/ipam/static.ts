/**
 * The static form of tether-ipam (the reference `static` plugin's behaviour): the configured
 * addresses are the result; nothing is stored, so DEL has nothing to release; CHECK compares the
 * configuration with prevResult.
 */
import { IpamError } from "./errors";
import type { IpamResult, Result } from "../cni/types";
import type { StaticIpamConfig } from "./config";
import { goCidrTextOf, goIpTextOf } from "../ip/cidr";

export function staticAdd(cfg: StaticIpamConfig): IpamResult {
  const result: IpamResult = {
    ips: cfg.addresses.map((a) => (a.gateway === undefined ? { address: a.address } : { address: a.address, gateway: a.gateway })),
    routes: cfg.routes.map((r) => ({ ...r })),
  };
  if (cfg.dns !== undefined) result.dns = cfg.dns;
  return result;
}

const canonIp = (text: string | undefined): string | undefined => (text === undefined ? undefined : goIpTextOf(text));

/** Every configured address (with its gateway, when configured) must be in prevResult. */
export function staticCheck(cfg: StaticIpamConfig, prev: Result | undefined, ifname: string): void {
  if (prev === undefined) throw new IpamError("config", "prevResult: required for CHECK but missing");
  const have = (prev.ips ?? []).map((ip) => ({ address: goCidrTextOf(ip.address), gateway: canonIp(ip.gateway) }));
  for (const a of cfg.addresses) {
    const want = goCidrTextOf(a.address);
    const gw = canonIp(a.gateway);
    if (!have.some((h) => h.address === want && (gw === undefined || h.gateway === gw))) {
      throw new IpamError(
        "not-held",
        `static address ${a.address}${gw === undefined ? "" : ` via ${gw}`} of interface ${ifname} is not in prevResult`,
      );
    }
  }
}
