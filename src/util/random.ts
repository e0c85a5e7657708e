/**
 * Random hex for temporary file and interface names, read from /dev/urandom: node:crypto's
 * randomBytes would cost every CNI call about 7 ms of module loading.
 */
import fs = require("node:fs");

export function randomHex(bytes: number): string {
  const buf = Buffer.alloc(bytes);
  const fd = fs.openSync("/dev/urandom", "r");
  try {
    let off = 0;
    while (off < bytes) {
      const n = fs.readSync(fd, buf, off, bytes - off, null);
      if (n <= 0) throw new Error("/dev/urandom: short read");
      off += n;
    }
  } finally {
    fs.closeSync(fd);
  }
  return buf.toString("hex");
}
