/**
 * What the reliability suite (test/reliability) shares: which tether builds to run, snapshots of
 * everything an attachment can leave behind (links, addresses, routes and firewall rules of a
 * namespace; the files of an IPAM store), a semaphore, and the closing figures of each test.
 */
import { lstatSync, readdirSync, readFileSync, readlinkSync } from "node:fs";
import { join, resolve } from "node:path";
import { COMPILED_MAIN, REPO_ROOT, compiledMainCommand, distCommand, isExecutableFile, type TetherCommand } from "./binary";
import type { TestNetns } from "./netns";

/**
 * A tether that injects faults (TETHER_FAULT_AT): TETHER_TEST_FAULTS_BIN, else dist/tether-faults
 * (scripts/build.mjs --faults), else the compiled sources, which always can.
 */
export function faultsCommand(): TetherCommand {
  const explicit = process.env["TETHER_TEST_FAULTS_BIN"];
  if (explicit !== undefined && explicit !== "") return { cmd: resolve(explicit), args: [], label: `TETHER_TEST_FAULTS_BIN (${explicit})` };
  const dist = join(REPO_ROOT, "dist", "tether-faults");
  if (isExecutableFile(dist)) return { cmd: dist, args: [], label: "dist/tether-faults" };
  return compiledMainCommand();
}

/** The production executable (TETHER_TEST_BIN, else dist/tether); undefined when neither exists. */
export function productionCommand(): TetherCommand | undefined {
  const explicit = process.env["TETHER_TEST_BIN"];
  if (explicit !== undefined && explicit !== "") return { cmd: resolve(explicit), args: [], label: `TETHER_TEST_BIN (${explicit})` };
  return distCommand();
}

export { COMPILED_MAIN };

/**
 * Everything of a namespace an attachment could leave behind, as comparable text: links (name,
 * kind, master), addresses (not link-local ones of links that exist anyway: the kernel's), routes
 * of every table, the nftables ruleset and the nat tables of iptables and ip6tables.
 */
export interface Footprint {
  links: string[];
  addrs: string[];
  routes: string[];
  nft: string;
  iptables: string;
}

export function footprint(ns: TestNetns): Footprint {
  const links = (ns.ipJson<{ ifname: string; master?: string; linkinfo?: { info_kind?: string } }[]>(["-d", "link", "show"]) ?? [])
    .map((l) => `${l.ifname} ${l.linkinfo?.info_kind ?? "-"}${l.master ? ` master ${l.master}` : ""}`)
    .sort();
  const addrs = (ns.ipJson<{ ifname: string; addr_info?: { local: string; prefixlen: number }[] }[]>(["addr", "show"]) ?? [])
    .flatMap((l) => (l.addr_info ?? []).map((a) => `${l.ifname} ${a.local}/${a.prefixlen}`))
    .sort();
  const routes: string[] = [];
  for (const fam of ["-4", "-6"]) {
    const list = ns.ipJson<{ dst: string; dev?: string; gateway?: string; table?: string; type?: string; prefsrc?: string }[]>([fam, "route", "show", "table", "all"]) ?? [];
    for (const r of list) routes.push(`${r.type ?? ""} ${r.dst} ${r.gateway ? `via ${r.gateway} ` : ""}${r.dev ? `dev ${r.dev} ` : ""}table ${r.table ?? "main"}`);
  }
  routes.sort();
  const nft = ns.exec(["nft", "list", "ruleset"]);
  const clean = (text: string): string =>
    text
      .split("\n")
      .filter((l) => !l.startsWith("#"))
      .map((l) => l.replace(/\[\d+:\d+\]/g, ""))
      .join("\n");
  const iptables = clean(ns.tryExec(["iptables-save", "-t", "nat"]).stdout) + clean(ns.tryExec(["ip6tables-save", "-t", "nat"]).stdout);
  return { links, addrs, routes, nft, iptables };
}

