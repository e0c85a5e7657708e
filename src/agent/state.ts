/**
 * The agent's state file (`<stateDir>/agent-state.json`): what the last reconcile made, for
 * `tether doctor` (routes of the agent's protocol that match no node, a conflist that differs from
 * the node's pod CIDRs) and for people. Written whole, only when it changes.
 */
import fs = require("node:fs");
import { join } from "node:path";
import { replaceFile } from "../util/replaceFile";

export const STATE_FILE = "agent-state.json";
export const DEFAULT_STATE_DIR = "/run/tether";

export interface AgentState {
  node: string;
  /** This node's pod CIDRs as written into the conflist. */
  podCidrs: string[];
  conflist: string;
  routes: { dst: string; gw: string; node: string }[];
  clusterCidrs: { 4: string[]; 6: string[] };
}

export function statePath(stateDir: string): string {
  return join(stateDir, STATE_FILE);
}

export function writeState(stateDir: string, state: AgentState, previous: string | undefined): string {
  const text = JSON.stringify(state, null, 2) + "\n";
  if (text !== previous) {
    fs.mkdirSync(stateDir, { recursive: true, mode: 0o755 });
    replaceFile(statePath(stateDir), text, { mode: 0o644 });
  }
  return text;
}

/** The state file, undefined when absent; throws when it does not parse. */
export function readState(path: string): AgentState | undefined {
  let text: string;
  try {
    text = fs.readFileSync(path, "utf8");
  } catch {
    return undefined;
  }
  const s = JSON.parse(text) as Partial<AgentState>;
  if (typeof s.node !== "string" || !Array.isArray(s.routes) || !Array.isArray(s.podCidrs) || typeof s.conflist !== "string") {
    throw new Error(`${path} is not an agent state file`);
  }
  return s as AgentState;
}
