/**
 * wsdctl as a library: `run(argv, options)` executes one command line and resolves with its exit
 * code (the bin calls it with process.argv), e.g. to embed the CLI or test it in process.
 */
export type { CommandContext, CommandSpec, FlagSpec } from "./command.js";
export { allCommands } from "./commands/index.js";
export { EXIT, exitCodeOf, exitCodeTable, STATUS_EXIT_BASE } from "./exit-codes.js";
export { main } from "./main.js";
export { type RunOptions, run } from "./run.js";
