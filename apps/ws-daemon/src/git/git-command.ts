import { errorMessage, type Log, type ProcessRunner, type RunResult } from "../platform/index.js";
import { classifyGitFailure, GitError, redact, summarizeStderr } from "./git-error.js";

/** Proxy and TLS trust settings are the only parts of the daemon's environment git may see. */
const PASSED_THROUGH_ENV = [
  "http_proxy",
  "https_proxy",
  "no_proxy",
  "HTTP_PROXY",
  "HTTPS_PROXY",
  "NO_PROXY",
  "GIT_SSL_CAINFO",
  "GIT_SSL_CAPATH",
  "SSL_CERT_FILE",
  "SSL_CERT_DIR",
];

/**
 * Applied to every git command. Checkouts (and restored snapshots) are user content, so their
 * .git/config must not be able to run hooks or an fsmonitor as the daemon's user; background
 * gc/maintenance would outlive the command; ext:: would run arbitrary commands.
 */
const HARDENING_CONFIG = [
  "core.hooksPath=/dev/null",
  "core.fsmonitor=false",
  "protocol.ext.allow=never",
  "gc.auto=0",
  "maintenance.auto=false",
  "advice.detachedHead=false",
];

export interface GitCommandOptions {
  cwd?: string;
  /** `-c` arguments placed before the subcommand (e.g. credential wiring). */
  configArgs?: readonly string[];
  /** Environment added for this one process only. */
  env?: Record<string, string>;
  signal?: AbortSignal;
  maxOutputBytes?: number;
}

export interface GitCommandContext {
  runner: ProcessRunner;
  /** Private, empty HOME for git: no user or global configuration leaks in. */
  home: string;
  /** Receives already-redacted text only. */
  logger: Log;
  /** Values masked in every error and log line. */
  secrets: readonly string[];
  gitBinary: string;
}

/** Runs git with a controlled environment; failures become classified, redacted GitErrors. */
export class GitCommand {
  constructor(private readonly ctx: GitCommandContext) {}

  redact(text: string): string {
    return redact(text, this.ctx.secrets);
  }

  /**
   * Runs git and returns the result whatever the exit code. Throws only when git cannot be started
   * (GitError "other") or the signal aborted it (the abort reason, unchanged).
   */
  async run(args: readonly string[], options: GitCommandOptions = {}): Promise<RunResult> {
    const argv = [
      ...HARDENING_CONFIG.flatMap((c) => ["-c", c]),
      ...(options.cwd !== undefined ? ["-c", `safe.directory=${options.cwd}`] : []),
      ...(options.configArgs ?? []),
      ...args,
    ];
    this.ctx.logger("debug", "git", { args: args.map((a) => this.redact(a)), cwd: options.cwd });
    try {
      return await this.ctx.runner.run(this.ctx.gitBinary, argv, {
        env: { ...this.baseEnv(), ...(options.env ?? {}) },
        ...(options.cwd !== undefined ? { cwd: options.cwd } : {}),
        ...(options.signal !== undefined ? { signal: options.signal } : {}),
        ...(options.maxOutputBytes !== undefined ? { maxOutputBytes: options.maxOutputBytes } : {}),
      });
    } catch (err) {
      options.signal?.throwIfAborted();
      throw new GitError("other", `cannot run git: ${this.redact(errorMessage(err))}`);
    }
  }

  /** Runs git and throws a GitError (reason from stderr unless given) when it fails. */
  async must(
    what: string,
    args: readonly string[],
    options: GitCommandOptions = {},
    reason?: GitError["reason"],
  ): Promise<RunResult> {
    const result = await this.run(args, options);
    if (result.exitCode !== 0) throw this.failure(what, result, reason);
    return result;
  }

  failure(what: string, result: RunResult, reason?: GitError["reason"]): GitError {
    const stderr = this.redact(result.stderr);
    const summary = summarizeStderr(stderr) || `exit code ${result.exitCode}`;
    return new GitError(reason ?? classifyGitFailure(stderr), `${what}: ${summary}`, stderr);
  }

  private baseEnv(): Record<string, string> {
    const env: Record<string, string> = {
      PATH: process.env.PATH ?? "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
      HOME: this.ctx.home,
      XDG_CONFIG_HOME: this.ctx.home,
      LANG: "C.UTF-8",
      // English messages: classification of failures depends on them
      LC_ALL: "C.UTF-8",
      LANGUAGE: "C",
      GIT_CONFIG_NOSYSTEM: "1",
      GIT_CONFIG_GLOBAL: "/dev/null",
      GIT_TERMINAL_PROMPT: "0",
      GIT_SSH_COMMAND: "ssh -o BatchMode=yes",
    };
    for (const name of PASSED_THROUGH_ENV) {
      const value = process.env[name];
      if (value !== undefined) env[name] = value;
    }
    return env;
  }
}
