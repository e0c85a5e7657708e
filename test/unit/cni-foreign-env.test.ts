/**
 * Foreign bytes from the CNI_* environment in error messages (issue 18, item 10 applied to the
 * environment, and item 3 to CNI_NETNS): quoted, control bytes escaped, cut to a readable length;
 * a CNI_NETNS that was not UTF-8 is refused as such, not opened under another name.
 */
import assert from "node:assert/strict";
import { describe, test } from "node:test";
import { parseCniArgs } from "../../src/cni/args";
import { validateNetns } from "../../src/cni/dispatch";
import { readEnv } from "../../src/cni/env";
import { CniError, ErrorCode } from "../../src/cni/errors";
import { refusal } from "../helpers/refusal";

const HUGE = "q".repeat(100_000) + "\x1b[31m";
const BASE = { CNI_CONTAINERID: "abc", CNI_NETNS: "/run/netns/x", CNI_IFNAME: "eth0" };


function assertTame(e: CniError, names: RegExp): void {
  assert.equal(e.code, ErrorCode.InvalidEnvironment);
  assert.match(e.message, names);
  assert.ok(e.message.length + (e.details ?? "").length < 400, `message of ${e.message.length} characters`);
  assert.doesNotMatch(e.message + (e.details ?? ""), /[\x00-\x1f\x7f\ufffd]/);
}

describe("foreign bytes of the environment in messages", () => {
  test("CNI_COMMAND", () => assertTame(refusal(() => readEnv({ ...BASE, CNI_COMMAND: HUGE })), /CNI_COMMAND/));
  test("CNI_COMMAND not UTF-8", () => assertTame(refusal(() => readEnv({ ...BASE, CNI_COMMAND: "AD\ufffd" })), /CNI_COMMAND/));
  test("a relative CNI_NETNS", () => assertTame(refusal(() => readEnv({ ...BASE, CNI_COMMAND: "ADD", CNI_NETNS: HUGE })), /CNI_NETNS/));
  test("a CNI_NETNS that cannot be opened", () => assertTame(refusal(() => validateNetns("/" + HUGE, false)), /CNI_NETNS/));
  test("a CNI_NETNS that was not UTF-8 is refused as such", () => {
    const e = refusal(() => readEnv({ ...BASE, CNI_COMMAND: "ADD", CNI_NETNS: "/run/netns/a\ufffdb" }));
    assertTame(e, /CNI_NETNS.*UTF-8/);
  });
  test("CNI_ARGS IP=", () => assertTame(refusal(() => parseCniArgs(`IP=${HUGE}`)), /CNI_ARGS/));
  test("CNI_ARGS IP= with two bad addresses", () => assertTame(refusal(() => parseCniArgs(`IP=10.0.0.1\ufffd,${HUGE}`)), /CNI_ARGS/));
  test("CNI_ARGS no pair", () => assertTame(refusal(() => parseCniArgs(HUGE)), /CNI_ARGS/));
  test("CNI_ARGS unknown key", () => assertTame(refusal(() => parseCniArgs(`${HUGE}=1`)), /CNI_ARGS/));
  test("CNI_ARGS MAC=", () => assertTame(refusal(() => parseCniArgs(`MAC=${HUGE}`)), /CNI_ARGS/));
  test("CNI_ARGS IgnoreUnknown=", () => assertTame(refusal(() => parseCniArgs(`IgnoreUnknown=${HUGE}`)), /CNI_ARGS/));
});
