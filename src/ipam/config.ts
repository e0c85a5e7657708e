/**
 * What the IPAM works from: the configuration src/config/ipam.ts parses into. Defined here, so that
 * config depends on IPAM and never the other way round.
 */
import type { Route } from "../cni/types";
import type { Ip } from "../ip/ip";
import type { RangeSet } from "./rangeSet";

export interface IpamConfig {
  network: string;
  dataDir: string;
  /** Final order: runtimeConfig.ipRanges, legacy top-level range, ipam.ranges. Index = last_reserved_ip.<i>. */
  rangeSets: RangeSet[];
  routes: Route[];
  resolvConf?: string;
  /** Merged like host-local: CNI_ARGS IP=, then args.cni.ips, then runtimeConfig.ips. */
  requestedIps: Ip[];
}

export interface StaticIpamConfig {
  addresses: { address: string; gateway?: string }[];
  routes: Route[];
  dns?: { nameservers?: string[]; domain?: string; search?: string[]; options?: string[] };
}
