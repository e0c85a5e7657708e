/** tether doctor's judgement of the agent's state (pure). */
import assert from "node:assert/strict";
import { describe, test } from "node:test";
import { diagnoseAgent } from "../../src/agent/doctor";
import { conflistText } from "../../src/agent/conflist";
import { parsePrefix } from "../../src/agent/desired";
import type { AgentState } from "../../src/agent/state";

const state: AgentState = {
  node: "n1",
  podCidrs: ["10.244.1.0/24", "fd00:244:1::/64"],
  conflist: "/etc/cni/net.d/10-tether.conflist",
  routes: [{ dst: "10.244.2.0/24", gw: "192.168.1.2", node: "n2" }],
  clusterCidrs: { 4: ["10.244.1.0/24", "10.244.2.0/24"], 6: ["fd00:244:1::/64"] },
};
const good = conflistText({ podCidrs: state.podCidrs.map((c) => parsePrefix(c)!) });

describe("doctor: the agent's state", () => {
  test("nothing when the kernel and the conflist match the state", () => {
    assert.deepEqual(diagnoseAgent(state, [{ dst: "10.244.2.0/24", gw: "192.168.1.2" }], good), []);
  });
  test("a route of the agent's protocol matching no node; a conflist missing or with other CIDRs", () => {
    const f = diagnoseAgent(state, [{ dst: "10.244.2.0/24", gw: "192.168.1.2" }, { dst: "10.244.9.0/24", gw: "192.168.1.9" }, { dst: "10.244.2.0/24", gw: "192.168.1.7" }], undefined);
    assert.deepEqual(f.map((x) => [x.kind, x.subject]), [
      ["agent-stale-route", "10.244.9.0/24 via 192.168.1.9"],
      ["agent-stale-route", "10.244.2.0/24 via 192.168.1.7"],
      ["agent-conflist", "/etc/cni/net.d/10-tether.conflist"],
    ]);
    assert.match(f[2]?.detail ?? "", /missing/);
    const other = conflistText({ podCidrs: [parsePrefix("10.244.7.0/24")!] });
    const [c] = diagnoseAgent(state, [], other);
    assert.match(c?.detail ?? "", /hands out 10.244.7.0\/24, the node's pod CIDRs are 10.244.1.0\/24, fd00:244:1::\/64/);
  });
  test("a node waiting for its pod CIDR has no conflist to compare", () => {
    assert.deepEqual(diagnoseAgent({ ...state, podCidrs: [], routes: [] }, [], undefined), []);
  });
});
