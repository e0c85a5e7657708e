/** tether's built-in IPAM (`tether-ipam`) behind the plugin's Ipam interface. */
import { accessSync, constants as fsConstants } from "node:fs";
import { dirname, join } from "node:path";
import type { Invocation } from "../cni/dispatch";
import { CniError, ErrorCode } from "../cni/errors";
import type { IpamResult } from "../cni/types";
import { loadIpamConfig, type IpamConfig } from "../config/ipam";
import { validAttachments, type NetConf } from "../config/netconf";
import { allocate, check, gc, release } from "../ipam/index";
import { BUILTIN_IPAM, type Ipam } from "./ipam";

export function builtinIpam(inv: Invocation<NetConf>): Ipam {
  let cfg: IpamConfig | undefined;
  const raw = inv.raw;
  const config = (): IpamConfig =>
    (cfg ??= loadIpamConfig(
      { name: raw["name"], cniVersion: raw["cniVersion"], ipam: raw["ipam"], runtimeConfig: raw["runtimeConfig"], args: raw["args"] },
      inv.args.ips,
    ));
  const owner = { containerId: inv.env.containerId, ifname: inv.env.ifname };
  return {
    type: BUILTIN_IPAM,
    async add(): Promise<IpamResult> {
      return allocate(config(), owner);
    },
    async del(): Promise<void> {
      release(config(), owner);
    },
    async check(): Promise<void> {
      check(config(), owner);
    },
    async gc(): Promise<void> {
      const valid = validAttachments(inv.conf);
      if (valid === undefined) return; // no list: delete nothing
      gc(config(), valid.map((a) => ({ containerId: a.containerID, ifname: a.ifname })));
    },
    async status(): Promise<void> {
      const c = config();
      let dir = join(c.dataDir, c.network);
      // The store directory is made on first ADD: check the nearest directory that exists.
      for (;;) {
        try {
          accessSync(dir, fsConstants.W_OK);
          return;
        } catch (e) {
          if ((e as NodeJS.ErrnoException).code !== "ENOENT" || dirname(dir) === dir) {
            throw new CniError(ErrorCode.NotAvailable, `IPAM store ${dir} is not writable: ${(e as NodeJS.ErrnoException).code ?? e}`);
          }
          dir = dirname(dir);
        }
      }
    },
  };
}
