/** Entry: a CNI invocation when CNI_COMMAND is set, else the human CLI. */
import { basename } from "node:path";
import type { Io } from "./cni/dispatch";
import { readAllStdin, writeAll } from "./cni/stdio";

/**
 * Run as the IPAM plugin when exec'd under the name `tether-ipam` (the install's link: argv[0] keeps
 * the link's name, also for the single executable), or with TETHER_AS=tether-ipam (tests running
 * `node build/src/main.js`, which cannot be renamed).
 */
function invokedAsIpam(env: NodeJS.ProcessEnv): boolean {
  return basename(process.argv0) === "tether-ipam" || env["TETHER_AS"] === "tether-ipam";
}

async function main(): Promise<number> {
  const env = process.env;
  if (env["CNI_COMMAND"] === "VERSION") {
    // The cheapest path of all (runtimes ask it often): nothing but the version module.
    // eslint-disable-next-line @typescript-eslint/no-require-imports
    const { versionReply } = require("./cni/version") as typeof import("./cni/version");
    let stdin: Buffer | undefined;
    try {
      stdin = readAllStdin();
    } catch {
      stdin = undefined;
    }
    writeAll(1, versionReply(stdin));
    return 0;
  }
  if ((env["CNI_COMMAND"] ?? "") !== "") {
    // eslint-disable-next-line @typescript-eslint/no-require-imports
    const { dispatch } = require("./cni/dispatch") as typeof import("./cni/dispatch");
    const io: Io = {
      env,
      readStdin: readAllStdin,
      writeStdout: (text) => writeAll(1, text),
      // process.hrtime, not performance.now(): the `performance` global loads perf_hooks (~2 ms).
      now: () => Number(process.hrtime.bigint()) / 1e6,
    };
    // eslint-disable-next-line @typescript-eslint/no-require-imports
    (require("./util/log") as typeof import("./util/log")).log.configure({}, env["TETHER_LOG_LEVEL"]);
    if (invokedAsIpam(env)) {
      // eslint-disable-next-line @typescript-eslint/no-require-imports
      const { ipamPlugin } = require("./plugins/ipamPlugin") as typeof import("./plugins/ipamPlugin");
      return dispatch(io, ipamPlugin);
    }
    // eslint-disable-next-line @typescript-eslint/no-require-imports
    const { tetherPlugin } = require("./plugins/tether") as typeof import("./plugins/tether");
    return dispatch(io, tetherPlugin);
  }
  // eslint-disable-next-line @typescript-eslint/no-require-imports
  const { runCli } = require("./cli/index") as typeof import("./cli/index");
  return runCli(process.argv.slice(2), { out: (t) => writeAll(1, t), err: (t) => writeAll(2, t) });
}

function start(): void {
  main().then(
    (code) => {
      process.exitCode = code;
    },
    (err: unknown) => {
      // Last resort: dispatch never throws, so this is a bug in the CLI path.
      writeAll(2, `tether: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`);
      process.exitCode = 1;
    },
  );
}

start();
