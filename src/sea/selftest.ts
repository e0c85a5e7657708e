/**
 * Test-only proof that the native addon loads and works (in the SEA: from its assets), and that the
 * rtnetlink socket runs through it. Meant for a hidden human-CLI command such as
 * `tether version --natives`; never on the CNI path.
 */
import { nativeOrigin, type NativeOrigin } from "./nativeCache.js";
import { lazy } from "../util/lazy";

const koffiModule = lazy(() => require("koffi") as typeof import("koffi"));
const rtnlModule = lazy(() => require("../netlink/rtnl") as typeof import("../netlink/rtnl"));

export interface NativeReport {
  readonly version: string;
  /** What a real call through the addon returned, proving more than a successful dlopen. */
  readonly check: string;
  readonly origin: NativeOrigin | undefined;
}

export interface NativesSelfTest {
  readonly koffi: NativeReport;
  /** The rtnetlink socket (socket, bind, close through koffi). */
  readonly rtnetlink: { readonly check: string };
}

export function loadNativesForSelfTest(): NativesSelfTest {
  const koffi = koffiModule();
  const getpid = koffi.load("libc.so.6").func("int getpid()") as () => number;
  const pid = getpid();
  if (pid !== process.pid) throw new Error(`koffi getpid() returned ${pid}, expected ${process.pid}`);

  rtnlModule().Rtnl.open().close();

  return {
    koffi: { version: koffi.version, check: `getpid()=${pid}`, origin: nativeOrigin("koffi") },
    rtnetlink: { check: "rtnetlink socket opened and closed" },
  };
}
