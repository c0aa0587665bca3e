import { spawn } from "node:child_process";
import { DomainError, errorMessage } from "./errors.js";

export interface RunOptions {
  cwd?: string;
  /** Full environment for the child. Defaults to a minimal PATH/HOME/LANG environment, never the daemon's own. */
  env?: Record<string, string>;
  /** Written to the child's stdin, which is then closed. */
  stdin?: string | Buffer;
  signal?: AbortSignal;
  /** Maximum bytes kept of stdout and of stderr each; the rest is dropped. */
  maxOutputBytes?: number;
  /**
   * What the process may see when the runner confines (ConfiningProcessRunner); runners that
   * do not confine ignore it.
   */
  confinement?: Confinement;
}

/** The host paths a confined process sees, each at its own path. */
export interface Confinement {
  /** Directories it may read and write (opened without following links, then bound). */
  writable: readonly string[];
  /** Further paths it may read (e.g. the source of a file:// remote, a CA bundle). */
  readable?: readonly string[];
}

export interface RunResult {
  exitCode: number;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
}

/** Every child process the daemon starts goes through this, so tests can observe or fault-inject. */
export interface ProcessRunner {
  run(command: string, args: readonly string[], options?: RunOptions): Promise<RunResult>;
}

export const minimalEnv = (): Record<string, string> => ({
  PATH: process.env.PATH ?? "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
  HOME: process.env.HOME ?? "/root",
  LANG: "C.UTF-8",
});

export class NodeProcessRunner implements ProcessRunner {
  run(command: string, args: readonly string[], options: RunOptions = {}): Promise<RunResult> {
    return spawnCollecting(command, args, options);
  }
}

/**
 * Starts a child and collects its output (at most `maxOutputBytes` of each stream). `extraFds`
 * are handed to the child as descriptors 3, 4, ... (the confining runner passes directories
 * opened without following links).
 */
export const spawnCollecting = (
  command: string,
  args: readonly string[],
  options: RunOptions,
  extraFds: readonly number[] = [],
): Promise<RunResult> => {
  const limit = options.maxOutputBytes ?? 16 * 1024 * 1024;
  return new Promise((resolve, reject) => {
    const child = spawn(command, args, {
      cwd: options.cwd,
      env: options.env ?? minimalEnv(),
      signal: options.signal,
      stdio: ["pipe", "pipe", "pipe", ...extraFds],
    });
    const out: Buffer[] = [];
    const err: Buffer[] = [];
    let outLen = 0;
    let errLen = 0;
    child.stdout?.on("data", (b: Buffer) => {
      if (outLen < limit) out.push(b);
      outLen += b.length;
    });
    child.stderr?.on("data", (b: Buffer) => {
      if (errLen < limit) err.push(b);
      errLen += b.length;
    });
    child.on("error", reject);
    child.on("close", (code, signal) => {
      resolve({
        exitCode: code ?? -1,
        signal,
        stdout: Buffer.concat(out).toString("utf8"),
        stderr: Buffer.concat(err).toString("utf8"),
      });
    });
    child.stdin?.on("error", () => {
      // the child may exit before reading its input; its exit code tells what happened
    });
    child.stdin?.end(options.stdin ?? "");
  });
};

export interface CheckedRunOptions extends RunOptions {
  /** Exit codes that count as success; default [0]. */
  okCodes?: readonly number[];
  /** The error to throw on failure; default a DomainError of kind "internal". */
  toError?: (message: string, cause?: unknown) => Error;
}

/** "cmd a b failed (exit code 2): <the end of stderr or stdout>", bounded so errors stay readable. */
export const describeFailure = (
  command: string,
  args: readonly string[],
  result: RunResult,
): string => {
  const output = (result.stderr.trim() || result.stdout.trim()).slice(-2000);
  const how = result.signal ? `signal ${result.signal}` : `exit code ${result.exitCode}`;
  return `${command} ${args.join(" ")} failed (${how})${output ? `: ${output}` : ""}`;
};

/** Runs a command and throws unless it exits with one of `okCodes`; a spawn failure throws too. */
export const runChecked = async (
  runner: ProcessRunner,
  command: string,
  args: readonly string[],
  options: CheckedRunOptions = {},
): Promise<RunResult> => {
  const { okCodes = [0], toError = defaultError, ...runOptions } = options;
  let result: RunResult;
  try {
    result = await runner.run(command, args, runOptions);
  } catch (err) {
    if (runOptions.signal?.aborted) throw err;
    throw toError(`cannot run ${command}: ${errorMessage(err)}`, err);
  }
  if (result.signal || !okCodes.includes(result.exitCode)) {
    throw toError(describeFailure(command, args, result));
  }
  return result;
};

const defaultError = (message: string, cause?: unknown): Error =>
  new DomainError("internal", message, { cause });
