/** The human CLI, used when CNI_COMMAND is not set. Output here is for people (and --json scripts). */
import { Command, CommanderError } from "commander";
import { buildInfo } from "../buildInfo";
import { SUPPORTED_VERSIONS } from "../cni/version";

export interface CliIo {
  out(text: string): void;
  err(text: string): void;
}

function versionCommand(io: CliIo): Command {
  return new Command("version")
    .description("print tether's version, the CNI versions it speaks, and build facts")
    .option("--json", "print JSON")
    .action((opts: { json?: boolean }) => {
      const info = { ...buildInfo(), cniVersions: [...SUPPORTED_VERSIONS] };
      if (opts.json) {
        io.out(JSON.stringify(info, null, 2) + "\n");
        return;
      }
      io.out(
        [
          `tether ${info.version} (commit ${info.commit}, built ${info.date})`,
          `CNI spec versions: ${info.cniVersions.join(", ")}`,
          `Node.js ${info.node} (end of life ${info.nodeEndOfLife})${info.singleExecutable ? ", single executable" : ""}`,
        ].join("\n") + "\n",
      );
    });
}

/** The exit code a subcommand's action chose (0 unless it sets one). */
export interface CliStatus {
  code: number;
}

export function buildProgram(io: CliIo, status: CliStatus = { code: 0 }): Command {
  const program = new Command("tether")
    .description(
      "tether: a CNI plugin (bridge and ptp modes, host-local compatible IPAM).\n" +
        "Run by a container runtime with CNI_COMMAND set; without it, this is the operator CLI.",
    )
    .exitOverride()
    .configureOutput({ writeOut: io.out, writeErr: io.err })
    .showHelpAfterError();
  // A Command made with `new Command` and added with addCommand does not inherit exitOverride and
  // configureOutput: without copying them, `tether version --bogus` or `tether version --help` calls
  // process.exit and writes to the real stdout/stderr instead of returning an exit code.
  // Nested commands (`ipam list`) need the same settings, copied down the tree.
  const inherit = (cmd: Command, parent: Command): Command => {
    cmd.copyInheritedSettings(parent);
    for (const sub of cmd.commands) inherit(sub, cmd);
    return cmd;
  };
  const addSubcommand = (cmd: Command): void => {
    program.addCommand(inherit(cmd, program));
  };
  addSubcommand(versionCommand(io));
  // eslint-disable-next-line @typescript-eslint/no-require-imports
  const ipamCli = require("./ipam") as typeof import("./ipam");
  addSubcommand(ipamCli.ipamCommand(io, status));
  // eslint-disable-next-line @typescript-eslint/no-require-imports
  const networkCli = require("./network") as typeof import("./network");
  addSubcommand(networkCli.statusCommand(io, status));
  addSubcommand(networkCli.execCommand(io, status));
  addSubcommand(networkCli.gcCommand(io, status));
  // eslint-disable-next-line @typescript-eslint/no-require-imports
  addSubcommand((require("./doctor") as typeof import("./doctor")).doctorCommand(io, status));
  // eslint-disable-next-line @typescript-eslint/no-require-imports
  addSubcommand((require("./agent") as typeof import("./agent")).agentCommand(io, status));
  program.command("help [command]", { hidden: true }).action((name?: string) => {
    const sub = name ? program.commands.find((c) => c.name() === name) : undefined;
    io.out((sub ?? program).helpInformation());
  });
  return program;
}

/** Run the CLI; returns the exit code (0 ok, 1 failure, 2 usage). */
export async function runCli(argv: string[], io: CliIo): Promise<number> {
  const status: CliStatus = { code: 0 };
  const program = buildProgram(io, status);
  if (argv.length === 0) {
    io.err(program.helpInformation());
    return 2;
  }
  try {
    await program.parseAsync(argv, { from: "user" });
    return status.code;
  } catch (e) {
    if (e instanceof CommanderError) {
      if (e.code === "commander.helpDisplayed" || e.code === "commander.version") return 0;
      return 2;
    }
    io.err(`tether: ${(e as Error).message ?? String(e)}\n`);
    return 1;
  }
}
