/**
 * Test-only proof that both native addons load and work (in the SEA: from its assets). Meant for a
 * hidden human-CLI command such as `tether version --natives`; never on the CNI path.
 */
import { nativeOrigin, type NativeOrigin } from "./nativeCache.js";

export interface NativeReport {
  readonly version: string;
  /** What a real call through the addon returned, proving more than a successful dlopen. */
  readonly check: string;
  readonly origin: NativeOrigin | undefined;
}

export interface NativesSelfTest {
  readonly koffi: NativeReport;
  readonly netlink: NativeReport;
}

export function loadNativesForSelfTest(): NativesSelfTest {
  const koffi = require("koffi") as typeof import("koffi");
  const getpid = koffi.load("libc.so.6").func("int getpid()") as () => number;
  const pid = getpid();
  if (pid !== process.pid) throw new Error(`koffi getpid() returned ${pid}, expected ${process.pid}`);

  const netlink = require("netlink") as typeof import("netlink");
  const rt = netlink.createRtNetlink();
  rt.socket.close();
  const netlinkVersion = (require("netlink/package.json") as { version: string }).version;

  return {
    koffi: { version: koffi.version, check: `getpid()=${pid}`, origin: nativeOrigin("koffi") },
    netlink: { version: netlinkVersion, check: "rtnetlink socket opened and closed", origin: nativeOrigin("netlink") },
  };
}
