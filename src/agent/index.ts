/** `tether agent` until SIGTERM/SIGINT: routes, rules and files stay when it exits. */
import { log } from "../util/log";
import { Agent } from "./agent";
import { nodeInformer } from "./kube";
import type { AgentOptions } from "./options";

export async function runAgent(opts: AgentOptions, env: NodeJS.ProcessEnv): Promise<number> {
  log.bind({ component: "agent", node: opts.nodeName });
  let agent: Agent;
  try {
    agent = new Agent(opts, nodeInformer(opts, env));
    await agent.start();
  } catch (e) {
    log.error("agent failed to start", { err: (e as Error).message });
    return 1;
  }
  log.info("agent started", { metrics: opts.metricsBindAddress, binDir: opts.cniBinDir, confDir: opts.cniConfDir });
  const signal = await new Promise<NodeJS.Signals>((resolve) => {
    process.once("SIGTERM", () => resolve("SIGTERM"));
    process.once("SIGINT", () => resolve("SIGINT"));
  });
  log.info(`${signal}: stopping; routes and rules stay in place`);
  await agent.stop();
  return 0;
}
