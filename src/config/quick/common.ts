/** The quick mirrors of ../schemas/common.ts's building blocks. */
import { MAX_U32, isCidr, isIp, isIpOrCidr, isMac } from "../common";
import { array, intIn, object, optional, string, stringWhere } from "./check";

export const IpAddress = stringWhere(isIp);
export const Cidr = stringWhere(isCidr);
export const IpOrCidr = stringWhere(isIpOrCidr);
export const Mac = stringWhere(isMac);

export const Route = object({
  dst: Cidr,
  gw: optional(IpAddress),
  mtu: optional(intIn(0, MAX_U32)),
  advmss: optional(intIn(0, MAX_U32)),
  priority: optional(intIn(0, MAX_U32)),
  table: optional(intIn(0, MAX_U32)),
  scope: optional(intIn(0, 255)),
});

export const Dns = object({
  nameservers: optional(array(string)),
  domain: optional(string),
  search: optional(array(string)),
  options: optional(array(string)),
});
