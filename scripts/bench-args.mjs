// Command-line flags of the bench scripts: `flags` maps each flag to its handler; a handler that
// takes a parameter consumes the next argument as the flag's value.
export function parseFlags(argv, flags) {
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    const handle = Object.hasOwn(flags, a) ? flags[a] : undefined;
    if (handle === undefined) throw new Error(`unknown argument ${a}`);
    if (handle.length === 0) {
      handle();
      continue;
    }
    const v = argv[++i];
    if (v === undefined) throw new Error(`${a} needs a value`);
    handle(v);
  }
}
