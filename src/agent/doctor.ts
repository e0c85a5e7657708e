/**
 * `tether doctor`'s view of the agent (pure): from the agent's state file, the routes of the agent's
 * protocol in the kernel and the conflist on disk, what does not match. A route of the agent's
 * protocol that matches no node in the state is stale (a node deleted while no agent ran); a conflist
 * that hands out other CIDRs than the node's has been changed behind the agent's back.
 */
import { conflistCidrs } from "./conflist";
import { parsePrefix } from "./desired";
import type { AgentState } from "./state";

export type AgentFinding =
  | { kind: "agent-stale-route"; subject: string; detail: string; action: string; dst: string; gw: string | undefined }
  | { kind: "agent-conflist"; subject: string; detail: string; action: string; path: string };

export function diagnoseAgent(state: AgentState, routes: readonly { dst: string; gw?: string | undefined }[], conflist: string | undefined): AgentFinding[] {
  const out: AgentFinding[] = [];
  const known = new Set(state.routes.map((r) => `${r.dst} ${r.gw}`));
  for (const r of routes) {
    const dst = parsePrefix(r.dst)?.text ?? r.dst;
    if (known.has(`${dst} ${r.gw ?? ""}`)) continue;
    out.push({
      kind: "agent-stale-route",
      subject: `${dst} via ${r.gw ?? "-"}`,
      detail: "a route of the agent's protocol (152) that matches no node the agent knows",
      action: `delete route ${dst} proto 152`,
      dst,
      gw: r.gw,
    });
  }
  const want = [...state.podCidrs].sort().join(", ");
  const action = "the agent rewrites it at its next reconcile (restart it if it is not running)";
  if (want !== "") {
    if (conflist === undefined) out.push({ kind: "agent-conflist", subject: state.conflist, detail: `missing; the node's pod CIDRs are ${want}`, action, path: state.conflist });
    else {
      const have = conflistCidrs(conflist);
      const haveText = have === undefined ? undefined : [...have].map((c) => parsePrefix(c)?.text ?? c).sort().join(", ");
      if (haveText !== want) {
        out.push({ kind: "agent-conflist", subject: state.conflist, detail: `hands out ${haveText ?? "no tether range"}, the node's pod CIDRs are ${want}`, action, path: state.conflist });
      }
    }
  }
  return out;
}
