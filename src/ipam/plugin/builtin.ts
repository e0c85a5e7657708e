/** tether's built-in IPAM (`tether-ipam`) behind the plugin's Ipam interface: a pool or static addresses. */
import type { Invocation } from "../../cni/dispatch";
import type { IpamResult } from "../../cni/types";
import {
  type IpamConfig,
  type IpamNetConf,
  type IpamStoreConfig,
  type StaticIpamConfig,
  isStaticIpam,
  loadIpamConfig,
  loadIpamStoreConfig,
  loadStaticIpamConfig,
} from "../../config/ipam";
import { ConfigError } from "../../config/errors";
import { allocate, check, gc, release } from "../index";
import { staticAdd, staticCheck } from "../static";
import type { Ipam } from "./choice";
import { IPAM_TYPE } from "../../util/defaults";
import { lazy } from "../../util/lazy";

const statusModule = lazy(() => require("../../plugins/status") as typeof import("../../plugins/status"));
const ipamStatusModule = lazy(() => require("./status") as typeof import("./status"));

function netconfOf(raw: Record<string, unknown>): IpamNetConf {
  return { name: raw["name"], cniVersion: raw["cniVersion"], ipam: raw["ipam"], runtimeConfig: raw["runtimeConfig"], args: raw["args"] };
}

/** GC's list of attachments to keep (cni.dev/valid-attachments, else cni.dev/attachments); undefined = none given. */
export function validAttachmentsOf(raw: Record<string, unknown>): { containerId: string; ifname: string }[] | undefined {
  const list = raw["cni.dev/valid-attachments"] ?? raw["cni.dev/attachments"];
  if (list === undefined || list === null) return undefined;
  if (!Array.isArray(list)) throw new ConfigError("cni.dev/valid-attachments", "must be a list");
  return list.map((a: unknown, i) => {
    const o = (typeof a === "object" && a !== null ? a : {}) as Record<string, unknown>;
    const id = o["containerID"];
    const ifname = o["ifname"];
    if (typeof id !== "string" || typeof ifname !== "string") {
      throw new ConfigError(`cni.dev/valid-attachments[${i}]`, "needs containerID and ifname strings");
    }
    return { containerId: id, ifname };
  });
}

/** The commands that allocate or read an allocation, and so need the ranges. */
function needsRanges(command: string | undefined): boolean {
  return command === "ADD" || command === "CHECK";
}

/** The pool config validateBuiltinIpam loaded for a request (without CNI_ARGS IP=): ADD reuses it. */
const validated = new WeakMap<Record<string, unknown>, IpamConfig>();

/**
 * Validate the config early (dispatch's loadConfig): a bad ipam section fails with code 7 before any
 * work. Only ADD and CHECK need ranges: DEL, GC and STATUS work from the network name and dataDir
 * alone (the ranges may come from runtimeConfig.ipRanges, which GC and STATUS never get). loadConfig
 * does not get the command, so it comes from CNI_COMMAND unless given.
 */
export function validateBuiltinIpam(raw: Record<string, unknown>, command: string): void {
  if (isStaticIpam(raw["ipam"])) loadStaticIpamConfig(netconfOf(raw));
  else if (needsRanges(command)) validated.set(raw, loadIpamConfig(netconfOf(raw)));
  else loadIpamStoreConfig(netconfOf(raw));
}


export function builtinIpam(inv: Invocation<unknown>): Ipam {
  const raw = inv.raw;
  const owner = { containerId: inv.env.containerId, ifname: inv.env.ifname };
  if (isStaticIpam(raw["ipam"])) {
    let cfg: StaticIpamConfig | undefined;
    const gateways = inv.args.raw.filter(([k]) => k === "GATEWAY").flatMap(([, v]) => v.split(",").filter((s) => s.trim() !== ""));
    const config = (): StaticIpamConfig => (cfg ??= loadStaticIpamConfig(netconfOf(raw), { ips: inv.args.ips, gateways }));
    return {
      type: IPAM_TYPE,
      add: async () => staticAdd(config()),
      del: async () => {},
      check: async () => staticCheck(config(), inv.prevResult, owner.ifname),
      gc: async () => {},
      status: async () => {},
    };
  }
  let cfg: IpamConfig | undefined;
  const config = (): IpamConfig => (cfg ??= (inv.args.ips.length === 0 ? validated.get(raw) : undefined) ?? loadIpamConfig(netconfOf(raw), inv.args.ips));
  // DEL and GC release by owner: the store is enough, whatever the request says of the ranges.
  const storeConfig = (): IpamStoreConfig => cfg ?? loadIpamStoreConfig(netconfOf(raw));
  return {
    type: IPAM_TYPE,
    async add(): Promise<IpamResult> {
      return allocate(config(), owner);
    },
    async del(): Promise<void> {
      release(storeConfig(), owner);
    },
    async check(): Promise<void> {
      check(config(), owner);
    },
    async gc(): Promise<void> {
      const valid = validAttachmentsOf(raw);
      if (valid === undefined) return; // no list: delete nothing
      gc(storeConfig(), valid);
    },
    async status(): Promise<void> {
      const { assertReady } = statusModule();
      assertReady(ipamStatusModule().builtinIpamProblems(raw));
    },
  };
}
