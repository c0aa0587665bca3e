import { spawn } from "node:child_process";

export interface CommandResult {
  stdout: string;
  stderr: string;
}

export class CommandFailedError extends Error {
  constructor(
    readonly command: string,
    readonly exitCode: number | null,
    readonly stderr: string,
  ) {
    super(`${command} exited ${exitCode}: ${stderr.trim().split("\n").slice(-15).join("\n")}`);
    this.name = "CommandFailedError";
  }
}

export interface RunOptions {
  /**
   * Mirror the command's stderr live (for long builds whose progress a developer wants to
   * see): every line, or only the lines the predicate accepts.
   */
  echoStderr?: boolean | ((line: string) => boolean);
  cwd?: string;
  env?: NodeJS.ProcessEnv;
}

function lineEcho(setting: RunOptions["echoStderr"]): ((chunk: Buffer) => void) | undefined {
  if (!setting) return undefined;
  if (setting === true) return (chunk) => process.stderr.write(chunk);
  let partial = "";
  return (chunk) => {
    const lines = (partial + chunk.toString("utf8")).split("\n");
    partial = lines.pop() ?? "";
    for (const line of lines) if (setting(line)) process.stderr.write(`${line}\n`);
  };
}

/** Runs a program without a shell and resolves with its output, rejecting on a non-zero exit. */
export function runCommand(
  file: string,
  args: readonly string[],
  options: RunOptions = {},
): Promise<CommandResult> {
  return new Promise((resolve, reject) => {
    const child = spawn(file, args, {
      cwd: options.cwd,
      env: options.env ?? process.env,
      stdio: ["ignore", "pipe", "pipe"],
    });
    const stdout: Buffer[] = [];
    const stderr: Buffer[] = [];
    child.stdout.on("data", (chunk: Buffer) => stdout.push(chunk));
    const echo = lineEcho(options.echoStderr);
    child.stderr.on("data", (chunk: Buffer) => {
      stderr.push(chunk);
      echo?.(chunk);
    });
    child.on("error", reject);
    child.on("close", (code) => {
      const result = {
        stdout: Buffer.concat(stdout).toString("utf8"),
        stderr: Buffer.concat(stderr).toString("utf8"),
      };
      if (code === 0) resolve(result);
      else reject(new CommandFailedError([file, ...args].join(" "), code, result.stderr));
    });
  });
}

/** The Docker CLI; the suite uses it for housekeeping that testcontainers has no API for. */
export async function docker(args: readonly string[]): Promise<string> {
  return (await runCommand("docker", args)).stdout;
}
