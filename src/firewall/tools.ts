/** Finding the firewall tools without running them (STATUS uses this: no child_process to load). */
import { accessSync, constants } from "node:fs";
import { join } from "node:path";

/** Where the tools live on Debian and most distributions, searched after PATH (runtimes may pass none). */
const FALLBACK_DIRS = ["/usr/sbin", "/sbin", "/usr/local/sbin", "/usr/bin", "/bin"];

/** The absolute path of a firewall tool, or undefined when it is not installed. */
export function findTool(tool: string): string | undefined {
  const dirs = [...(process.env["PATH"] ?? "").split(":").filter((d) => d.startsWith("/")), ...FALLBACK_DIRS];
  for (const dir of dirs) {
    const path = join(dir, tool);
    try {
      accessSync(path, constants.X_OK);
      return path;
    } catch {
      // next directory
    }
  }
  return undefined;
}

/** The tools iptables masquerade runs for an address family: [restore, save]. */
export function iptablesTools(family: 4 | 6): [restore: string, save: string] {
  const base = family === 4 ? "iptables" : "ip6tables";
  return [`${base}-restore`, `${base}-save`];
}
