/**
 * A small record per attachment, written at ADD and removed at DEL and GC, so `tether doctor` can
 * tell which attachments outlived their container (the network namespace path is gone):
 *   <dataDir>/.tether-attachments/<network>/<attachment tag>.json   (0700 / 0600)
 * It sits beside the host-local store, never in it: host-local only reads <dataDir>/<network>, and
 * no network name starts with a dot. An ADD writes it first as an intent,
 *   <dataDir>/.tether-attachments/<network>/<attachment tag>.adding.json
 * before its first resource exists, and renames it to the record when it succeeds: an intent whose
 * ADD no longer runs (it holds no attachment lock) is an ADD that was killed or whose rollback failed.
 */
import fs = require("node:fs");
import { isAbsolute, join } from "node:path";
import { DEFAULT_DATA_DIR, IPAM_TYPE } from "../util/defaults";
import { attachmentTag, type AttachmentKey } from "../firewall/key";
import { stringFields } from "../util/jsonObject";
import { ownedDirProblem } from "../util/ownedDir";
import { replaceFile } from "../util/replaceFile";


export const RECORDS_DIR = ".tether-attachments";

export interface AttachmentRecord extends AttachmentKey {
  /** CNI_NETNS at ADD. */
  netns: string;
  /** The host end of the veth. */
  hostIfname: string;
}

/**
 * Where a network's records live: beside the built-in IPAM's store (ipam.dataDir, else the
 * host-local default). Undefined for L2-only networks and delegated IPAMs: tether has no store of
 * its own there, and what doctor uses records for (reservations that outlived their netns) is the
 * built-in store's.
 */
export function recordsDataDir(ipam: unknown): string | undefined {
  if (typeof ipam !== "object" || ipam === null) return undefined;
  const o = ipam as Record<string, unknown>;
  if (o["type"] !== IPAM_TYPE) return undefined;
  const dir = o["dataDir"];
  return typeof dir === "string" && isAbsolute(dir) ? dir : DEFAULT_DATA_DIR;
}

export function recordsDir(dataDir: string, network: string): string {
  return join(dataDir, RECORDS_DIR, network);
}

export function recordPath(dataDir: string, key: AttachmentKey): string {
  return join(recordsDir(dataDir, key.network), `${attachmentTag(key)}.json`);
}

export const INTENT_SUFFIX = ".adding.json";

/** The intent an ADD writes before its first resource (renamed to recordPath when it succeeds). */
export function intentPath(dataDir: string, key: AttachmentKey): string {
  return join(recordsDir(dataDir, key.network), `${attachmentTag(key)}${INTENT_SUFFIX}`);
}

/** A record's content; undefined when it is not one (doctor reports it). */
export function parseRecord(text: string): AttachmentRecord | undefined {
  return stringFields(text, ["network", "containerId", "ifname", "netns", "hostIfname"]);
}

const WHAT = "attachment records directory";

/** dir must be a real directory of ours, not group/world-writable (as the IPAM index's); false when absent. */
function usableDir(dir: string): boolean {
  const problem = ownedDirProblem(dir, WHAT, 0o022);
  if (problem === undefined) return true;
  if ((problem.cause as NodeJS.ErrnoException | undefined)?.code === "ENOENT") return false;
  throw new Error(problem.message, { cause: problem.cause });
}

/** Make (0700) or reuse one level of the records directory, refusing one that is not ours. */
function ensureDir(dir: string): void {
  try {
    fs.mkdirSync(dir, { mode: 0o700 });
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== "EEXIST") throw err;
  }
  if (!usableDir(dir)) throw new Error(`${WHAT} ${dir} vanished`);
}

/** Each directory level is checked before use; the record is put in place whole (replaceFile). */
export function writeRecord(dataDir: string, record: AttachmentRecord): void {
  fs.mkdirSync(dataDir, { recursive: true, mode: 0o755 });
  ensureDir(join(dataDir, RECORDS_DIR));
  ensureDir(recordsDir(dataDir, record.network));
  replaceFile(recordPath(dataDir, record), JSON.stringify(record) + "\n", { mode: 0o600 });
}

/** An ADD's intent (the record it will rename into place when it succeeds). */
export function writeIntent(dataDir: string, record: AttachmentRecord): void {
  fs.mkdirSync(dataDir, { recursive: true, mode: 0o755 });
  ensureDir(join(dataDir, RECORDS_DIR));
  ensureDir(recordsDir(dataDir, record.network));
  replaceFile(intentPath(dataDir, record), JSON.stringify(record) + "\n", { mode: 0o600 });
}

/**
 * The ADD succeeded: its intent becomes the record (a rename: it needs no space on a full disk).
 * False when there was no intent (it could not be written, or the record predates the ADD).
 */
export function completeIntent(dataDir: string, key: AttachmentKey): boolean {
  try {
    fs.renameSync(intentPath(dataDir, key), recordPath(dataDir, key));
    return true;
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === "ENOENT") return false;
    throw e;
  }
}

/** Record and intent both; only inside directories that pass the same checks: a planted symlink is not followed to rm. */
export function removeRecord(dataDir: string, key: AttachmentKey): void {
  if (!usableDir(join(dataDir, RECORDS_DIR)) || !usableDir(recordsDir(dataDir, key.network))) return;
  fs.rmSync(recordPath(dataDir, key), { force: true });
  fs.rmSync(intentPath(dataDir, key), { force: true });
}

