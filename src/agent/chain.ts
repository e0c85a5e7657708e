/**
 * Which CNI versions the conflist may offer in `cniVersions`: those every plugin of its chain speaks.
 * A runtime that knows `cniVersions` (libcni 1.2+) sends the highest one it supports to every plugin,
 * so offering 1.1.0 next to a portmap that only speaks up to 1.0.0 (containernetworking-plugins
 * before 1.5, e.g. Debian 12's 1.1.1) would fail every pod with hostPorts. The installed portmap is
 * asked (CNI VERSION) whenever its file changes.
 */
import { spawnSync } from "node:child_process";
import fs = require("node:fs");
import { join } from "node:path";

/** What the agent's conflist can offer with tether alone (cniVersion is always the first). */
export const CONFLIST_VERSIONS = ["1.0.0", "1.1.0"] as const;

/** CONFLIST_VERSIONS that the chained plugin also supports; 1.0.0 always stays (it is cniVersion). */
export function commonVersions(pluginSupports: readonly string[] | undefined): string[] {
  if (pluginSupports === undefined) return [...CONFLIST_VERSIONS];
  return CONFLIST_VERSIONS.filter((v) => v === "1.0.0" || pluginSupports.includes(v));
}

export class ChainVersions {
  private key: string | undefined;
  private versions: string[] = [...CONFLIST_VERSIONS];
  /**
   * Whether portmap is installed (as of the last get()). A runtime runs every plugin of the list
   * and fails the pod's ADD when one is missing from the bin dir, so without portmap the conflist
   * must not chain it: every pod would fail, not only those with hostPorts.
   */
  portmap = true;
  /** Why the versions are what they are, when it is worth a log line. */
  note: string | undefined;

  constructor(private readonly binDir: string) {}

  /** The versions to offer now (asks portmap again only when its file changed). */
  get(): string[] {
    const path = join(this.binDir, "portmap");
    let st: fs.Stats | undefined;
    try {
      st = fs.statSync(path);
    } catch {
      st = undefined;
    }
    const key = st === undefined ? "absent" : `${st.ino}:${st.size}:${st.mtimeMs}`;
    if (key === this.key) return this.versions;
    this.key = key;
    this.portmap = st !== undefined;
    if (st === undefined) {
      this.versions = [...CONFLIST_VERSIONS];
      this.note = `${path} is missing: the conflist chains no portmap (hostPorts are not mapped) until it is installed`;
      return this.versions;
    }
    const r = spawnSync(path, [], { input: '{"cniVersion":"1.0.0"}', encoding: "utf8", timeout: 10_000, env: { CNI_COMMAND: "VERSION", PATH: process.env["PATH"] ?? "" } });
    let supported: string[] | undefined;
    try {
      const v = (JSON.parse(r.stdout) as { supportedVersions?: unknown }).supportedVersions;
      if (Array.isArray(v) && v.every((x) => typeof x === "string")) supported = v;
    } catch {
      supported = undefined;
    }
    if (supported === undefined) {
      this.versions = ["1.0.0"];
      this.note = `${path} did not answer CNI VERSION (${(r.stderr || r.error?.message || "").trim().slice(0, 200)}): offering cniVersion 1.0.0 only`;
    } else {
      this.versions = commonVersions(supported);
      this.note = this.versions.length < CONFLIST_VERSIONS.length ? `${path} supports up to ${supported.at(-1) ?? "?"}: cniVersions ${JSON.stringify(this.versions)}` : undefined;
    }
    return this.versions;
  }
}
