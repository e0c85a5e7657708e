/** The netlink layer's public API: the only part of tether that talks to the kernel. */
export { NetlinkError, NetnsError, type NetnsRefusal, type ErrnoCode, isErrno } from "./errors";
export { enterSync, openNetns, openOwnNetns, closeNetns, isOwnNetns, netnsExists, type OpenNetnsOptions } from "./netns";
export { Rtnl, DEFAULT_TIMEOUT_MS, type RtnlOptions } from "./rtnl";
export {
  type LinkInfo,
  type VethPairSpec,
  type VethPair,
  type BridgeSpec,
  type EnsuredBridge,
  type BridgePortOptions,
  type BridgeVlanOptions,
  type BridgeVlan,
  type VlanIds,
  getLinkByName,
  getLinkByIndex,
  requireLinkByName,
  listLinks,
  createVethPair,
  getVethPeer,
  randomVethName,
  ensureBridge,
  setBridgeVlanFiltering,
  setBridgePort,
  addBridgeVlan,
  deleteBridgeVlan,
  listBridgeVlans,
  setLinkUp,
  setLinkDown,
  setMaster,
  setMtu,
  setMac,
  setPromisc,
  setLinkAlias,
  deleteLink,
} from "./link";
export { type AddressInfo, type AddressValue, type AddAddressOptions, IFA_F, addAddress, deleteAddress, listAddresses, listAddressValues, waitForDad } from "./addr";
export {
  type RouteSpec,
  type RouteInfo,
  type RouteValue,
  type RouteScopeName,
  type AddRouteOptions,
  type ListRoutesOptions,
  type RouteChanges,
  type TextRouteSpec,
  RT_SCOPE,
  RT_TABLE_MAIN,
  addRoute,
  deleteRoute,
  listRoutes,
  routeGet,
  listRouteValues,
  routeGetValue,
  applyRouteChanges,
} from "./route";
export { type WriteSysctlOptions, writeSysctl, readSysctl } from "./sysctl";
export { type IpFamily, formatIp, parseCidr, parseIp } from "./ip";
