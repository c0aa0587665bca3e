import {
  NodeProcessRunner,
  type ProcessRunner,
  type RunOptions,
  type RunResult,
} from "../../src/platform/process.js";

export interface RecordedProcess {
  command: string;
  args: readonly string[];
  /** The environment the child got (empty when the caller passed none: the runner's minimal one). */
  env: Record<string, string>;
  cwd: string | undefined;
  stdin: string | undefined;
}

/** An answer instead of running the command, or undefined to let it run (or reach `otherwise`). */
export type ProcessScript = (
  command: string,
  args: readonly string[],
  options: RunOptions,
) => RunResult | Promise<RunResult> | undefined;

/**
 * The one fake process runner of the tests: records every invocation, answers the ones `script`
 * answers (fault injection, scripted tools), and runs the rest for real, or answers them with
 * `otherwise` where nothing may run for real.
 */
export class ScriptedProcessRunner implements ProcessRunner {
  readonly calls: RecordedProcess[] = [];
  private readonly real = new NodeProcessRunner();

  constructor(
    public script: ProcessScript | undefined = undefined,
    private readonly otherwise?: (command: string, args: readonly string[]) => RunResult,
  ) {}

  /** Each call as one command line, e.g. "xfs_quota -x -c ...". */
  get commandLines(): string[] {
    return this.calls.map((c) => [c.command, ...c.args].join(" "));
  }

  async run(
    command: string,
    args: readonly string[],
    options: RunOptions = {},
  ): Promise<RunResult> {
    this.calls.push({
      command,
      args: [...args],
      env: { ...(options.env ?? {}) },
      cwd: options.cwd,
      stdin: options.stdin === undefined ? undefined : String(options.stdin),
    });
    const scripted = await this.script?.(command, args, options);
    if (scripted) return scripted;
    if (this.otherwise) return this.otherwise(command, args);
    return this.real.run(command, args, options);
  }
}

export const succeeded = (stdout = ""): RunResult => ({
  exitCode: 0,
  signal: null,
  stdout,
  stderr: "",
});

export const failed = (stderr: string, exitCode = 1): RunResult => ({
  exitCode,
  signal: null,
  stdout: "",
  stderr,
});
