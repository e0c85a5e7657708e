/** Block the thread for `ms` milliseconds (a CNI call is one short synchronous process). */
let cell: Int32Array | undefined;

export function sleepSync(ms: number): void {
  // Made on first use: a SharedArrayBuffer cannot exist while the startup snapshot is built.
  cell ??= new Int32Array(new SharedArrayBuffer(4));
  Atomics.wait(cell, 0, 0, ms);
}
