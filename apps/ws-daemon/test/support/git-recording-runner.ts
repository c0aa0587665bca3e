import {
  NodeProcessRunner,
  type ProcessRunner,
  type RunOptions,
  type RunResult,
} from "../../src/adapters/process-runner.js";

export interface RecordedProcess {
  command: string;
  args: readonly string[];
  env: Record<string, string>;
  cwd: string | undefined;
}

/** Runs processes for real and records each invocation (argv and environment). */
export class RecordingProcessRunner implements ProcessRunner {
  readonly calls: RecordedProcess[] = [];
  private readonly inner = new NodeProcessRunner();

  run(command: string, args: readonly string[], options: RunOptions = {}): Promise<RunResult> {
    this.calls.push({
      command,
      args: [...args],
      env: { ...(options.env ?? {}) },
      cwd: options.cwd,
    });
    return this.inner.run(command, args, options);
  }
}
