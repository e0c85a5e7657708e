/**
 * Loads the native addon (koffi) of the single executable.
 *
 * In the SEA the `.node` bytes are assets of the executable. dlopen needs a file, so the first
 * call writes each one to a content-addressed cache directory (name = sha256 computed at build
 * time); later calls only check that file and its directory with two lstat calls (owned by the
 * effective user, not group/world-writable, expected size, one link) and dlopen it. The bytes are
 * hashed only when a file is written, never on a plain load.
 *
 * Outside a SEA (the esbuild bundle run by plain node, tests) the caller's fallback loads the
 * addon from node_modules as usual.
 *
 * Nothing here writes to stdout; a refused cache directory is reported on stderr.
 */
import fs = require("node:fs");
import os = require("node:os");
import path = require("node:path");
import sea = require("node:sea");
import { replaceFile } from "../util/replaceFile.js";
import { cacheFileName, seaManifest, type NativeName, type NativeSpec } from "./manifest.js";
import { lazy } from "../util/lazy";

const nodeCryptoModule = lazy(() => require("node:crypto") as typeof import("node:crypto"));

/** Where a native addon came from, for the self-test and for diagnostics. */
export interface NativeOrigin {
  readonly source: "sea" | "node_modules";
  /** The file dlopen'ed (SEA only). */
  readonly path?: string;
  /** True when this process wrote the cache file. */
  readonly written?: boolean;
  /** True when the file lived in a private temp dir that was removed after loading. */
  readonly ephemeral?: boolean;
}

export class NativeCacheError extends Error {
  override readonly name: string = "NativeCacheError";
}

/** The asset's bytes do not match the build's hash: no directory will do better. */
export class NativeAssetMismatchError extends NativeCacheError {
  override readonly name = "NativeAssetMismatchError";
}

const loaded = new Map<NativeName, unknown>();
const origins = new Map<NativeName, NativeOrigin>();

export function nativeOrigin(name: NativeName): NativeOrigin | undefined {
  return origins.get(name);
}

/** Directories to try, best first. TETHER_CACHE_DIR, when set, is the only persistent candidate. */
export function cacheDirCandidates(env: NodeJS.ProcessEnv = process.env, euid: number = geteuid()): string[] {
  const explicit = env["TETHER_CACHE_DIR"];
  if (explicit !== undefined && explicit !== "") return [path.resolve(explicit)];
  const perUserTmp = path.join(os.tmpdir(), `tether-${euid}`);
  // /var/cache rather than /run: /run is often mounted noexec (Ubuntu's initramfs does), and
  // dlopen needs an executable mapping. Content-addressed names keep one file per build.
  return euid === 0 ? ["/var/cache/tether", perUserTmp] : [perUserTmp];
}

function geteuid(): number {
  return typeof process.geteuid === "function" ? process.geteuid() : 0;
}

/** A directory the cache may use: a real directory owned by us that nobody else can write to. */
export function isTrustedDir(st: fs.Stats, euid: number): boolean {
  return st.isDirectory() && st.uid === euid && (st.mode & 0o022) === 0;
}

/** A cache file that may be loaded without re-hashing it. */
export function isTrustedFile(st: fs.Stats, euid: number, size: number): boolean {
  return st.isFile() && st.uid === euid && (st.mode & 0o022) === 0 && st.size === size && st.nlink === 1;
}

export interface Materialized {
  readonly path: string;
  readonly written: boolean;
}

/**
 * Returns the path of a trusted cache file for `spec` in `dir`, writing it when it is missing or
 * not trusted (wrong owner, group/world-writable, wrong size, extra links: it is replaced by an
 * atomic rename, never loaded). Throws NativeCacheError when `dir` itself is not trusted.
 */
