/**
 * The IPAM of an attachment: tether's built-in `tether-ipam`, or any other IPAM plugin run from
 * CNI_PATH. Undefined when the config has no ipam.type (an L2-only network).
 */
import type { Invocation } from "../../cni/dispatch";
import { CniError, ErrorCode } from "../../cni/errors";
import { parseResult } from "../../cni/result";
import type { IpamResult } from "../../cni/types";
import type { NetConf } from "../../config/netconf";
import type { Owner } from "../store";
import { log } from "../../util/log";
import { execPlugin, findPlugin } from "../../cni/exec";
import { DelegateError } from "./errors";
import { lazy } from "../../util/lazy";
import { IPAM_TYPE } from "../../util/defaults";

const builtinIpamModule = lazy(() => require("./builtin") as typeof import("./builtin"));

export interface Ipam {
  readonly type: string;
  add(): Promise<IpamResult>;
  del(): Promise<void>;
  check(): Promise<void>;
  /** GC; `scope` when tether's GC locked the attachments it removes (see IpamGcScope). */
  gc(scope?: IpamGcScope): Promise<void>;
  status(): Promise<void>;
  /** The attachments holding reservations in the network (the built-in pool: GC locks each before it releases). */
  owners?(): Owner[];
}

/**
 * What tether's GC lets the IPAM release. The built-in store releases exactly what `release` hold
 * (their locks are GC's), and id-only reservations (host-local's old format) of a container with no
 * valid or `keep` attachment. A delegated IPAM gets the runtime's valid list with `keep` (attachments
 * with a call running, ADDs newer than the list) added.
 */
export interface IpamGcScope {
  release: readonly Owner[];
  keep: readonly Owner[];
}


export function ipamFor(inv: Invocation<NetConf>): Ipam | undefined {
  const type = inv.conf.ipam?.type;
  if (type === undefined || type === "") return undefined;
  return type === IPAM_TYPE ? builtinIpam(inv) : delegatedIpam(inv, type);
}

function builtinIpam(inv: Invocation<NetConf>): Ipam {
  const impl = builtinIpamModule();
  return impl.builtinIpam(inv);
}

function delegatedIpam(inv: Invocation<NetConf>, type: string): Ipam {
  const run = (command: string): unknown => execPlugin(findPlugin(type, inv.env.path), command, inv.stdin, process.env);
  return {
    type,
    async add(): Promise<IpamResult> {
      // A delegate that failed reserved nothing; one that succeeded with output we cannot use may
      // have: its DEL runs here, since the caller only pushes the rollback once add() returns.
      const released = (err: unknown): unknown => {
        try {
          run("DEL");
        } catch (delErr) {
          log.warn(`IPAM plugin ${type}: DEL after an unusable ADD result failed`, { error: delErr instanceof Error ? delErr.message : String(delErr) });
        }
        return err;
      };
      let out: unknown;
      try {
        out = run("ADD");
      } catch (e) {
        // Code 6 from execPlugin: exit 0 with stdout that is not JSON, so the ADD succeeded and its
        // result is lost. (A delegate failing with its own code 6 gets one DEL too much: harmless.)
        throw e instanceof CniError && e.code === ErrorCode.DecodingFailure ? released(e) : e;
      }
      let result: ReturnType<typeof parseResult>;
      try {
        result = parseResult(out ?? {}, inv.version, `result of IPAM plugin ${type}`);
      } catch (e) {
        throw released(e);
      }
      if (!result.ips || result.ips.length === 0) {
        throw released(new DelegateError(`IPAM plugin ${type} returned no IP addresses`));
      }
      const ipam: IpamResult = {
        ips: result.ips.map((ip) => (ip.gateway !== undefined ? { address: ip.address, gateway: ip.gateway } : { address: ip.address })),
        routes: result.routes ?? [],
      };
      if (result.dns) ipam.dns = result.dns;
      return ipam;
    },
    async del(): Promise<void> {
      run("DEL");
    },
    async check(): Promise<void> {
      run("CHECK");
    },
    async gc(scope?: IpamGcScope): Promise<void> {
      if (scope === undefined || scope.keep.length === 0) {
        run("GC");
        return;
      }
      execPlugin(findPlugin(type, inv.env.path), "GC", withKept(inv.raw, scope.keep), process.env);
    },
    async status(): Promise<void> {
      run("STATUS");
    },
  };
}

/** The GC request with `keep` added to its attachment list(s), as a delegate receives it. */
export function withKept(raw: Record<string, unknown>, keep: readonly Owner[]): Buffer {
  const extra = keep.map((o) => ({ containerID: o.containerId, ifname: o.ifname }));
  const out: Record<string, unknown> = { ...raw };
  for (const name of ["cni.dev/valid-attachments", "cni.dev/attachments"]) {
    const list = raw[name];
    if (Array.isArray(list)) out[name] = [...(list as unknown[]), ...extra];
  }
  return Buffer.from(JSON.stringify(out));
}
