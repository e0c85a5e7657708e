/**
 * The check every directory tether keeps state in must pass before it is used (the IPAM store, its
 * owner index, the attachment records): a real directory (lstat: a symlink in its place is
 * refused), owned by the effective user, and without the `forbidden` write bits for others.
 */
import fs = require("node:fs");

/** Why `dir` must not be used, as a sentence naming it `what`; undefined when it may. */
export function ownedDirProblem(dir: string, what: string, forbidden: number = 0o002): { message: string; cause?: unknown } | undefined {
  let st: fs.Stats;
  try {
    st = fs.lstatSync(dir);
  } catch (err) {
    const code = err instanceof Error && "code" in err && typeof err.code === "string" ? err.code : String(err);
    return { message: `cannot use ${what} ${dir}: ${code}`, cause: err };
  }
  if (!st.isDirectory()) return { message: `${what} ${dir} is not a directory (symlinks are refused)` };
  if ((st.mode & forbidden) !== 0) {
    return { message: `${what} ${dir} is ${(forbidden & 0o020) !== 0 ? "group- or world-writable" : "world-writable"}; refusing to use it` };
  }
  const euid = process.geteuid?.();
  if (euid !== undefined && st.uid !== euid) return { message: `${what} ${dir} is owned by uid ${st.uid}, not ${euid}` };
  return undefined;
}
