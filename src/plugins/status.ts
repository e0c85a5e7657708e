/**
 * CNI STATUS (spec 1.1): ready (no output) when an ADD could be served now, else code 50 naming
 * every reason. Runtimes ask every few seconds, so this reads the config without zod and probes
 * only files: /sys/class/net for the bridge, PATH for the firewall tools, the IPAM index header
 * for the pool. Delegated IPAM plugins get the STATUS too, and their failure is a reason.
 */
import { existsSync } from "node:fs";
import { join } from "node:path";
import type { CniEnv } from "../cni/env";
import { ID_PATTERN } from "../cni/env";
import { CniError, ErrorCode } from "../cni/errors";

/** What STATUS reads of a tether config. */
export interface StatusView {
  network: string;
  mode: "bridge" | "ptp";
  bridge: string;
  ipMasq: boolean;
  ipMasqBackend: "nftables" | "iptables" | undefined;
  spoofCheck: boolean;
  /** ipam.type, undefined when the network has no IPAM. */
  ipamType: string | undefined;
}

export interface StatusRequest {
  raw: Record<string, unknown>;
  env: CniEnv;
  stdin: Buffer;
}

const DEFAULT_BRIDGE = "tether0";

function invalid(field: string, what: string): CniError {
  return new CniError(ErrorCode.InvalidConfig, `${field}: ${what}`);
}

function flag(raw: Record<string, unknown>, key: string): boolean {
  const v = raw[key];
  if (v === undefined || v === false || v === "false") return false;
  if (v === true || v === "true") return true;
  throw invalid(key, `${JSON.stringify(v)} is not a boolean`);
}

/** The fields STATUS needs, checked by hand (the full schema would cost more than the answer). */
export function statusView(raw: Record<string, unknown>): StatusView {
  const name = raw["name"];
  if (typeof name !== "string" || !ID_PATTERN.test(name)) throw invalid("name", `${JSON.stringify(name)} is not a valid network name`);
  const mode = raw["mode"] ?? "bridge";
  if (mode !== "bridge" && mode !== "ptp") throw invalid("mode", `${JSON.stringify(mode)} is not "bridge" or "ptp"`);
  const bridge = raw["bridge"] ?? DEFAULT_BRIDGE;
  if (typeof bridge !== "string") throw invalid("bridge", "must be a string");
  const backend = raw["ipMasqBackend"];
  if (backend !== undefined && backend !== "nftables" && backend !== "iptables") throw invalid("ipMasqBackend", `${JSON.stringify(backend)} is not "nftables" or "iptables"`);
  const ipam = raw["ipam"];
  const type = typeof ipam === "object" && ipam !== null ? (ipam as Record<string, unknown>)["type"] : undefined;
  if (type !== undefined && typeof type !== "string") throw invalid("ipam.type", "must be a string");
  return {
    network: name,
    mode,
    bridge,
    ipMasq: flag(raw, "ipMasq"),
    ipMasqBackend: backend,
    spoofCheck: flag(raw, "macspoofchk") || flag(raw, "ipspoofchk"),
    ipamType: type === "" ? undefined : type,
  };
}

/** What the host offers, as STATUS looks at it. */
export interface HostProbe {
  linkKind(name: string): "absent" | "bridge" | "other";
  hasTool(name: string): boolean;
}

/** Why an ADD of this config could not be served on this host (pure; empty: ready). */
export function hostProblems(view: StatusView, probe: HostProbe): string[] {
  const problems: string[] = [];
  if (view.mode === "bridge") {
    if (!/^[^\s/:]{1,15}$/.test(view.bridge)) problems.push(`bridge "${view.bridge}" is not a valid interface name`);
    else if (probe.linkKind(view.bridge) === "other") problems.push(`bridge "${view.bridge}" cannot be created: a link that is not a bridge has that name`);
  }
  const nft = probe.hasTool("nft");
  if (view.ipMasq) {
    const iptables = probe.hasTool("iptables-restore") && probe.hasTool("iptables-save");
    if (view.ipMasqBackend === "nftables" && !nft) problems.push("ipMasq: nft is not installed (ipMasqBackend nftables)");
    else if (view.ipMasqBackend === "iptables" && !iptables) problems.push("ipMasq: iptables-restore / iptables-save are not installed (ipMasqBackend iptables)");
    else if (view.ipMasqBackend === undefined && !nft && !iptables) problems.push("ipMasq: neither nft nor iptables-restore is installed");
  }
  if (view.spoofCheck && !nft) problems.push("macspoofchk/ipspoofchk: nft is not installed");
  return problems;
}

/** The host seen through /sys and PATH only. */
export const hostProbe: HostProbe = {
  linkKind(name) {
    const dir = join("/sys/class/net", name);
    if (!existsSync(dir)) return "absent";
    return existsSync(join(dir, "bridge")) ? "bridge" : "other";
  },
  hasTool(name) {
    // eslint-disable-next-line @typescript-eslint/no-require-imports
    return (require("../firewall/tools") as typeof import("../firewall/tools")).findTool(name) !== undefined;
  },
};

/** Throw the not-ready error (code 50) when there is any reason. */
export function assertReady(problems: readonly string[]): void {
  if (problems.length === 0) return;
  throw new CniError(ErrorCode.NotAvailable, `not ready: ${problems.join("; ")}`, problems.length > 1 ? problems.join("\n") : undefined);
}

/** STATUS of tether as an interface plugin. */
export async function tetherStatus(req: StatusRequest, probe: HostProbe = hostProbe): Promise<void> {
  const view = statusView(req.raw);
  const problems = hostProblems(view, probe);
  if (view.ipamType === "tether-ipam") {
    // eslint-disable-next-line @typescript-eslint/no-require-imports
    problems.push(...(require("./ipamStatus") as typeof import("./ipamStatus")).builtinIpamProblems(req.raw));
  } else if (view.ipamType !== undefined) {
    // eslint-disable-next-line @typescript-eslint/no-require-imports
    const { execPlugin, findPlugin } = require("./delegate") as typeof import("./delegate");
    try {
      execPlugin(findPlugin(view.ipamType, req.env.path), "STATUS", req.stdin, process.env);
    } catch (e) {
      // Alone, the delegate's error comes back as it is (its own code, like every delegated error).
      if (problems.length === 0) throw e;
      problems.push(`IPAM ${view.ipamType}: ${e instanceof Error ? e.message : String(e)}`);
    }
  }
  assertReady(problems);
}
