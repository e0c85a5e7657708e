/**
 * Throwaway network namespaces for tests against the real kernel. Everything a test configures lives
 * in namespaces created here (named tether-test-<random>), never in the namespace the tests run in.
 * Each namespace is deleted by the test's `after` hook, and at process exit as a last resort.
 */
import { spawnSync } from "node:child_process";
import { randomBytes } from "node:crypto";

export const NETNS_PREFIX = "tether-test-";
const NETNS_DIR = "/var/run/netns";

export interface TestNetns {
  readonly name: string;
  /** The bind-mounted namespace file, as a runtime would pass it in CNI_NETNS. */
  readonly path: string;
  /** Run a command inside the namespace; returns stdout, throws with stderr on failure. */
  exec(argv: string[]): string;
  /** `ip -j <args>` inside the namespace, parsed. */
  ipJson<T = unknown>(args: string[]): T;
  /** `ip -j -d link show dev <dev>` inside the namespace: the one link's details. */
  link(dev: string): IpLink;
  /** `bridge -j vlan show dev <dev>` inside the namespace. */
  bridgeVlans(dev: string): { vlan: number; flags?: string[] }[];
  /** Run a command inside the namespace without throwing: exit status, stdout and stderr. */
  tryExec(argv: string[]): { status: number | null; stdout: string; stderr: string };
  /** Whether a link of that name exists in the namespace. */
  hasLink(dev: string): boolean;
  /** `ip -j -d link show`: every link in the namespace. */
  links(): IpLink[];
  /** `ip -j addr show dev <dev>`: the link's addresses. */
  addrs(dev: string): IpAddrInfo[];
  /** `ip -j -<family> route show table <table>` (main by default). */
  routes(family: 4 | 6, table?: string): IpRouteInfo[];
  /** `bridge -j -d link show dev <dev>`: the bridge port's attributes (hairpin, isolated...). */
  bridgePort(dev: string): Record<string, unknown>;
  /** /proc/sys/<key> read inside the namespace (key with slashes: net/ipv6/conf/eth0/accept_dad). */
  sysctl(key: string): string;
  /** One ping from inside the namespace; true when it was answered. */
  ping(address: string, timeoutSeconds?: number): boolean;
  remove(): void;
}

/** One address of `ip -j addr show`. */
export interface IpAddrInfo {
  family: "inet" | "inet6";
  local: string;
  prefixlen: number;
  scope?: string;
  nodad?: boolean;
  tentative?: boolean;
  dadfailed?: boolean;
}

/** One route of `ip -j route show`. */
export interface IpRouteInfo {
  dst: string;
  gateway?: string;
  dev?: string;
  protocol?: string;
  scope?: string;
  metric?: number;
  flags?: string[];
}

/** The parts of `ip -j -d link` output the tests look at. */
export interface IpLink {
  ifindex: number;
  ifname: string;
  mtu: number;
  address?: string;
  flags: string[];
  master?: string;
  operstate?: string;
  promiscuity?: number;
  link_index?: number;
  link_netnsid?: number;
  linkinfo?: {
    info_kind?: string;
    info_data?: Record<string, unknown>;
    info_slave_kind?: string;
    info_slave_data?: Record<string, unknown>;
  };
}

const live = new Set<string>();
process.on("exit", () => {
  for (const name of live) spawnSync("ip", ["netns", "del", name]);
});

/** Run a command and return its stdout; a non-zero exit throws with the command's stderr. */
export function run(argv: string[]): string {
  const [cmd, ...args] = argv;
  if (cmd === undefined) throw new Error("empty command");
  const r = spawnSync(cmd, args, { encoding: "utf8" });
  if (r.error !== undefined) throw r.error;
  if (r.status !== 0) throw new Error(`${argv.join(" ")} exited ${r.status}: ${r.stderr.trim()}`);
  return r.stdout;
}

