/** Build an Invocation as dispatch would, for handler-level unit tests. */
import { parseCniArgs } from "../../src/cni/args";
import type { Invocation } from "../../src/cni/dispatch";
import type { Command } from "../../src/cni/env";
import { parseResult } from "../../src/cni/result";
import { requestVersion } from "../../src/cni/version";
import { loadNetConf, type NetConf } from "../../src/config/netconf";

export function invocation(
  command: Exclude<Command, "VERSION">,
  raw: Record<string, unknown>,
  env: { containerId?: string; netns?: string; ifname?: string; args?: string; path?: string[]; netnsOverride?: boolean } = {},
): Invocation<NetConf> {
  const version = requestVersion(raw);
  return {
    command,
    env: {
      command,
      containerId: env.containerId ?? "c1",
      netns: env.netns ?? "/var/run/netns/c1",
      ifname: env.ifname ?? "eth0",
      args: env.args ?? "",
      path: env.path ?? [],
      netnsOverride: env.netnsOverride ?? false,
    },
    conf: loadNetConf(raw),
    raw,
    stdin: Buffer.from(JSON.stringify(raw)),
    version,
    args: parseCniArgs(env.args ?? "", command === "DEL"),
    prevResult: raw["prevResult"] === undefined ? undefined : parseResult(raw["prevResult"], version),
  };
}
