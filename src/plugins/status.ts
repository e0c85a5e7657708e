/**
 * CNI STATUS (spec 1.1): ready (no output) when an ADD could be served now, else code 50 naming
 * every reason. Runtimes ask every few seconds, so this reads the config without zod and probes
 * only files: /sys/class/net for the bridge, PATH for the firewall tools, the IPAM index header
 * for the pool. Delegated IPAM plugins get the STATUS too, and their failure (or absence) is a
 * reason: code 50 still, with the delegate's code in details.
 */
import { existsSync } from "node:fs";
import { join } from "node:path";
import type { CniEnv } from "../cni/env";
import { isNetworkName } from "../util/ids";
import { CniError, ErrorCode } from "../cni/errors";
import { iptablesTools } from "../firewall/tools";
import { lazy } from "../util/lazy";
import { DEFAULT_BRIDGE, IPAM_TYPE } from "../util/defaults";
import { PluginError } from "../attach/errors";

const toolsModule = lazy(() => require("../firewall/tools") as typeof import("../firewall/tools"));
const ipamStatusModule = lazy(() => require("../ipam/plugin/status") as typeof import("../ipam/plugin/status"));
const delegateModule = lazy(() => require("../cni/exec") as typeof import("../cni/exec"));

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
  /** The address families the config's ranges (or static addresses) use; empty when it names none. */
  families: (4 | 6)[];
}

export interface StatusRequest {
  raw: Record<string, unknown>;
  env: CniEnv;
  stdin: Buffer;
}


function invalid(field: string, what: string): PluginError {
  return new PluginError("config", `${field}: ${what}`);
}

function flag(raw: Record<string, unknown>, key: string): boolean {
  const v = raw[key];
  if (v === undefined || v === false || v === "false") return false;
  if (v === true || v === "true") return true;
  throw invalid(key, `${JSON.stringify(v)} is not a boolean`);
}

/** o[key], matching the key case-insensitively as Go's JSON decoding does (exact key first). */
function field(o: unknown, key: string): unknown {
  if (typeof o !== "object" || o === null || Array.isArray(o)) return undefined;
  const r = o as Record<string, unknown>;
  if (key in r) return r[key];
  const k = Object.keys(r).find((x) => x.toLowerCase() === key.toLowerCase());
  return k === undefined ? undefined : r[k];
}

/**
 * The families of the subnets and addresses the config names: ipam.ranges, ipam.subnet,
 * ipam.addresses and runtimeConfig.ipRanges (when a request carries it). Shapes it does not know
 * add nothing (the IPAM's own check judges them).
 */
export function configFamilies(raw: Record<string, unknown>): (4 | 6)[] {
  const texts: unknown[] = [];
  const ipam = raw["ipam"];
  const sets = [field(ipam, "ranges"), field(field(raw, "runtimeConfig"), "ipRanges")];
  for (const ranges of sets) {
    if (!Array.isArray(ranges)) continue;
    for (const set of ranges) if (Array.isArray(set)) for (const r of set) texts.push(field(r, "subnet"));
  }
  texts.push(field(ipam, "subnet"));
  const addresses = field(ipam, "addresses");
  if (Array.isArray(addresses)) for (const a of addresses) texts.push(field(a, "address"));
  const out = new Set<4 | 6>();
  for (const t of texts) if (typeof t === "string" && t !== "") out.add(t.includes(":") ? 6 : 4);
  return [...out].sort();
}

/** The fields STATUS needs, checked by hand (the full schema would cost more than the answer). */
export function statusView(raw: Record<string, unknown>): StatusView {
  const name = raw["name"];
  if (!isNetworkName(name)) throw invalid("name", `${JSON.stringify(name)} is not a valid network name`);
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
    families: configFamilies(raw),
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
    // iptables masquerade runs iptables-* for IPv4 and ip6tables-* for IPv6 sources. A config that
    // names no range (runtimeConfig.ipRanges only) is checked for IPv4, as before.
    const families = view.families.length > 0 ? view.families : [4 as const];
    const missing = families.flatMap((f) => iptablesTools(f)).filter((t) => !probe.hasTool(t));
    const iptables = missing.length === 0;
    if (view.ipMasqBackend === "nftables" && !nft) problems.push("ipMasq: nft is not installed (ipMasqBackend nftables)");
    else if (view.ipMasqBackend === "iptables" && !iptables) problems.push(`ipMasq: ${missing.join(" / ")} ${missing.length > 1 ? "are" : "is"} not installed (ipMasqBackend iptables)`);
    else if (view.ipMasqBackend === undefined && !nft && !iptables) problems.push(`ipMasq: neither nft nor ${missing.join(" / ")} is installed`);
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
    return toolsModule().findTool(name) !== undefined;
  },
};

/** Throw the not-ready error (code 50) when there is any reason; `extraDetails` go after the list. */
export function assertReady(problems: readonly string[], extraDetails?: string): void {
  if (problems.length === 0) return;
  const details = [...(problems.length > 1 ? [problems.join("\n")] : []), ...(extraDetails !== undefined ? [extraDetails] : [])].join("\n");
  throw new PluginError("not-ready", `not ready: ${problems.join("; ")}`, details === "" ? undefined : details);
}

/** STATUS of tether as an interface plugin. */
export async function tetherStatus(req: StatusRequest, probe: HostProbe = hostProbe): Promise<void> {
  const view = statusView(req.raw);
  const problems = hostProblems(view, probe);
  let delegateDetails: string | undefined;
  if (view.ipamType === IPAM_TYPE) {
    problems.push(...ipamStatusModule().builtinIpamProblems(req.raw));
  } else if (view.ipamType !== undefined) {
    const { execPlugin, findPlugin } = delegateModule();
    try {
      execPlugin(findPlugin(view.ipamType, req.env.path), "STATUS", req.stdin, process.env);
    } catch (e) {
      // Missing from CNI_PATH or not ready: either way this plugin cannot serve an ADD, which STATUS
      // reports as code 50 only. The delegate's own code (and details) go in details.
      problems.push(`IPAM ${view.ipamType}: ${e instanceof Error ? e.message : String(e)}`);
      const code = e instanceof CniError ? e.code : ErrorCode.DelegateFailed;
      const more = e instanceof CniError && e.details !== undefined && e.details !== "" ? `: ${e.details}` : "";
      delegateDetails = `IPAM ${view.ipamType} STATUS failed with code ${code}${more}`;
    }
  }
  assertReady(problems, delegateDetails);
}
