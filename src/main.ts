/** Entry: a CNI invocation when CNI_COMMAND is set, else the human CLI. */
import { basename } from "node:path";
import type { Io } from "./cni/dispatch";
import { readAllStdin, writeAll } from "./cni/stdio";
import { lazy } from "./util/lazy";
import { IPAM_TYPE } from "./util/defaults";

const versionCallModule = lazy(() => require("./cni/versionCall") as typeof import("./cni/versionCall"));
const dispatchModule = lazy(() => require("./cni/dispatch") as typeof import("./cni/dispatch"));
const logModule = lazy(() => require("./util/log") as typeof import("./util/log"));
const ipamPluginModule = lazy(() => require("./ipam/plugin/pluginMode") as typeof import("./ipam/plugin/pluginMode"));
const tetherModule = lazy(() => require("./plugins/tether") as typeof import("./plugins/tether"));
const cliModule = lazy(() => require("./cli/index") as typeof import("./cli/index"));
const libcModule = lazy(() => require("./sys/libc") as typeof import("./sys/libc"));

/**
 * Run as the IPAM plugin when exec'd under the name `tether-ipam` (the install's link: argv[0] keeps
 * the link's name, also for the single executable), or with TETHER_AS=tether-ipam (tests running
 * `node build/src/main.js`, which cannot be renamed).
 */
function invokedAsIpam(env: NodeJS.ProcessEnv): boolean {
  return basename(process.argv0) === IPAM_TYPE || env["TETHER_AS"] === IPAM_TYPE;
}

async function main(): Promise<number> {
  const env = process.env;
  if (env["CNI_COMMAND"] === "VERSION") {
    // The cheapest path of all (runtimes ask it often): nothing but the version module.
    versionCallModule().answerVersion();
    return 0;
  }
  if ((env["CNI_COMMAND"] ?? "") !== "") {
    const { dispatch } = dispatchModule();
    const io: Io = {
      env,
      readStdin: readAllStdin,
      writeStdout: (text) => writeAll(1, text),
      // process.hrtime, not performance.now(): the `performance` global loads perf_hooks (~2 ms).
      now: () => Number(process.hrtime.bigint()) / 1e6,
    };
    logModule().log.configure({}, env["TETHER_LOG_LEVEL"]);
    if (invokedAsIpam(env)) {
      const { ipamPlugin } = ipamPluginModule();
      return dispatch(io, ipamPlugin);
    }
    const { tetherPlugin } = tetherModule();
    return dispatch(io, tetherPlugin);
  }
  const { runCli } = cliModule();
  return runCli(process.argv.slice(2), { out: (t) => writeAll(1, t), err: (t) => writeAll(2, t) });
}

function start(): void {
  main().then(
    (code) => {
      process.exitCode = code;
      // A CNI call is done once its answer is written: the last 'exit' listener ends the process
      // with _exit(2) (src/sys/libc.ts: Node's teardown and koffi's fsyncs, about 3.5 ms; README), after the listeners
      // registered before it (the training build's cache writer).
      // (Not under NODE_V8_COVERAGE: Node writes the coverage in the teardown skipped here.)
      if ((process.env["CNI_COMMAND"] ?? "") !== "" && process.env["NODE_V8_COVERAGE"] === undefined) process.once("exit", (c) => libcModule().exitNowIfLoaded(typeof c === "number" ? c : code));
    },
    (err: unknown) => {
      // Last resort: dispatch never throws, so this is a bug in the CLI path.
      writeAll(2, `tether: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`);
      process.exitCode = 1;
    },
  );
}

start();
