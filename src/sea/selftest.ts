/**
 * Test-only proof that both native addons load and work (in the SEA: from its assets). Meant for a
 * hidden human-CLI command such as `tether version --natives`; never on the CNI path.
 */
import { nativeOrigin, type NativeOrigin } from "./nativeCache.js";
import { lazy } from "../util/lazy";

const koffiModule = lazy(() => require("koffi") as typeof import("koffi"));
const netlinkModule = lazy(() => require("netlink") as typeof import("netlink"));
const netlinkPackageJson = lazy(() => require("netlink/package.json") as { version: string });

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
  const koffi = koffiModule();
  const getpid = koffi.load("libc.so.6").func("int getpid()") as () => number;
  const pid = getpid();
  if (pid !== process.pid) throw new Error(`koffi getpid() returned ${pid}, expected ${process.pid}`);

  const netlink = netlinkModule();
  const rt = netlink.createRtNetlink();
  rt.socket.close();
  const netlinkVersion = netlinkPackageJson().version;

  return {
    koffi: { version: koffi.version, check: `getpid()=${pid}`, origin: nativeOrigin("koffi") },
    netlink: { version: netlinkVersion, check: "rtnetlink socket opened and closed", origin: nativeOrigin("netlink") },
  };
}
