/**
 * Child-process helper for the IPAM tests (run with node):
 *   alloc <cfg.json> <containerId> [ifname]   allocate, print the result JSON (or {"error":{code,msg}})
 *   release <cfg.json> <containerId> [ifname] release, print {"released": n}
 *   hold-lock <lockPath>                        flock(LOCK_EX) the file, print "locked", hold until stdin ends
 */
import * as fs from "node:fs";
import { CniError } from "../../src/cni/errors";
import type { IpamConfig } from "../../src/config/ipam";
import { allocate, release } from "../../src/ipam/index";
import { LOCK_EX, flock } from "../../src/sys/libc";
import { reviveConfig } from "./ipamConfigJson";
import { toCniError } from "../../src/cni/mapError";

function out(value: unknown): void {
  fs.writeSync(1, `${JSON.stringify(value)}\n`);
}

function loadCfg(path: string): IpamConfig {
  return reviveConfig(fs.readFileSync(path, "utf8"));
}

/** Tests under heavy parallel load raise the lock wait through the environment. */
function lockOpts(): { lockTimeoutMs?: number } {
  const ms = Number(process.env["IPAM_TEST_LOCK_TIMEOUT_MS"]);
  return Number.isFinite(ms) && ms > 0 ? { lockTimeoutMs: ms } : {};
}

function main(argv: string[]): void {
  const [cmd, a, b, c] = argv;
  try {
    if (cmd === "alloc" && a && b) out(allocate(loadCfg(a), { containerId: b, ifname: c ?? "eth0", ...lockOpts() }));
    else if (cmd === "release" && a && b) out({ released: release(loadCfg(a), { containerId: b, ifname: c ?? "eth0", ...lockOpts() }) });
    else if (cmd === "hold-lock" && a) {
      const fd = fs.openSync(a, fs.constants.O_RDONLY | fs.constants.O_CREAT, 0o600);
      flock(fd, LOCK_EX);
      out("locked");
      process.stdin.resume();
      process.stdin.on("end", () => process.exit(0));
      return;
    } else throw new Error(`usage: ${argv.join(" ")}`);
  } catch (err) {
    const e = toCniError(err);
    if (e instanceof CniError) out({ error: { code: e.code, msg: e.message } });
    else throw err;
  }
}

main(process.argv.slice(2));
