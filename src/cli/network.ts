/**
 * `tether exec add|check|del`, `tether gc` and `tether status`: a network configuration driven as a
 * runtime drives it (src/cli/runtime.ts), for people testing by hand. ADD's result is kept under
 * --cache-dir for the CHECK and DEL that follow, as libcni keeps its own.
 */
import { mkdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { Command } from "commander";
import type { CliIo, CliStatus } from "./index";
import { listingText, printable } from "../util/quote";
import {
  addNetwork,
  checkNetwork,
  delNetwork,
  execRunner,
  gcNetwork,
  readNetworkConfig,
  statusNetwork,
  type Attachment,
  type NetworkConfigList,
  type PluginFailure,
} from "./runtime";

export const DEFAULT_CNI_PATH = "/opt/cni/bin";
export const DEFAULT_CACHE_DIR = "/var/lib/tether/exec-results";

function cniPathOf(opt: string | undefined): string[] {
  return (opt ?? process.env["CNI_PATH"] ?? DEFAULT_CNI_PATH).split(":").filter((d) => d !== "");
}

function describe(e: unknown): string {
  const err = e as { code?: unknown; message?: unknown; details?: unknown };
  const code = typeof err.code === "number" ? ` (code ${err.code})` : "";
  const details = typeof err.details === "string" && err.details !== "" ? `: ${err.details}` : "";
  // Messages carry bytes of the configuration and of plugins' output: escaped and cut.
  return printable(`${String(err.message ?? e)}${code}${details}`, 500);
}

/** Read --conf, or report a usage-level failure (exit 2). */
function loadConf(path: string, io: CliIo, status: CliStatus, who: string): NetworkConfigList | undefined {
  try {
    return readNetworkConfig(path);
  } catch (e) {
    io.err(`tether ${who}: ${printable((e as Error).message, 500)}\n`);
    status.code = 2;
    return undefined;
  }
}

function failuresOut(failures: readonly PluginFailure[], json: boolean | undefined, io: CliIo): void {
  if (json) io.out(JSON.stringify(failures.map((f) => ({ plugin: f.plugin, error: describe(f.error) })), null, 2) + "\n");
  else for (const f of failures) io.out(`${listingText(f.plugin)}: ${describe(f.error)}\n`);
}

/** "ID/IFNAME" -> the attachment; throws on anything else. */
export function parseValidAttachment(text: string): { containerId: string; ifname: string } {
  const cut = text.lastIndexOf("/");
  if (cut <= 0 || cut === text.length - 1) throw new Error(`--valid ${JSON.stringify(text)}: expected CONTAINER_ID/IFNAME`);
  return { containerId: text.slice(0, cut), ifname: text.slice(cut + 1) };
}

function cachePath(dir: string, list: NetworkConfigList, a: Attachment): string {
  return join(dir, `${list.name}-${a.containerId}-${a.ifname}.json`);
}

export function execCommand(io: CliIo, status: CliStatus): Command {
  return new Command("exec")
    .description("run ADD, CHECK or DEL of a network configuration (.conflist or .conf) as a runtime would")
    .argument("<command>", "add, check or del")
    .requiredOption("--conf <file>", "the network configuration")
    .requiredOption("--netns <path>", "the container's network namespace (CNI_NETNS)")
    .option("--id <id>", "CNI_CONTAINERID", "tether-exec")
    .option("--ifname <name>", "CNI_IFNAME", "eth0")
    .option("--args <args>", "CNI_ARGS")
    .option("--cap <json>", "capability args as JSON, e.g. '{\"portMappings\": [...]}'")
    .option("--cni-path <dirs>", `plugin directories (default: $CNI_PATH, else ${DEFAULT_CNI_PATH})`)
    .option("--cache-dir <dir>", "where ADD's result is kept for CHECK and DEL", DEFAULT_CACHE_DIR)
    .addHelpText(
      "after",
      "\nADD prints the final result (JSON). CHECK and DEL use the result ADD kept; DEL forgets it.\n" +
        "Exit codes: 0 done, 1 a plugin failed (its error is printed), 2 usage error or unreadable --conf.\n",
    )
    .action((command: string, opts: { conf: string; netns: string; id: string; ifname: string; args?: string; cap?: string; cniPath?: string; cacheDir: string }) => {
      const op = command.toLowerCase();
      if (!["add", "check", "del"].includes(op)) {
        io.err(`tether exec: unknown command ${printable(JSON.stringify(command), 100)} (add, check or del)\n`);
        status.code = 2;
        return;
      }
      const list = loadConf(opts.conf, io, status, "exec");
      if (!list) return;
      let capabilityArgs: Record<string, unknown> | undefined;
      try {
        capabilityArgs = opts.cap === undefined ? undefined : (JSON.parse(opts.cap) as Record<string, unknown>);
      } catch (e) {
        io.err(`tether exec: --cap: ${printable((e as Error).message, 500)}\n`);
        status.code = 2;
        return;
      }
      const a: Attachment = { containerId: opts.id, netns: opts.netns, ifname: opts.ifname, args: opts.args, capabilityArgs };
      const run = execRunner(cniPathOf(opts.cniPath));
      const cache = cachePath(opts.cacheDir, list, a);
      const cached = (): unknown => {
        try {
          return JSON.parse(readFileSync(cache, "utf8")) as unknown;
        } catch {
          return undefined;
        }
      };
      try {
        if (op === "add") {
          const result = addNetwork(list, a, run);
          mkdirSync(opts.cacheDir, { recursive: true, mode: 0o700 });
          writeFileSync(cache, JSON.stringify(result), { mode: 0o600 });
          io.out(JSON.stringify(result, null, 2) + "\n");
        } else if (op === "check") {
          const result = cached();
          if (result === undefined) throw new Error(`no result of an ADD in ${cache}`);
          if (list.disableCheck) io.out("disableCheck is set: nothing checked\n");
          else checkNetwork(list, a, result, run);
        } else {
          delNetwork(list, a, cached(), run);
          rmSync(cache, { force: true });
        }
      } catch (e) {
        io.err(`tether exec ${op}: ${describe(e)}\n`);
        status.code = 1;
      }
    });
}

export function gcCommand(io: CliIo, status: CliStatus): Command {
  return new Command("gc")
    .description("send CNI GC to every plugin of a network configuration: what the listed attachments do not hold is removed")
    .requiredOption("--conf <file>", "the network configuration")
    .option("--valid <id/ifname...>", "attachments to keep (CONTAINER_ID/IFNAME), one or more")
    .option("--none-valid", "keep nothing: every attachment of the network is stale")
    .option("--cni-path <dirs>", `plugin directories (default: $CNI_PATH, else ${DEFAULT_CNI_PATH})`)
    .option("--json", "print failures as a JSON array")
    .addHelpText("after", "\nExit codes: 0 every plugin's GC succeeded, 1 some failed (each is printed), 2 usage error.\n")
    .action((opts: { conf: string; valid?: string[]; noneValid?: boolean; cniPath?: string; json?: boolean }) => {
      if ((opts.valid === undefined) === (opts.noneValid !== true)) {
        io.err("tether gc: give --valid ID/IFNAME... or --none-valid (one of them)\n");
        status.code = 2;
        return;
      }
      const list = loadConf(opts.conf, io, status, "gc");
      if (!list) return;
      let valid: { containerId: string; ifname: string }[];
      try {
        valid = (opts.valid ?? []).map(parseValidAttachment);
      } catch (e) {
        io.err(`tether gc: ${printable((e as Error).message, 500)}\n`);
        status.code = 2;
        return;
      }
      if (list.disableGC) {
        io.out("disableGC is set: nothing collected\n");
        return;
      }
      const failures = gcNetwork(list, valid, execRunner(cniPathOf(opts.cniPath)));
      if (failures.length > 0 || opts.json) failuresOut(failures, opts.json, io);
      if (failures.length > 0) status.code = 1;
    });
}

export function statusCommand(io: CliIo, status: CliStatus): Command {
  return new Command("status")
    .description("ask every plugin of a network configuration whether it can serve an ADD (CNI STATUS)")
    .requiredOption("--conf <file>", "the network configuration")
    .option("--cni-path <dirs>", `plugin directories (default: $CNI_PATH, else ${DEFAULT_CNI_PATH})`)
    .option("--json", "print {ready, failures} as JSON")
    .addHelpText("after", "\nExit codes: 0 ready, 1 not ready (each plugin's reason is printed), 2 usage error or unreadable --conf.\n")
    .action((opts: { conf: string; cniPath?: string; json?: boolean }) => {
      const list = loadConf(opts.conf, io, status, "status");
      if (!list) return;
      const failures = statusNetwork(list, execRunner(cniPathOf(opts.cniPath)));
      if (opts.json) io.out(JSON.stringify({ network: list.name, ready: failures.length === 0, failures: failures.map((f) => ({ plugin: f.plugin, error: describe(f.error) })) }, null, 2) + "\n");
      else if (failures.length === 0) io.out(`${listingText(list.name)}: ready\n`);
      else {
        io.out(`${listingText(list.name)}: not ready\n`);
        failuresOut(failures, false, io);
      }
      if (failures.length > 0) status.code = 1;
    });
}