/** Without what differs between equal namespaces: link-local addresses and routes (they follow random MACs and DAD timing). */
export function stableFootprint(f: Footprint): Footprint {
  const keep = (l: string): boolean => !/fe80:/.test(l);
  return { ...f, addrs: f.addrs.filter(keep), routes: f.routes.filter(keep) };
}

/** The differences between two footprints, one line each (empty: the same). */
export function footprintDiff(before: Footprint, after: Footprint): string[] {
  const out: string[] = [];
  for (const key of ["links", "addrs", "routes"] as const) {
    const a = new Set(before[key]);
    const b = new Set(after[key]);
    for (const x of b) if (!a.has(x)) out.push(`${key}: + ${x}`);
    for (const x of a) if (!b.has(x)) out.push(`${key}: - ${x}`);
  }
  if (before.nft !== after.nft) out.push(`nft ruleset changed:\n--- before\n${before.nft}\n--- after\n${after.nft}`);
  if (before.iptables !== after.iptables) out.push(`iptables nat changed:\n--- before\n${before.iptables}\n--- after\n${after.iptables}`);
  return out;
}

/** A container namespace with nothing of an attachment in it: lo alone, and only lo's addresses. */
export function containerLeftovers(ns: TestNetns): string[] {
  const f = footprint(ns);
  return [...f.links.filter((l) => !l.startsWith("lo ")), ...f.addrs.filter((a) => !a.startsWith("lo "))];
}

/** Every file under `dir` (recursively, symlinks not followed) with its content or link target. */
export function treeSnapshot(dir: string): Map<string, string> {
  const out = new Map<string, string>();
  const walk = (d: string, rel: string): void => {
    let names: string[];
    try {
      names = readdirSync(d);
    } catch {
      return;
    }
    for (const n of names) {
      const p = join(d, n);
      const r = rel === "" ? n : `${rel}/${n}`;
      const st = lstatSync(p);
      if (st.isSymbolicLink()) out.set(r, `symlink -> ${readlinkSync(p)}`);
      else if (st.isDirectory()) {
        out.set(r + "/", `dir ${(st.mode & 0o7777).toString(8)}`);
        walk(p, r);
      } else out.set(r, `${(st.mode & 0o7777).toString(8)} ${readFileSync(p).toString("base64")}`);
    }
  };
  walk(dir, "");
  return out;
}

export function treeDiff(before: Map<string, string>, after: Map<string, string>): string[] {
  const out: string[] = [];
  for (const [k, v] of after) if (before.get(k) !== v) out.push(`${before.has(k) ? "changed" : "new"}: ${k}`);
  for (const k of before.keys()) if (!after.has(k)) out.push(`gone: ${k}`);
  return out;
}

/** Reservation files (address -> content) of a host-local store directory. */
export function reservationsIn(networkDir: string): Map<string, string> {
  const out = new Map<string, string>();
  let names: string[];
  try {
    names = readdirSync(networkDir);
  } catch {
    return out;
  }
  for (const n of names) {
    if (n === "lock" || n.startsWith("last_reserved_ip.")) continue;
    out.set(n, readFileSync(join(networkDir, n), "utf8"));
  }
  return out;
}

/** At most `n` tasks at a time. */
export class Semaphore {
  private active = 0;
  private readonly waiting: (() => void)[] = [];
  constructor(private readonly n: number) {}
  async run<T>(fn: () => Promise<T>): Promise<T> {
    if (this.active >= this.n) await new Promise<void>((r) => this.waiting.push(r));
    this.active++;
    try {
      return await fn();
    } finally {
      this.active--;
      this.waiting.shift()?.();
    }
  }
}

/**
 * The closing figures of a test: a diagnostic on the test (shown by the spec reporter) and one
 * `reliability:` line on stderr, so they are easy to find in a long run.
 */
export function report(t: { diagnostic(msg: string): void; name: string }, figures: Record<string, number | string>): void {
  const line = Object.entries(figures)
    .map(([k, v]) => `${k}=${v}`)
    .join(" ");
  t.diagnostic(line);
  process.stderr.write(`reliability: ${t.name}: ${line}\n`);
}

export { REPO_ROOT };