export function materializeNative(
  dir: string,
  name: NativeName,
  spec: NativeSpec,
  getBytes: () => Uint8Array,
  euid: number = geteuid(),
): Materialized {
  let dirSt = fs.lstatSync(dir, { throwIfNoEntry: false });
  if (dirSt === undefined) {
    fs.mkdirSync(dir, { recursive: true, mode: 0o700 });
    dirSt = fs.lstatSync(dir);
  }
  if (!isTrustedDir(dirSt, euid)) {
    throw new NativeCacheError(
      `cache dir ${dir} refused: must be a directory owned by uid ${euid} and not group/world-writable ` +
        `(is uid ${dirSt.uid}, mode ${(dirSt.mode & 0o7777).toString(8)}${dirSt.isSymbolicLink() ? ", symlink" : ""})`,
    );
  }
  const file = path.join(dir, cacheFileName(name, spec));
  const st = fs.lstatSync(file, { throwIfNoEntry: false });
  if (st !== undefined && isTrustedFile(st, euid, spec.size)) return { path: file, written: false };
  writeVerified(file, spec, getBytes());
  return { path: file, written: true };
}

/** Checks the bytes against the build-time hash, writes a temp file beside `file`, renames it over. */
function writeVerified(file: string, spec: NativeSpec, bytes: Uint8Array): void {
  // Loaded only here: hashing is a first-use cost, never a per-call one.
  const crypto = nodeCryptoModule();
  const digest = crypto.createHash("sha256").update(bytes).digest("hex");
  if (bytes.byteLength !== spec.size || digest !== spec.sha256) {
    throw new NativeAssetMismatchError(
      `asset ${spec.asset} does not match the build (sha256 ${digest}, ${bytes.byteLength} bytes; ` +
        `expected ${spec.sha256}, ${spec.size} bytes): the executable is damaged`,
    );
  }
  replaceFile(file, bytes, { mode: 0o500, fsync: true });
}

function dlopen(file: string): unknown {
  const mod: { exports: unknown } = { exports: {} };
  process.dlopen(mod, file);
  return mod.exports;
}

function seaBytes(spec: NativeSpec): () => Uint8Array {
  return () => new Uint8Array(sea.getAsset(spec.asset));
}

/**
 * The exports of native addon `name`: from the SEA asset when running as a single executable,
 * else from `fallback` (node_modules). Cached per process.
 */
export function loadNative(name: NativeName, fallback: () => unknown): unknown {
  if (loaded.has(name)) return loaded.get(name);
  let exports: unknown;
  if (!sea.isSea()) {
    exports = fallback();
    origins.set(name, { source: "node_modules" });
  } else {
    exports = loadFromSea(name);
  }
  loaded.set(name, exports);
  return exports;
}

function loadFromSea(name: NativeName): unknown {
  const spec = seaManifest()?.[name];
  if (spec === undefined) throw new NativeCacheError(`no build manifest entry for native ${name}`);
  const getBytes = seaBytes(spec);
  const problems: string[] = [];
  for (const dir of cacheDirCandidates()) {
    try {
      const m = materializeNative(dir, name, spec, getBytes);
      const exports = dlopen(m.path);
      origins.set(name, { source: "sea", path: m.path, written: m.written });
      return exports;
    } catch (err) {
      if (err instanceof NativeAssetMismatchError) throw err;
      problems.push(`${dir}: ${err instanceof Error ? err.message : String(err)}`);
      // A refused directory (foreign owner, writable by others) is worth an operator's attention;
      // an unwritable one (read-only /var) is an expected case of the fallback order.
      if (err instanceof NativeCacheError) warn(`tether: ${err.message}`);
    }
  }
  // Last resort: a private directory of our own, removed once the library is mapped.
  let tmpDir: string | undefined;
  try {
    tmpDir = fs.mkdtempSync(path.join(os.tmpdir(), "tether-native-"));
    const m = materializeNative(tmpDir, name, spec, getBytes);
    const exports = dlopen(m.path);
    origins.set(name, { source: "sea", path: m.path, written: true, ephemeral: true });
    warn(`tether: native cache unusable, loaded ${name} from a private temp dir: ${problems.join("; ")}`);
    return exports;
  } catch (err) {
    problems.push(`${tmpDir ?? os.tmpdir()}: ${err instanceof Error ? err.message : String(err)}`);
    throw new NativeCacheError(`cannot load native ${name}: ${problems.join("; ")}`);
  } finally {
    if (tmpDir !== undefined) fs.rmSync(tmpDir, { recursive: true, force: true });
  }
}

function warn(msg: string): void {
  try {
    fs.writeSync(2, msg + "\n");
  } catch {
    // stderr closed: nothing to do
  }
}