/** The record of one attachment, else its intent; undefined when absent, unreadable or not a record. */
export function readRecord(dataDir: string, key: AttachmentKey): AttachmentRecord | undefined {
  return readRecordState(dataDir, key)?.record;
}

/** The attachment's record (intent false) or, when it has none, its ADD's intent (intent true). */
export function readRecordState(dataDir: string, key: AttachmentKey): { record: AttachmentRecord; intent: boolean } | undefined {
  const record = readOne(dataDir, key, recordPath(dataDir, key));
  if (record !== undefined) return { record, intent: false };
  const intent = readOne(dataDir, key, intentPath(dataDir, key));
  return intent === undefined ? undefined : { record: intent, intent: true };
}

function readOne(dataDir: string, key: AttachmentKey, path: string): AttachmentRecord | undefined {
  try {
    if (!usableDir(join(dataDir, RECORDS_DIR)) || !usableDir(recordsDir(dataDir, key.network))) return undefined;
    const fd = fs.openSync(path, fs.constants.O_RDONLY | fs.constants.O_NOFOLLOW | fs.constants.O_NONBLOCK);
    try {
      const st = fs.fstatSync(fd);
      if (!st.isFile() || st.size > MAX_RECORD_BYTES) return undefined;
      const record = parseRecord(fs.readFileSync(fd, "utf8"));
      return record !== undefined && record.network === key.network && record.containerId === key.containerId && record.ifname === key.ifname ? record : undefined;
    } finally {
      fs.closeSync(fd);
    }
  } catch {
    return undefined;
  }
}

/**
 * When an ADD began and ended, by file times alone: it writes its intent when it begins (mtime),
 * and the rename that makes the intent its record when it ends changes the file's ctime.
 */
export interface RecordTimes {
  beganMs: number;
  endedMs: number;
}

function timesOf(st: fs.Stats): RecordTimes {
  return { beganMs: st.mtimeMs, endedMs: st.ctimeMs };
}

/** The times of the attachment's record and intent, those that exist; only inside directories that pass the usual checks. */
export function recordTimes(dataDir: string, key: AttachmentKey): RecordTimes[] {
  if (!usableDir(join(dataDir, RECORDS_DIR)) || !usableDir(recordsDir(dataDir, key.network))) return [];
  const out: RecordTimes[] = [];
  for (const path of [recordPath(dataDir, key), intentPath(dataDir, key)]) {
    try {
      const st = fs.lstatSync(path);
      if (st.isFile()) out.push(timesOf(st));
    } catch {
      // absent
    }
  }
  return out;
}

/** The attachment tag a record or intent file is named by; undefined for any other name. */
export function recordFileTag(name: string): string | undefined {
  return /^([0-9a-f]{24})(?:\.adding)?\.json$/.exec(name)?.[1];
}

/** The tags of a network's records and intents whose times `pick` accepts. Names and times only, nothing read. */
export function recordTagsWhere(dataDir: string, network: string, pick: (t: RecordTimes) => boolean): string[] {
  const dir = recordsDir(dataDir, network);
  if (!isRealDir(join(dataDir, RECORDS_DIR)) || !isRealDir(dir)) return [];
  const out: string[] = [];
  for (const name of safeReaddir(dir)) {
    const tag = recordFileTag(name);
    if (tag === undefined) continue;
    try {
      if (pick(timesOf(fs.lstatSync(join(dir, name))))) out.push(tag);
    } catch {
      // gone meanwhile
    }
  }
  return out;
}

/** Names of the networks that keep records under dataDir (their directory exists, empty or not). */
export function recordNetworks(dataDir: string): string[] {
  const base = join(dataDir, RECORDS_DIR);
  return isRealDir(base) ? safeReaddir(base).filter((n) => isRealDir(join(base, n))) : [];
}

/** A record holds a container id (up to 128 KiB) and a few short fields. */
const MAX_RECORD_BYTES = 256 * 1024;

export interface RecordFile {
  path: string;
  /** undefined: the file does not parse. */
  record: AttachmentRecord | undefined;
  /** An ADD's intent (INTENT_SUFFIX), not yet a record. */
  intent: boolean;
}

/** Every record file of a network (or of all networks under dataDir). */
export function listRecordFiles(dataDir: string, network?: string): RecordFile[] {
  const base = join(dataDir, RECORDS_DIR);
  if (!isRealDir(base)) return [];
  const networks = network !== undefined ? [network] : safeReaddir(base);
  const out: RecordFile[] = [];
  for (const net of networks) {
    const dir = join(base, net);
    // GC removes what this lists: never through a symlink in place of a directory.
    if (!isRealDir(dir)) continue;
    for (const name of safeReaddir(dir)) {
      if (name.endsWith(".tmp")) continue;
      const path = join(dir, name);
      let text: string | undefined;
      try {
        const st = fs.lstatSync(path);
        text = st.isFile() && st.size <= MAX_RECORD_BYTES ? fs.readFileSync(path, "utf8") : undefined;
      } catch {
        text = undefined;
      }
      out.push({ path, record: text === undefined ? undefined : parseRecord(text), intent: name.endsWith(INTENT_SUFFIX) });
    }
  }
  return out;
}

function isRealDir(dir: string): boolean {
  try {
    return fs.lstatSync(dir).isDirectory();
  } catch {
    return false;
  }
}

function safeReaddir(dir: string): string[] {
  try {
    return fs.readdirSync(dir).sort();
  } catch {
    return [];
  }
}
