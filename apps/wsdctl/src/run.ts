import type { Writable } from "node:stream";
import { parseArgs } from "node:util";
import type { Transport } from "@connectrpc/connect";
import { createDaemonClients, createInWorkspaceClients, statusOf } from "@ws-daemon/api";
import {
  type CommandContext,
  type CommandSpec,
  type FlagSpec,
  type Flags,
  str,
  UsageError,
} from "./command.js";
import { allCommands, IWS_DEFAULT_SOCKET } from "./commands/index.js";
import { transportFromFlags } from "./connection.js";
import { EXIT, exitCodeOf } from "./exit-codes.js";
import { GLOBAL_FLAGS } from "./global-flags.js";
import { commandHelp, groupHelp, mainHelp } from "./help.js";
import { reportedErrors } from "./watch-session.js";

export interface RunOptions {
  stdout?: Writable;
  stderr?: Writable;
  stdoutIsTTY?: boolean;
  stderrIsTTY?: boolean;
  env?: NodeJS.ProcessEnv;
  /** Aborting it stops the command like Ctrl-C (exit code 130). */
  signal?: AbortSignal;
  /** Use this transport for the node API instead of the flags' address (tests, embedding). */
  transport?: Transport;
  /** The same for `iws` commands. */
  inWorkspaceTransport?: Transport;
}

type ParseOptions = NonNullable<Parameters<typeof parseArgs>[0]>["options"];

const optionsOf = (flags: Readonly<Record<string, FlagSpec>>): ParseOptions =>
  Object.fromEntries(
    Object.entries(flags).map(([name, f]) => [
      name,
      {
        type: f.type,
        ...(f.short ? { short: f.short } : {}),
        ...(f.multiple ? { multiple: true } : {}),
      },
    ]),
  ) as ParseOptions;

const GROUPS = new Set(["init", "iws", "completion"]);

interface Invocation {
  command: CommandSpec;
  positionals: string[];
  flags: Flags;
}

/**
 * `--pid -5` as `--pid=-5`: util.parseArgs refuses a value that starts with a dash, but a flag
 * that takes a value takes the next word whatever it is (the daemon judges a negative pid).
 */
function attachValues(
  argv: readonly string[],
  flags: Readonly<Record<string, FlagSpec>>,
): string[] {
  const valued = new Set<string>();
  for (const [name, f] of Object.entries(flags)) {
    if (f.type !== "string") continue;
    valued.add(`--${name}`);
    if (f.short) valued.add(`-${f.short}`);
  }
  const out: string[] = [];
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i] ?? "";
    const next = argv[i + 1];
    if (arg === "--") {
      out.push(...argv.slice(i));
      break;
    }
    if (valued.has(arg) && next?.startsWith("-")) {
      out.push(arg.startsWith("--") ? `${arg}=${next}` : `${arg}${next}`);
      i++;
    } else out.push(arg);
  }
  return out;
}

/** Finds the command (one or two words) loosely, then parses strictly against its flags. */
function parse(rawArgv: readonly string[], commands: readonly CommandSpec[]): Invocation | string {
  const everyFlag = Object.assign({}, GLOBAL_FLAGS, ...commands.map((c) => c.flags));
  const argv = attachValues(rawArgv, everyFlag);
  const loose = parseArgs({
    args: [...argv],
    options: optionsOf(everyFlag),
    strict: false,
    allowPositionals: true,
  });
  const words = loose.positionals;
  const help = loose.values.help === true;
  let [first, second] = words;
  if (first === "help") {
    [first, second] = words.slice(1);
    if (first === undefined) return mainHelp(commands);
  }
  if (first === undefined) {
    if (help) return mainHelp(commands);
    throw new UsageError("no command given (wsdctl --help lists them)");
  }
  const grouped = GROUPS.has(first);
  if (grouped && (second === undefined || !commands.some((c) => c.name === `${first} ${second}`))) {
    if (second === undefined && (help || words[0] === "help")) return groupHelp(first, commands);
    if (second === undefined)
      throw new UsageError(
        `wsdctl ${first} needs a ${first === "init" ? "kind" : "command"} (wsdctl ${first} --help)`,
      );
    throw new UsageError(`unknown command "${first} ${second}" (wsdctl ${first} --help)`);
  }
  const name = grouped ? `${first} ${second}` : first;
  const command = commands.find((c) => c.name === name);
  if (!command) throw new UsageError(`unknown command "${first}" (wsdctl --help lists them)`);
  if (help || words[0] === "help") return commandHelp(command);
  let parsed: ReturnType<typeof parseArgs>;
  try {
    parsed = parseArgs({
      args: [...argv],
      options: optionsOf({ ...GLOBAL_FLAGS, ...command.flags }),
      strict: true,
      allowPositionals: true,
    });
  } catch (e) {
    throw new UsageError((e as Error).message);
  }
  const positionals = [...parsed.positionals];
  positionals.splice(positionals.indexOf(first), 1);
  if (grouped && second !== undefined) positionals.splice(positionals.indexOf(second), 1);
  return { command, positionals, flags: parsed.values as Flags };
}

