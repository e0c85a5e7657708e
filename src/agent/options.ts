/** `tether agent` options: flags and environment to a checked AgentOptions (pure). */
import { isAbsolute } from "node:path";
import { parseBindAddress } from "./health";
import { DEFAULT_STATE_DIR } from "./state";

export interface AgentOptions {
  kubeconfig?: string;
  nodeName: string;
  cniBinDir: string;
  cniConfDir: string;
  metricsBindAddress: string;
  resyncMs: number;
  stateDir: string;
  /** The executable installed as `tether`; undefined: do not install (not a single executable). */
  installSource?: string;
  /** Enforce NetworkPolicy (default); false: remove tether's policy table and leave policy alone. */
  networkPolicy?: boolean;
  /** IPAM data directory written into the conflist. */
  ipamDataDir?: string;
  /** MTU of pod interfaces written into the conflist. */
  mtu?: number;
}

export const AGENT_DEFAULTS = {
  cniBinDir: "/opt/cni/bin",
  cniConfDir: "/etc/cni/net.d",
  metricsBindAddress: "127.0.0.1:9717",
  resync: "30s",
  stateDir: DEFAULT_STATE_DIR,
} as const;

export class AgentUsageError extends Error {
  override readonly name = "AgentUsageError";
}

/** "500ms", "30s", "5m", "1h" -> milliseconds. */
export function parseDuration(flag: string, text: string): number {
  const m = /^(\d+)(ms|s|m|h)$/.exec(text);
  if (m === null) throw new AgentUsageError(`${flag} ${JSON.stringify(text)} is not a duration (e.g. 500ms, 30s, 5m)`);
  const n = Number(m[1]) * { ms: 1, s: 1000, m: 60_000, h: 3_600_000 }[m[2] as "ms" | "s" | "m" | "h"];
  if (n < 100) throw new AgentUsageError(`${flag} ${text} is below 100ms`);
  return n;
}

export interface RawAgentFlags {
  kubeconfig?: string;
  nodeName?: string;
  cniBinDir: string;
  cniConfDir: string;
  metricsBindAddress: string;
  resync: string;
  stateDir: string;
  install?: boolean;
  networkPolicy?: boolean;
  ipamDataDir?: string;
  mtu?: string;
}

function absolute(flag: string, path: string): string {
  if (!isAbsolute(path)) throw new AgentUsageError(`${flag} ${JSON.stringify(path)} is not an absolute path`);
  return path;
}

export function agentOptions(raw: RawAgentFlags, env: NodeJS.ProcessEnv, installSource: string | undefined): AgentOptions {
  const nodeName = raw.nodeName ?? env["NODE_NAME"] ?? "";
  if (nodeName === "") throw new AgentUsageError("the node name is missing: pass --node-name or set NODE_NAME");
  if (!/^[a-z0-9]([-a-z0-9.]{0,251}[a-z0-9])?$/.test(nodeName)) throw new AgentUsageError(`--node-name ${JSON.stringify(nodeName)} is not a Kubernetes node name`);
  parseBindAddress(raw.metricsBindAddress);
  const opts: AgentOptions = {
    nodeName,
    cniBinDir: absolute("--cni-bin-dir", raw.cniBinDir),
    cniConfDir: absolute("--cni-conf-dir", raw.cniConfDir),
    metricsBindAddress: raw.metricsBindAddress,
    resyncMs: parseDuration("--resync", raw.resync),
    stateDir: absolute("--state-dir", raw.stateDir),
  };
  if (raw.kubeconfig !== undefined) opts.kubeconfig = raw.kubeconfig;
  if (raw.install !== false && installSource !== undefined) opts.installSource = installSource;
  if (raw.networkPolicy === false) opts.networkPolicy = false;
  if (raw.ipamDataDir !== undefined) opts.ipamDataDir = absolute("--ipam-data-dir", raw.ipamDataDir);
  if (raw.mtu !== undefined) {
    const mtu = Number(raw.mtu);
    if (!Number.isInteger(mtu) || mtu < 576 || mtu > 65535) throw new AgentUsageError(`--mtu ${JSON.stringify(raw.mtu)} is not an MTU (576-65535)`);
    opts.mtu = mtu;
  }
  return opts;
}
