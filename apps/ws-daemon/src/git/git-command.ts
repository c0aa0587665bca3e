import { join } from "node:path";
import {
  type Confinement,
  errorMessage,
  isDomainError,
  type Log,
  type ProcessRunner,
  type RunResult,
} from "../platform/index.js";
import { classifyGitFailure, GitError, redact, summarizeStderr } from "./git-error.js";
import { HARDENING_ENV, STATIC_HARDENING } from "./git-hardening.js";
import { repositoryOverrides } from "./repository-overrides.js";
import type { SessionGlobalConfig } from "./session-global-config.js";

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

export interface GitCommandOptions {
  /** A checkout: git works on `<cwd>/.git` with `<cwd>` as its work tree, nothing else. */
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
  /** What git may see when the runner confines it (HOME and the checkout, file:// sources). */
  confinement: Confinement;
  /** `-c` settings of this operation (the protocols allowed). */
  sessionConfig: readonly string[];
  /** GIT_CONFIG_GLOBAL of this operation, written by the daemon. */
  globalConfig: SessionGlobalConfig;
  /** The operation talks to remotes: repository keys that bypass the network policy refuse it. */
  refuseNetworkKeys: boolean;
  /** Set after the passed-through environment (the network policy's proxy exemptions). */
  networkEnv: Record<string, string>;
}

/**
 * Runs git with a controlled environment and every config-driven command neutralised (see
 * git-hardening.ts); failures become classified, redacted GitErrors.
 */
export class GitCommand {
  /** Per checkout: the environment that pins the repository and overrides its commands. */
  private readonly repoEnv = new Map<string, Promise<Record<string, string>>>();

  constructor(private readonly ctx: GitCommandContext) {}

  redact(text: string): string {
    return redact(text, this.ctx.secrets);
  }

  /**
   * Runs git and returns the result whatever the exit code. Throws only when git cannot be started
   * (GitError "other"; a DomainError of the runner, e.g. FAILED_PRECONDITION when it refuses to
   * run git unconfined as root, unchanged) or the signal aborted it (the abort reason, unchanged).
   */
  async run(args: readonly string[], options: GitCommandOptions = {}): Promise<RunResult> {
    const argv = [
      "--no-pager",
      ...[...STATIC_HARDENING, ...this.ctx.sessionConfig].flatMap((c) => ["-c", c]),
      ...(options.cwd !== undefined ? ["-c", `safe.directory=${options.cwd}`] : []),
      ...(options.configArgs ?? []),
      ...args,
    ];
    this.ctx.logger("debug", "git", { args: args.map((a) => this.redact(a)), cwd: options.cwd });
    try {
      const repoEnv =
        options.cwd !== undefined ? await this.repositoryEnv(options.cwd, options.signal) : {};
      return await this.ctx.runner.run(this.ctx.gitBinary, argv, {
        env: { ...this.baseEnv(), ...repoEnv, ...(options.env ?? {}) },
        ...(options.cwd !== undefined ? { cwd: options.cwd } : {}),
        ...(options.signal !== undefined ? { signal: options.signal } : {}),
        ...(options.maxOutputBytes !== undefined ? { maxOutputBytes: options.maxOutputBytes } : {}),
        confinement: this.ctx.confinement,
      });
    } catch (err) {
      options.signal?.throwIfAborted();
      if (isDomainError(err)) throw err;
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

  /**
   * GIT_DIR and GIT_WORK_TREE pin the repository to the checkout (no discovery upwards, no
   * core.worktree elsewhere), plus the overrides of the repository's command-bearing keys. Read
   * once per checkout and operation: the daemon's own commands add no such key.
   */
  private repositoryEnv(cwd: string, signal?: AbortSignal): Promise<Record<string, string>> {
    let pending = this.repoEnv.get(cwd);
    if (pending === undefined) {
      const pinned = { GIT_DIR: join(cwd, ".git"), GIT_WORK_TREE: cwd };
      pending = repositoryOverrides({
        runner: this.ctx.runner,
        gitBinary: this.ctx.gitBinary,
        checkout: cwd,
        env: { ...this.baseEnv(), ...pinned },
        confinement: this.ctx.confinement,
        globalConfig: this.ctx.globalConfig,
        refuseNetworkKeys: this.ctx.refuseNetworkKeys,
        ...(signal !== undefined ? { signal } : {}),
      }).then((overrides) => ({ ...pinned, ...overrides }));
      this.repoEnv.set(cwd, pending);
      pending.catch(() => this.repoEnv.delete(cwd));
    }
    return pending;
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
      ...HARDENING_ENV,
      GIT_CONFIG_GLOBAL: this.ctx.globalConfig.path,
    };
    for (const name of PASSED_THROUGH_ENV) {
      const value = process.env[name];
      if (value !== undefined) env[name] = value;
    }
    return { ...env, ...this.ctx.networkEnv };
  }
}
