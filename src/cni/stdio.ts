/** The process's stdin and stdout, as a CNI plugin uses them (synchronously, and completely). */
import { fstatSync, readSync, writeSync } from "node:fs";
import { sleepSync } from "../util/sleep";
import { CniError, ErrorCode } from "./errors";

/** Read fd 0 to EOF, tolerating a non-blocking pipe. */
export function readAllStdin(): Buffer | undefined {
  let st;
  try {
    st = fstatSync(0);
  } catch {
    return undefined;
  }
  if (st.isCharacterDevice() && !isDevNull(st)) return undefined; // a terminal: nothing to read
  const chunks: Buffer[] = [];
  const buf = Buffer.allocUnsafe(65536);
  for (;;) {
    let n: number;
    try {
      n = readSync(0, buf, 0, buf.length, null);
    } catch (e) {
      const code = (e as NodeJS.ErrnoException).code;
      if (code === "EAGAIN") {
        sleepSync(2);
        continue;
      }
      if (code === "EOF") break;
      throw new CniError(ErrorCode.IoFailure, `reading stdin: ${code ?? String(e)}`);
    }
    if (n === 0) break;
    chunks.push(Buffer.from(buf.subarray(0, n)));
  }
  return Buffer.concat(chunks);
}

function isDevNull(st: { rdev: number }): boolean {
  // /dev/null is char device 1:3
  return st.rdev === 259;
}

/** Write all of `text` to `fd` (stdout on a pipe may be non-blocking: retry on EAGAIN). */
export function writeAll(fd: number, text: string): void {
  const buf = Buffer.from(text, "utf8");
  let off = 0;
  while (off < buf.length) {
    try {
      off += writeSync(fd, buf, off);
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code === "EAGAIN") {
        sleepSync(1);
        continue;
      }
      throw e;
    }
  }
}
