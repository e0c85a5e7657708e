/**
 * Driving a network configuration as a runtime (libcni) does, for `tether exec|gc|status`: each
 * plugin gets its own config with the network's `name` and `cniVersion` injected, `runtimeConfig`
 * from the capability args it declares, and (ADD after the first, CHECK, DEL) `prevResult`; DEL runs
 * the plugins in reverse. Plugins are found on CNI_PATH; `tether` / `tether-ipam` fall back to this
 * very executable when they are not there.
 */
import { readFileSync } from "node:fs";
import { LATEST_VERSION, SUPPORTED_VERSIONS, compareVersions } from "../cni/version";
import { quoteForeign } from "../util/quote";
import { execPlugin, findPlugin } from "../plugins/delegate";

export interface NetworkConfigList {
  cniVersion: string;
  name: string;
  disableCheck: boolean;
  /** Spec 1.1: a runtime must not send GC for this network. */
  disableGC: boolean;
  plugins: Record<string, unknown>[];
}

/** A .conflist, or a single plugin's .conf (a list of one). */
export function parseNetworkConfig(text: string, source: string): NetworkConfigList {
  let doc: unknown;
  try {
    doc = JSON.parse(text);
  } catch (e) {
    throw new Error(`${source}: not JSON: ${(e as Error).message}`);
  }
  if (typeof doc !== "object" || doc === null || Array.isArray(doc)) throw new Error(`${source}: not a JSON object`);
  const o = doc as Record<string, unknown>;
  const name = o["name"];
  if (typeof name !== "string" || name === "") throw new Error(`${source}: no network name`);
  const cniVersion = listVersion(o, source);
  const plugins = Array.isArray(o["plugins"]) ? (o["plugins"] as unknown[]) : o["type"] !== undefined ? [o] : [];
  if (plugins.length === 0 || !plugins.every((p) => typeof p === "object" && p !== null && typeof (p as Record<string, unknown>)["type"] === "string")) {
    throw new Error(`${source}: needs "plugins" (a conflist) or a "type" (a single plugin config)`);
  }
  return {
    cniVersion,
    name,
    disableCheck: listFlag(o, "disableCheck", source),
    disableGC: listFlag(o, "disableGC", source),
    plugins: plugins as Record<string, unknown>[],
  };
}

/** A boolean of the list: true/false, or the strings "true"/"false" in any case (as libcni reads them). */
function listFlag(o: Record<string, unknown>, key: string, source: string): boolean {
  const v = o[key];
  if (v === undefined || typeof v === "boolean") return v === true;
  if (typeof v === "string" && /^(true|false)$/i.test(v)) return v.toLowerCase() === "true";
  throw new Error(`${source}: ${key} must be true or false`);
}

/**
 * The version a runtime uses for a list (spec 1.1, as libcni does): the highest of `cniVersions` and
 * `cniVersion` that this runtime supports; without `cniVersions`, `cniVersion` (default 0.1.0).
 */
export function listVersion(o: Record<string, unknown>, source: string, supported: readonly string[] = SUPPORTED_VERSIONS): string {
  const declared = o["cniVersion"] ?? "0.1.0";
  if (typeof declared !== "string") throw new Error(`${source}: cniVersion must be a string`);
  const versions = o["cniVersions"];
  if (versions === undefined) return declared;
  if (!Array.isArray(versions) || !versions.every((v) => typeof v === "string")) throw new Error(`${source}: cniVersions must be an array of strings`);
  // As libcni: an entry it cannot parse fails the list; any entry up to its own newest version is a
  // candidate, whether or not a plugin knows it (the plugin then refuses it with code 1).
  for (const v of versions as string[]) if (!isVersionText(v)) throw new Error(`${source}: cniVersions: ${quoteForeign(v)} is not a version`);
  if (o["cniVersion"] !== undefined && !isVersionText(declared)) throw new Error(`${source}: cniVersion: ${quoteForeign(declared)} is not a version`);
  const newest = [...supported].sort(compareVersions).at(-1) ?? LATEST_VERSION;
  const candidates = [...(versions as string[]), ...(o["cniVersion"] === undefined ? [] : [declared])];
  const common = candidates.filter((v) => compareVersions(v, newest) <= 0).sort(compareVersions);
  return common.at(-1) ?? declared;
}

/** What libcni's version parser takes: up to three dot-separated numbers ("" is 0.1.0). */
function isVersionText(v: string): boolean {
  return v === "" || /^\d+(\.\d+){0,2}$/.test(v);
}

export function readNetworkConfig(path: string): NetworkConfigList {
  return parseNetworkConfig(readFileSync(path, "utf8"), path);
}

export interface Attachment {
  containerId: string;
  netns: string;
  ifname: string;
  /** CNI_ARGS, when any. */
  args?: string | undefined;
  /** Capability args of the container (portMappings, bandwidth, mac, ips...). */
  capabilityArgs?: Record<string, unknown> | undefined;
}