/**
 * Runs one wsdctl command line and resolves with its exit code; never throws. Results go to
 * stdout, progress and errors to stderr.
 */
export async function run(argv: readonly string[], options: RunOptions = {}): Promise<number> {
  const stdout = options.stdout ?? process.stdout;
  const stderr = options.stderr ?? process.stderr;
  const env = options.env ?? process.env;
  const commands = allCommands(env);
  let invocation: Invocation;
  try {
    const parsed = parse(argv, commands);
    if (typeof parsed === "string") {
      stdout.write(`${parsed}\n`);
      return EXIT.ok;
    }
    invocation = parsed;
  } catch (e) {
    if (!(e instanceof UsageError)) throw e;
    stderr.write(`wsdctl: ${e.message}\n`);
    return EXIT.usage;
  }
  const { command, positionals, flags } = invocation;
  const output = str(flags, "output") ?? "text";
  const controller = new AbortController();
  const signal = options.signal
    ? AbortSignal.any([options.signal, controller.signal])
    : controller.signal;
  try {
    if (output !== "text" && output !== "json")
      throw new UsageError(`--output is text or json, got "${output}"`);
    const isIws = command.name.startsWith("iws ");
    let daemon: Transport | undefined = options.transport;
    let inWorkspace: Transport | undefined = options.inWorkspaceTransport;
    // connection problems in the flags are usage errors, found before anything runs
    if (!isIws && !daemon) daemon = transportFromFlags(flags, env);
    if (isIws && !inWorkspace)
      inWorkspace = transportFromFlags(flags, env, `unix://${IWS_DEFAULT_SOCKET}`);
    const ctx: CommandContext = {
      stdout,
      stderr,
      stdoutIsTTY: options.stdoutIsTTY ?? (stdout as { isTTY?: boolean }).isTTY === true,
      stderrIsTTY: options.stderrIsTTY ?? (stderr as { isTTY?: boolean }).isTTY === true,
      output,
      progress: flags["no-progress"] !== true,
      signal,
      content: () => createDaemonClients(need(daemon)).content,
      health: () => createDaemonClients(need(daemon)).health,
      inWorkspace: () => createInWorkspaceClients(need(inWorkspace)),
    };
    return await command.run(ctx, { positionals, flags });
  } catch (e) {
    if (e instanceof UsageError) {
      stderr.write(`wsdctl: ${e.message}\n`);
      return EXIT.usage;
    }
    if (signal.aborted) return EXIT.interrupted;
    const status = statusOf(e);
    if (status.local) {
      stderr.write(`wsdctl: ${status.message}\n`);
      return EXIT.failure;
    }
    if (!reportedErrors.has(e as object)) stderr.write(`${status.codeName}: ${status.message}\n`);
    return exitCodeOf(status.code);
  }
}

const need = (t: Transport | undefined): Transport => {
  if (!t) throw new Error("no transport for this command");
  return t;
};
