/** /proc/sys/net writes land in the namespace asked for, and only there. */
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { describe, test } from "node:test";
import { NetlinkError, NetnsError, readSysctl, writeSysctl } from "../../src/netlink";
import { createNetns, netnsUnavailable } from "../helpers/netns";

const skip = netnsUnavailable();
const rootValue = (key: string): string => readFileSync(`/proc/sys/${key}`, "utf8").trim();

describe("sysctl", { skip }, () => {
  test("writes inside the namespace, leaving the tests' own namespace alone", (t) => {
    const ns = createNetns(t);
    const rootBefore = rootValue("net/ipv4/ip_forward");
    const target = rootBefore === "1" ? "0" : "1";
    assert.equal(writeSysctl(ns.path, "net/ipv4/ip_forward", target), true);
    assert.equal(ns.exec(["sysctl", "-n", "net.ipv4.ip_forward"]).trim(), target);
    assert.equal(readSysctl(ns.path, "net/ipv4/ip_forward"), target);
    assert.equal(rootValue("net/ipv4/ip_forward"), rootBefore);
  });

  test("per-interface keys, including names with dots", (t) => {
    const ns = createNetns(t);
    ns.exec(["ip", "link", "add", "br.100", "type", "bridge"]);
    writeSysctl(ns.path, "net/ipv6/conf/br.100/accept_ra", 0);
    assert.equal(ns.exec(["cat", "/proc/sys/net/ipv6/conf/br.100/accept_ra"]).trim(), "0");
    writeSysctl(ns.path, "net/ipv4/conf/br.100/arp_notify", "1");
    assert.equal(readSysctl(ns.path, "net/ipv4/conf/br.100/arp_notify"), "1");
  });

  test("a missing key: ENOENT, or skipped when optional; reading gives undefined", (t) => {
    const ns = createNetns(t);
    assert.throws(() => writeSysctl(ns.path, "net/ipv6/conf/nope0/accept_ra", 0), (e: unknown) => e instanceof NetlinkError && e.code === "ENOENT");
    assert.equal(writeSysctl(ns.path, "net/ipv6/conf/nope0/accept_ra", 0, { optional: true }), false);
    assert.equal(readSysctl(ns.path, "net/ipv6/conf/nope0/accept_ra"), undefined);
  });

  test("keys that could leave /proc/sys are refused; a missing namespace stays an error", () => {
    for (const key of ["../../etc/passwd", "net/../../etc/passwd", "/net/ipv4/ip_forward", "net//ipv4", "net/ipv4/ip forward", "net/./ipv4/ip_forward", ""]) {
      assert.throws(() => writeSysctl(undefined, key, 1), (e: unknown) => e instanceof NetlinkError && e.code === "EINVAL", key);
    }
    assert.throws(
      () => writeSysctl("/var/run/netns/tether-test-does-not-exist", "net/ipv4/ip_forward", 1, { optional: true }),
      (e: unknown) => e instanceof NetnsError && e.reason === "not-found",
    );
  });
});
