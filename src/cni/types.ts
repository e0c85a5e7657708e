/**
 * The internal result model: the CNI 1.1 result shape. Every other version is produced from it
 * (src/cni/result.ts) and parsed into it.
 */
export interface Interface {
  name: string;
  mac?: string;
  mtu?: number;
  sandbox?: string;
  socketPath?: string;
  pciID?: string;
}

export interface IpConfig {
  /** CIDR: the address with its subnet's prefix length, e.g. "10.22.0.5/16". */
  address: string;
  gateway?: string;
  /** Index into `interfaces`. */
  interface?: number;
}

export interface Route {
  dst: string;
  gw?: string;
  mtu?: number;
  advmss?: number;
  priority?: number;
  table?: number;
  scope?: number;
}

export interface Dns {
  nameservers?: string[];
  domain?: string;
  search?: string[];
  options?: string[];
}

export interface Result {
  cniVersion: string;
  interfaces?: Interface[];
  ips?: IpConfig[];
  routes?: Route[];
  dns?: Dns;
}

/** What an IPAM (built-in or delegated) hands back: no interfaces, no interface indexes. */
export interface IpamResult {
  ips: { address: string; gateway?: string }[];
  routes: Route[];
  dns?: Dns;
}
