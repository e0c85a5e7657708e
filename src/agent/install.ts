/**
 * Installing the plugin on the node: the agent's own executable becomes `<binDir>/tether` (and
 * `tether-ipam` a link to it). Both appear whole (temporary file + rename: a runtime never execs a
 * half-written file) and are written only when the bytes differ.
 */
import fs = require("node:fs");
import { join } from "node:path";
import { randomHex } from "../util/random";
import { IPAM_TYPE, PLUGIN_TYPE } from "../util/defaults";

export interface InstallResult {
  binary: "written" | "unchanged";
  link: "written" | "unchanged";
}

const CHUNK = 1 << 20;

/** Whether two files have the same bytes, read a chunk at a time (the executable is ~100 MB). */
export function sameBytes(a: string, b: string): boolean {
  let sa: fs.Stats;
  let sb: fs.Stats;
  try {
    sa = fs.statSync(a);
    sb = fs.lstatSync(b);
  } catch {
    return false;
  }
  if (!sb.isFile() || sa.size !== sb.size) return false;
  const fa = fs.openSync(a, "r");
  try {
    const fb = fs.openSync(b, "r");
    try {
      const ba = Buffer.allocUnsafe(CHUNK);
      const bb = Buffer.allocUnsafe(CHUNK);
      for (let pos = 0; pos < sa.size; ) {
        const na = fs.readSync(fa, ba, 0, CHUNK, pos);
        const nb = fs.readSync(fb, bb, 0, CHUNK, pos);
        if (na !== nb || na === 0 || ba.compare(bb, 0, nb, 0, na) !== 0) return false;
        pos += na;
      }
      return true;
    } finally {
      fs.closeSync(fb);
    }
  } finally {
    fs.closeSync(fa);
  }
}

function tmpBeside(dir: string, name: string): string {
  return join(dir, `.${name}.${randomHex(8)}.tmp`);
}

/** What tmpBeside names: an agent killed mid-copy leaves one (~100 MB) behind; one agent per node. */
const OWN_TMP = /^\.tether(-ipam)?\.[0-9a-f]{16}\.tmp$/;

export function installPlugin(source: string, binDir: string): InstallResult {
  fs.mkdirSync(binDir, { recursive: true, mode: 0o755 });
  for (const f of fs.readdirSync(binDir)) if (OWN_TMP.test(f)) fs.rmSync(join(binDir, f), { force: true });
  const dest = join(binDir, PLUGIN_TYPE);
  let binary: InstallResult["binary"] = "unchanged";
  if (!sameBytes(source, dest)) {
    const tmp = tmpBeside(binDir, PLUGIN_TYPE);
    try {
      fs.copyFileSync(source, tmp, fs.constants.COPYFILE_EXCL);
      fs.chmodSync(tmp, 0o755);
      const fd = fs.openSync(tmp, "r");
      try {
        fs.fsyncSync(fd);
      } finally {
        fs.closeSync(fd);
      }
      fs.renameSync(tmp, dest);
    } catch (err) {
      fs.rmSync(tmp, { force: true });
      throw err;
    }
    binary = "written";
  }
  const linkPath = join(binDir, IPAM_TYPE);
  let link: InstallResult["link"] = "unchanged";
  let current: string | undefined;
  try {
    current = fs.readlinkSync(linkPath);
  } catch {
    current = undefined;
  }
  if (current !== PLUGIN_TYPE) {
    const tmp = tmpBeside(binDir, IPAM_TYPE);
    fs.symlinkSync(PLUGIN_TYPE, tmp);
    try {
      fs.renameSync(tmp, linkPath);
    } catch (err) {
      fs.rmSync(tmp, { force: true });
      throw err;
    }
    link = "written";
  }
  return { binary, link };
}

/** Write `path` whole when its content differs; returns whether it was written. */
export function writeIfChanged(path: string, text: string, replace: (path: string, text: string) => void): boolean {
  let current: string | undefined;
  try {
    current = fs.readFileSync(path, "utf8");
  } catch {
    current = undefined;
  }
  if (current === text) return false;
  replace(path, text);
  return true;
}