/** What one plugin of the list receives on stdin (libcni's injection). */
export function pluginRequest(
  list: Pick<NetworkConfigList, "name" | "cniVersion">,
  plugin: Record<string, unknown>,
  capabilityArgs: Record<string, unknown> | undefined,
  prevResult?: unknown,
): Record<string, unknown> {
  const req: Record<string, unknown> = { ...plugin, name: list.name, cniVersion: list.cniVersion };
  const caps = plugin["capabilities"] as Record<string, boolean> | undefined;
  const runtimeConfig: Record<string, unknown> = {};
  for (const [cap, on] of Object.entries(caps ?? {})) {
    if (on && capabilityArgs?.[cap] !== undefined) runtimeConfig[cap] = capabilityArgs[cap];
  }
  if (Object.keys(runtimeConfig).length > 0) req["runtimeConfig"] = runtimeConfig;
  if (prevResult !== undefined) req["prevResult"] = prevResult;
  return req;
}

export interface PluginRunner {
  (type: string, command: string, env: Record<string, string>, request: Record<string, unknown>): unknown;
}

/** This executable as a plugin: the single executable itself, or node with the compiled main. */
function selfCommand(): { path: string; args: string[] } {
  const main = process.argv[1];
  const isScript = main !== undefined && /\.[cm]?js$/.test(main);
  return isScript ? { path: process.execPath, args: [main] } : { path: process.execPath, args: [] };
}

/** Runs plugins from CNI_PATH with the runtime's environment; errors are CniErrors with the plugin's code. */
export function execRunner(cniPath: readonly string[]): PluginRunner {
  return (type, command, env, request) => {
    const stdin = Buffer.from(JSON.stringify(request));
    const base: NodeJS.ProcessEnv = { ...process.env, ...env, CNI_PATH: cniPath.join(":") };
    let path: string;
    let args: string[] = [];
    try {
      path = findPlugin(type, cniPath, "type");
    } catch (e) {
      if (type !== "tether" && type !== "tether-ipam") throw e;
      ({ path, args } = selfCommand());
      if (type === "tether-ipam") base["TETHER_AS"] = "tether-ipam";
    }
    return execPlugin(path, command, stdin, base, args);
  };
}

function attachmentEnv(a: Attachment): Record<string, string> {
  const env: Record<string, string> = { CNI_CONTAINERID: a.containerId, CNI_NETNS: a.netns, CNI_IFNAME: a.ifname };
  if (a.args !== undefined) env["CNI_ARGS"] = a.args;
  return env;
}

/** ADD every plugin in order; the final result. */
export function addNetwork(list: NetworkConfigList, a: Attachment, run: PluginRunner): unknown {
  let prev: unknown;
  for (const p of list.plugins) prev = run(String(p["type"]), "ADD", attachmentEnv(a), pluginRequest(list, p, a.capabilityArgs, prev));
  return prev;
}

/** CHECK every plugin in order with the final ADD result. */
export function checkNetwork(list: NetworkConfigList, a: Attachment, result: unknown, run: PluginRunner): void {
  for (const p of list.plugins) run(String(p["type"]), "CHECK", attachmentEnv(a), pluginRequest(list, p, a.capabilityArgs, result));
}

/** DEL every plugin in reverse with the final ADD result (when known). */
export function delNetwork(list: NetworkConfigList, a: Attachment, result: unknown, run: PluginRunner): void {
  for (const p of [...list.plugins].reverse()) run(String(p["type"]), "DEL", attachmentEnv(a), pluginRequest(list, p, a.capabilityArgs, result));
}

export interface PluginFailure {
  plugin: string;
  error: unknown;
}

/** GC to every plugin with the valid attachments (under both key names libcni sends); every plugin runs. */
export function gcNetwork(list: NetworkConfigList, valid: readonly { containerId: string; ifname: string }[], run: PluginRunner): PluginFailure[] {
  const attachments = valid.map((v) => ({ containerID: v.containerId, ifname: v.ifname }));
  const failures: PluginFailure[] = [];
  for (const p of list.plugins) {
    const req = { ...pluginRequest(list, p, undefined), "cni.dev/valid-attachments": attachments, "cni.dev/attachments": attachments };
    try {
      run(String(p["type"]), "GC", {}, req);
    } catch (error) {
      failures.push({ plugin: String(p["type"]), error });
    }
  }
  return failures;
}

/** STATUS of every plugin (libcni stops at the first failure; people want all of them). */
export function statusNetwork(list: NetworkConfigList, run: PluginRunner): PluginFailure[] {
  const failures: PluginFailure[] = [];
  for (const p of list.plugins) {
    try {
      run(String(p["type"]), "STATUS", {}, pluginRequest(list, p, undefined));
    } catch (error) {
      failures.push({ plugin: String(p["type"]), error });
    }
  }
  return failures;
}
