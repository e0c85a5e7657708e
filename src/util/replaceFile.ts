/**
 * Put a whole file in place: written to an unpredictably named temporary file beside it (created
 * with O_EXCL|O_NOFOLLOW, so nothing planted there is followed or overwritten), then renamed over
 * `path`. Readers see the old file or the new one, never a part. The temporary file is removed on
 * failure; its name starts with a dot and ends in ".tmp".
 */
import fs = require("node:fs");
import { basename, dirname, join } from "node:path";
import { randomHex } from "./random";

const { O_CREAT, O_EXCL, O_NOFOLLOW, O_WRONLY } = fs.constants;

export function replaceFile(path: string, data: string | Uint8Array, opts: { mode: number; fsync?: boolean }): void {
  const tmp = join(dirname(path), `.${basename(path)}.${randomHex(8)}.tmp`);
  const fd = fs.openSync(tmp, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW, opts.mode);
  try {
    try {
      fs.writeFileSync(fd, data);
      fs.fchmodSync(fd, opts.mode); // what the umask took away
      if (opts.fsync === true) fs.fsyncSync(fd);
    } finally {
      fs.closeSync(fd);
    }
    fs.renameSync(tmp, path);
  } catch (err) {
    fs.rmSync(tmp, { force: true });
    throw err;
  }
}
