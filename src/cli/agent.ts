/** `tether agent`: the long-running Kubernetes node agent (src/agent). */
import { Command } from "commander";
import { buildInfo } from "../buildInfo";
import { AGENT_DEFAULTS, AgentUsageError, type RawAgentFlags, agentOptions } from "../agent/options";
import type { CliIo, CliStatus } from "./index";

export function agentCommand(io: CliIo, status: CliStatus): Command {
  return new Command("agent")
    .description("run the Kubernetes node agent: install tether, write this node's conflist, route other nodes' pod CIDRs, masquerade")
    .option("--kubeconfig <file>", "kubeconfig to use (default: in-cluster service account)")
    .option("--node-name <name>", "this node's name (default: $NODE_NAME)")
    .option("--cni-bin-dir <dir>", "where tether and tether-ipam are installed", AGENT_DEFAULTS.cniBinDir)
    .option("--cni-conf-dir <dir>", "where 10-tether.conflist is written", AGENT_DEFAULTS.cniConfDir)
    .option("--metrics-bind-address <host:port>", "/healthz, /readyz and /metrics", AGENT_DEFAULTS.metricsBindAddress)
    .option("--resync <duration>", "reconcile at least this often (e.g. 30s, 5m)", AGENT_DEFAULTS.resync)
    .option("--state-dir <dir>", "where the agent keeps its state file (read by tether doctor)", AGENT_DEFAULTS.stateDir)
    .option("--no-install", "do not install the executable into --cni-bin-dir")
    .option("--no-network-policy", "do not enforce NetworkPolicy (and remove tether's policy table)")
    .option("--ipam-data-dir <dir>", "IPAM data directory written into the conflist (default: tether-ipam's)")
    .option("--mtu <mtu>", "MTU of pod interfaces written into the conflist")
    .action(async (raw: RawAgentFlags) => {
      // eslint-disable-next-line @typescript-eslint/no-require-imports
      const { log } = require("../util/log") as typeof import("../util/log");
      log.configure({ level: "info" }, process.env["TETHER_LOG_LEVEL"]);
      let opts;
      try {
        // Only the single executable installs itself: under `node main.js` process.execPath is node.
        opts = agentOptions(raw, process.env, buildInfo().singleExecutable ? process.execPath : undefined);
      } catch (e) {
        if (!(e instanceof AgentUsageError)) throw e;
        io.err(`tether agent: ${e.message}\n`);
        status.code = 2;
        return;
      }
      // eslint-disable-next-line @typescript-eslint/no-require-imports
      const { runAgent } = require("../agent/index") as typeof import("../agent/index");
      status.code = await runAgent(opts, process.env);
    });
}