/**
 * Create a namespace with loopback up. Pass the test context (or anything with `after`) so the
 * namespace goes away when the test ends, failed or not.
 */
export function createNetns(cleanup?: { after(fn: () => void): void }, label = ""): TestNetns {
  const name = `${NETNS_PREFIX}${label}${label === "" ? "" : "-"}${randomBytes(4).toString("hex")}`;
  run(["ip", "netns", "add", name]);
  live.add(name);
  const ns = makeHandle(name);
  cleanup?.after(() => ns.remove());
  ns.exec(["ip", "link", "set", "lo", "up"]);
  return ns;
}

function makeHandle(name: string): TestNetns {
  const exec = (argv: string[]): string => run(["ip", "netns", "exec", name, ...argv]);
  const ipJson = <T>(args: string[]): T => JSON.parse(exec(["ip", "-j", ...args]) || "null") as T;
  return {
    name,
    path: `${NETNS_DIR}/${name}`,
    exec,
    ipJson,
    link(dev) {
      const [link] = ipJson<IpLink[]>(["-d", "link", "show", "dev", dev]);
      if (link === undefined) throw new Error(`no link ${dev} in ${name}`);
      return link;
    },
    bridgeVlans(dev) {
      const out = JSON.parse(exec(["bridge", "-j", "vlan", "show", "dev", dev]) || "[]") as {
        ifname: string;
        vlans: { vlan: number; flags?: string[] }[];
      }[];
      return out.find((e) => e.ifname === dev)?.vlans ?? [];
    },
    tryExec(argv) {
      const r = spawnSync("ip", ["netns", "exec", name, ...argv], { encoding: "utf8" });
      if (r.error !== undefined) throw r.error;
      return { status: r.status, stdout: r.stdout, stderr: r.stderr };
    },
    hasLink(dev) {
      const r = spawnSync("ip", ["-n", name, "link", "show", "dev", dev], { encoding: "utf8" });
      if (r.error !== undefined) throw r.error;
      return r.status === 0;
    },
    links() {
      return ipJson<IpLink[]>(["-d", "link", "show"]) ?? [];
    },
    addrs(dev) {
      const [link] = ipJson<{ addr_info?: IpAddrInfo[] }[]>(["addr", "show", "dev", dev]) ?? [];
      if (link === undefined) throw new Error(`no link ${dev} in ${name}`);
      return link.addr_info ?? [];
    },
    routes(family, table = "main") {
      return ipJson<IpRouteInfo[]>([`-${family}`, "route", "show", "table", table]) ?? [];
    },
    bridgePort(dev) {
      const out = JSON.parse(exec(["bridge", "-j", "-d", "link", "show", "dev", dev]) || "[]") as Record<string, unknown>[];
      const port = out.find((e) => e["ifname"] === dev);
      if (port === undefined) throw new Error(`${dev} is not a bridge port in ${name}`);
      return port;
    },
    sysctl(key) {
      return exec(["cat", `/proc/sys/${key}`]).trim();
    },
    ping(address, timeoutSeconds = 2) {
      const r = spawnSync("ip", ["netns", "exec", name, "ping", "-c1", "-W", String(timeoutSeconds), address], { encoding: "utf8" });
      if (r.error !== undefined) throw r.error;
      return r.status === 0;
    },
    remove() {
      if (!live.has(name)) return;
      spawnSync("ip", ["netns", "del", name]);
      live.delete(name);
    },
  };
}

/** Names of leftover test namespaces (for a final sanity check). */
export function listTestNetns(): string[] {
  return run(["ip", "netns", "list"])
    .split("\n")
    .map((l) => l.split(" ")[0] ?? "")
    .filter((n) => n.startsWith(NETNS_PREFIX));
}

/** Skip reason when the tests cannot create namespaces (not root); undefined when they can. */
export function netnsUnavailable(): string | undefined {
  return process.getuid?.() === 0 ? undefined : "needs root to create network namespaces";
}
