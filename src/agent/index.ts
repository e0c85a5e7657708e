/** `tether agent` until SIGTERM/SIGINT: routes, rules and files stay when it exits. */
import { log } from "../util/log";
import { Agent } from "./agent";
import { nodeInformer, policyInformers } from "./kube";
import { PolicyController } from "./policy";
import { PolicyApplier } from "../policy/apply";
import type { AgentOptions } from "./options";
import { lazy } from "../util/lazy";
import path = require("node:path");
import { dropExecutableReadAround, executableIs, releaseExecutablePages, singleMallocArena } from "./memory";
import { PLUGIN_TYPE } from "../util/defaults";

const nodeV8Module = lazy(() => require("node:v8") as typeof import("node:v8"));

function releaseMemory(after: string, plugin: string): void {
  if (executableIs(plugin)) {
    log.info("start-up pages kept: the agent runs from the installed plugin", { after, plugin });
    return;
  }
  try {
    const r = releaseExecutablePages();
    log.info("start-up pages released", { after, rssMiB: r.rssKiB.map((k) => Math.round(k / 102.4) / 10) });
  } catch (e) {
    // Nothing depends on it (a kernel before 5.4 lacks MADV_PAGEOUT): the RSS stays larger.
    log.warn("start-up pages not released", { after, err: (e as Error).message });
  }
}

export async function runAgent(opts: AgentOptions, env: NodeJS.ProcessEnv): Promise<number> {
  try {
    singleMallocArena();
  } catch (e) {
    log.warn("malloc arenas not limited", { err: (e as Error).message });
  }
  // V8 for a small long-running process: the young generation stays at its initial 2 x 1 MiB instead
  // of doubling up to 2 x 16 MiB (each reconcile of a large cluster allocates megabytes that die
  // young, and V8 keeps a grown young generation for good), and the old generation grows by smaller
  // steps (--optimize-for-size). Measured at 1,000 nodes and 30 node events (scripts/bench-agent.mjs):
  // peak RSS ~106 -> ~75 MiB, CPU per event about the same. Set at run time: the single executable
  // takes no V8 flags on its command line, NODE_OPTIONS refuses the first, and V8 reads both when it
  // sizes the heap, not only at start.
  nodeV8Module().setFlagsFromString("--semi-space-growth-factor=1 --optimize-for-size");
  log.bind({ component: "agent", node: opts.nodeName });
  let agent: Agent;
  try {
    let policy: PolicyController | undefined;
    if (opts.networkPolicy === false) {
      // Disabled: no stale rules of an earlier run may keep enforcing.
      await new PolicyApplier().remove();
      log.info("network policy disabled: tether's policy table removed");
    } else policy = new PolicyController(opts.nodeName, policyInformers(opts, env), { resyncMs: opts.resyncMs });
    agent = new Agent(opts, nodeInformer(opts, env), policy);
    await agent.start();
    // Node's start-up is behind us: its pages of the executable go (README, Agent > Memory); so do
    // those of the first list and reconcile once they are done.
    const plugin = path.join(opts.cniBinDir, PLUGIN_TYPE);
    releaseMemory("start", plugin);
    void agent.firstApplied.then(() => setImmediate(() => releaseMemory("first reconcile", plugin)));
    let dropFailed = false;
    agent.afterReadBack = () => {
      if (executableIs(plugin)) return;
      try {
        dropExecutableReadAround();
      } catch (e) {
        if (!dropFailed) log.warn("page cache not trimmed", { err: (e as Error).message });
        dropFailed = true;
      }
    };
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
