import { parseArgs } from "node:util";
import { type MessageShape, toJsonString } from "@bufbuild/protobuf";
import { createDaemonTransport, createInWorkspaceClients, statusOf } from "@ws-daemon/api";
import { type Command, commands, type FlagValues, UsageError } from "./iws-commands.js";

/**
 * A client for the in-workspace API, meant to run INSIDE a workspace container, where the
 * daemon's per-workspace socket is mounted (e.g. /.workspace/daemon.sock). Exit codes:
 * 0 = the call succeeded (response JSON on stdout), 1 = the daemon answered with an error
 * (`<CODE_NAME>: <message>` on stderr), 2 = the command line was wrong.
 */

const DEFAULT_SOCKET = "/.workspace/daemon.sock";

const usage = `usage: iws-cli [--socket PATH] [--timeout-ms N] <command> [flags]
commands:
${Object.entries(commands)
  .map(([name, c]) => {
    const flags = Object.entries(c.flags).map(([f, v]) => (v ? `--${f} V` : `[--${f}]`));
    return `  ${name} ${flags.join(" ")}`.trimEnd();
  })
  .join("\n")}
flags:
  --socket PATH      the workspace's in-workspace API socket (default ${DEFAULT_SOCKET})
  --timeout-ms N     deadline of the call in milliseconds
  --pid N            a process as seen inside the workspace container (its pid namespace)
  --map C:H:S[,...]  ID mapping entries as /proc/<pid>/uid_map writes them: container id,
                     host id, size; e.g. --map 0:33333:1,1:100000:65534 (add --gid for gid_map)
  --target PATH      a path inside the process's mount namespace
  --source SRC       the NFS export, e.g. server:/export
  --args OPTS        NFS mount options, e.g. vers=4.2,ro
  --via SERVICE      which service answers workspace-info: workspace-info (default) or in-workspace
  --wipe             wiping-teardown also removes the workspace's content
responses are printed as protobuf JSON; exit codes: 0 ok, 1 the daemon answered an error
(CODE_NAME: message on stderr), 2 a wrong command line`;

interface Invocation {
  socket: string;
  timeoutMs: number | undefined;
  name: string;
  command: Command;
  flags: FlagValues;
}

const GLOBAL_FLAGS: Record<string, boolean> = { socket: true, "timeout-ms": true, help: false };

type ParseArgsOptions = NonNullable<Parameters<typeof parseArgs>[0]>["options"];

const optionsOf = (flags: Record<string, boolean>): ParseArgsOptions =>
  Object.fromEntries(
    Object.entries(flags).map(([name, takesValue]) => [
      name,
      { type: takesValue ? "string" : "boolean", ...(name === "help" ? { short: "h" } : {}) },
    ]),
  ) as ParseArgsOptions;

/** Every flag any command knows: enough to find the command name wherever the flags stand. */
const ALL_FLAGS: Record<string, boolean> = Object.assign(
  {},
  ...Object.values(commands).map((c) => c.flags),
  GLOBAL_FLAGS,
);

/**
 * `--pid -5` means the value -5 (the daemon judges it), where parseArgs would take `-5` for a
 * flag: a value-taking flag and the argument after it are joined as `--pid=-5` first.
 */
function joinValues(argv: readonly string[]): string[] {
  const out: string[] = [];
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i] as string;
    const next = argv[i + 1];
    const name = arg.startsWith("--") && !arg.includes("=") ? arg.slice(2) : undefined;
    if (name !== undefined && ALL_FLAGS[name] === true && next !== undefined) {
      out.push(`${arg}=${next}`);
      i++;
    } else {
      out.push(arg);
    }
  }
  return out;
}

/**
 * `--name value`, `--name=value` and bare boolean `--name` (node:util parseArgs); global flags may
 * precede or follow the command. Parsed twice: loosely to find the command, then strictly
 * against exactly the global flags and that command's.
 */
function parse(argv: readonly string[]): Invocation {
  const args = joinValues(argv);
  const loose = parseArgs({
    args,
    options: optionsOf(ALL_FLAGS),
    strict: false,
    allowPositionals: true,
  });
  if (loose.values.help === true) throw new UsageError("");
  const [name, ...extra] = loose.positionals;
  if (name === undefined) throw new UsageError("no command given");
  const command = commands[name];
  if (!command) throw new UsageError(`unknown command "${name}"`);
  if (extra.length > 0) throw new UsageError(`unexpected argument "${extra[0]}"`);
  let values: FlagValues;
  try {
    values = parseArgs({
      args,
      options: optionsOf({ ...GLOBAL_FLAGS, ...command.flags }),
      strict: true,
      allowPositionals: true,
    }).values as FlagValues;
  } catch (e) {
    throw new UsageError(e instanceof Error ? e.message : String(e));
  }
  const timeout = values["timeout-ms"];
  if (timeout !== undefined && !/^\d+$/.test(String(timeout))) {
    throw new UsageError("--timeout-ms must be a whole number");
  }
  return {
    socket: typeof values.socket === "string" ? values.socket : DEFAULT_SOCKET,
    timeoutMs: timeout === undefined ? undefined : Number(timeout),
    name,
    command,
    flags: values,
  };
}

async function main(argv: readonly string[]): Promise<number> {
  let invocation: Invocation;
  try {
    invocation = parse(argv);
  } catch (e) {
    if (!(e instanceof UsageError)) throw e;
    // Asked-for help goes to stdout and succeeds; a wrong command line is a usage error.
    if (!e.message) {
      process.stdout.write(`${usage}\n`);
      return 0;
    }
    process.stderr.write(`iws-cli: ${e.message}\n${usage}\n`);
    return 2;
  }
  const { socket, timeoutMs, command, flags } = invocation;
  const clients = createInWorkspaceClients(
    createDaemonTransport({
      address: `unix://${socket}`,
      ...(timeoutMs === undefined ? {} : { defaultTimeoutMs: timeoutMs }),
    }),
  );
  try {
    const response = (await command.call(clients, flags)) as MessageShape<typeof command.output>;
    process.stdout.write(
      `${toJsonString(command.output, response, { alwaysEmitImplicit: true })}\n`,
    );
    return 0;
  } catch (e) {
    if (e instanceof UsageError) {
      process.stderr.write(`iws-cli: ${e.message}\n`);
      return 2;
    }
    const status = statusOf(e);
    process.stderr.write(`${status.codeName}: ${status.message}\n`);
    return 1;
  }
}

main(process.argv.slice(2)).then(
  (code) => {
    process.exitCode = code;
  },
  (e: unknown) => {
    process.stderr.write(`iws-cli: ${e instanceof Error ? e.stack : String(e)}\n`);
    process.exitCode = 1;
  },
);
