/**
 * A conflist driver that does what libcni does with a chain: each plugin gets its own config with
 * the network's `name` and `cniVersion` injected, `runtimeConfig` = the capability args it declared
 * in `capabilities`, and (after the first) the previous plugin's result as `prevResult`. DEL runs the
 * plugins in reverse with the final ADD result; CHECK runs them in order with it.
 *
 * Plugins run inside the test's node namespace: `tether` is tether (see binary.ts), any other type is
 * the binary of that name in CNI_DIRS (the Debian reference plugins).
 */
import { existsSync } from "node:fs";
import { dirname, join } from "node:path";
import { pluginRequest as runtimeRequest } from "../../src/cli/runtime";
import { runCni, tetherCommand, type CniOutcome, type TetherCommand } from "./binary";

export const DEBIAN_CNI_DIR = "/usr/lib/cni";

export interface Conflist {
  cniVersion: string;
  name: string;
  plugins: Record<string, unknown>[];
}

export interface ChainTarget {
  containerId: string;
  netns: string;
  ifname?: string;
  /** The `ip netns` name of the node namespace the plugins run in. */
  nodeNetns: string;
  /** Capability args the runtime has for this container (portMappings, bandwidth, dns, mac, ips...). */
  capabilityArgs?: Record<string, unknown>;
}

/** What one plugin of the chain receives on stdin (libcni's injection, as `tether exec` does it). */
export function pluginRequest(list: Conflist, plugin: Record<string, unknown>, target: ChainTarget, prevResult?: unknown): Record<string, unknown> {
  return runtimeRequest(list, plugin, target.capabilityArgs, prevResult);
}

function commandFor(type: string): TetherCommand {
  if (type === "tether") return tetherCommand();
  const path = join(DEBIAN_CNI_DIR, type);
  if (!existsSync(path)) throw new Error(`no plugin ${type} in ${DEBIAN_CNI_DIR}`);
  return { cmd: path, args: [], label: type };
}

function cniPath(): string {
  const t = tetherCommand();
  return [dirname(t.cmd === process.execPath ? (t.args[0] ?? t.cmd) : t.cmd), DEBIAN_CNI_DIR].join(":");
}

function invoke(command: string, type: string, target: ChainTarget, stdin: Record<string, unknown>): CniOutcome {
  return runCni({
    command,
    containerId: target.containerId,
    netns: target.netns,
    ifname: target.ifname ?? "eth0",
    cniPath: cniPath(),
    config: stdin,
    inNetns: target.nodeNetns,
    tether: commandFor(type),
  });
}

export class ChainError extends Error {
  constructor(
    readonly command: string,
    readonly plugin: string,
    readonly outcome: CniOutcome,
  ) {
    super(`${command} ${plugin}: exit ${outcome.status}; stdout ${outcome.stdout}; stderr ${outcome.stderr.slice(-1500)}`);
  }
}

/** ADD every plugin in order; returns the final result (parsed) or throws ChainError at the first failure. */
export function chainAdd(list: Conflist, target: ChainTarget): Record<string, unknown> {
  let prev: Record<string, unknown> | undefined;
  for (const plugin of list.plugins) {
    const type = String(plugin["type"]);
    const o = invoke("ADD", type, target, pluginRequest(list, plugin, target, prev));
    if (o.status !== 0) throw new ChainError("ADD", type, o);
    prev = JSON.parse(o.stdout) as Record<string, unknown>;
  }
  if (!prev) throw new Error("empty chain");
  return prev;
}

/** DEL every plugin in reverse order, each with the final ADD result (when there is one). */
export function chainDel(list: Conflist, target: ChainTarget, finalResult?: Record<string, unknown>): void {
  for (const plugin of [...list.plugins].reverse()) {
    const type = String(plugin["type"]);
    const o = invoke("DEL", type, target, pluginRequest(list, plugin, target, finalResult));
    if (o.status !== 0) throw new ChainError("DEL", type, o);
  }
}

/** CHECK every plugin in order with the final ADD result. */
export function chainCheck(list: Conflist, target: ChainTarget, finalResult: Record<string, unknown>): void {
  for (const plugin of list.plugins) {
    const type = String(plugin["type"]);
    const o = invoke("CHECK", type, target, pluginRequest(list, plugin, target, finalResult));
    if (o.status !== 0) throw new ChainError("CHECK", type, o);
  }
}
