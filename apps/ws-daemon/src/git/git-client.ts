import { lchown, lstat, mkdir, mkdtemp, readdir } from "node:fs/promises";
import { join } from "node:path";
import {
  type Clock,
  emptyDirectory,
  guardedFetch,
  type Log,
  measureTree,
  type NetworkPolicy,
  networkPolicy,
  type ProcessRunner,
  type ResolveHost,
  removeTree,
  retry,
  scratchDir,
  silentLog,
  systemClock,
} from "../platform/index.js";
import { CheckoutSteps, type NetworkWiring, pathExists } from "./checkout-steps.js";
import { GitCommand } from "./git-command.js";
import {
  type BasicCredentials,
  credentialWiring,
  type FetchFn,
  resolveCredentials,
} from "./git-credentials.js";
import { GitError, isTransientGitFailure } from "./git-error.js";
import { protocolPolicy } from "./git-hardening.js";
import { GitNetwork } from "./git-network.js";
import { readGitStatus } from "./git-status.js";
import { SessionGlobalConfig } from "./session-global-config.js";
import type {
  BringToTargetResult,
  CloneResult,
  GitAuth,
  GitCheckoutSpec,
  GitStatusOptions,
  GitStatusSummary,
} from "./types.js";
import { DEFAULT_ALLOWED_SCHEMES, validateCheckoutSpec } from "./validate-spec.js";

export interface GitClientOptions {
  /**
   * Which addresses git's remotes (and the one-time secret URL) may have; default the
   * production policy (public addresses only). See git-network.ts for how far it holds.
   */
  networkPolicy?: NetworkPolicy;
  /** Name resolution for the policy's checks; default the system's. */
  resolve?: ResolveHost;
  /** Used for BASIC_AUTH_OTS; default guardedFetch with the network policy and no redirects. */
  fetch?: FetchFn;
  /** Receives already-redacted messages; wire it to the daemon's logger. */
  logger?: Log;
  clock?: Clock;
  /** Remote URI schemes accepted; default https, http, ssh, git, file. Drop "file" to keep node paths out. */
  allowedSchemes?: readonly string[];
  /** Where private per-operation HOME directories are created; default the daemon's scratch directory (platform/fs/process-scratch). */
  tempRoot?: string;
  gitBinary?: string;
  /** Attempts to download a one-time secret (network errors and 5xx only); default 3. */
  otsAttempts?: number;
  otsRetryDelayMs?: number;
  /** Attempts of a clone that fails transiently (network, 5xx); default 3. */
  cloneAttempts?: number;
  /** First retry delay, doubled per attempt; default 1000. */
  cloneRetryDelayMs?: number;
  /**
   * The user git runs as when the runner confines it: the checkout directory and git's private
   * HOME are given to it before git starts. Unset: nothing is chowned (git runs as the daemon).
   */
  contentOwner?: { uid: number; gid: number };
}

/** One operation's private HOME plus lazily resolved credentials. */
interface Session {
  git: GitCommand;
  /** `-c`/env wiring for commands that talk to origin; admits further remotes (submodules). */
  network: NetworkWiring;
  close(): Promise<void>;
}

export class GitClient {
  private readonly fetchFn: FetchFn;
  private readonly logger: Log;
  private readonly clock: Clock;
  private readonly allowedSchemes: readonly string[];
  private readonly tempRoot: string;
  private readonly gitBinary: string;
  private readonly cloneAttempts: number;
  private readonly cloneRetryDelayMs: number;
  private readonly network: GitNetwork;
  /** A one-time secret can be fetched once: later operations with the same auth object reuse it. */
  private readonly credentialCache = new WeakMap<GitAuth, Promise<BasicCredentials | undefined>>();

  constructor(
    private readonly runner: ProcessRunner,
    private readonly options: GitClientOptions = {},
  ) {
    const policy = options.networkPolicy ?? networkPolicy({ allowPrivateNetworks: false });
    this.network = new GitNetwork({
      policy,
      ...(options.resolve !== undefined ? { resolve: options.resolve } : {}),
    });
    // A one-time secret URL is a capability: no redirect may carry it elsewhere.
    const guarded = guardedFetch({
      policy,
      maxRedirects: 0,
      ...(options.resolve !== undefined ? { resolve: options.resolve } : {}),
    });
    this.fetchFn =
      options.fetch ??
      ((input, init) => guarded(input, init?.signal ? { signal: init.signal } : {}));
    this.logger = options.logger ?? silentLog;
    this.clock = options.clock ?? systemClock;
    this.allowedSchemes = options.allowedSchemes ?? DEFAULT_ALLOWED_SCHEMES;
    this.tempRoot = options.tempRoot ?? scratchDir();
    this.gitBinary = options.gitBinary ?? "git";
    this.cloneAttempts = Math.max(1, options.cloneAttempts ?? 3);
    this.cloneRetryDelayMs = options.cloneRetryDelayMs ?? 1000;
  }

  /**
   * Clones into spec.checkoutDir, which must be missing or empty. Transient failures (5xx, resets,
   * DNS) are retried with exponential backoff. On failure the directory is returned to how it was
   * (removed, or emptied) and a GitError (or the abort reason) is thrown.
   */
  async clone(spec: GitCheckoutSpec, signal?: AbortSignal): Promise<CloneResult> {
    validateCheckoutSpec(spec, this.allowedSchemes);
    const started = this.clock.now();
    // from here the directory is ours to clean up (it was missing or empty)
    const createdDir = await this.prepareEmptyDir(spec.checkoutDir);
    let session: Session | undefined;
    try {
      session = await this.openSession(spec, spec.checkoutDir, signal);
      await this.checkTargetName(session.git, spec, signal);
      const opened = session;
      await retry(() => this.cloneInto(opened, spec, signal), {
        attempts: this.cloneAttempts,
        delayMs: this.cloneRetryDelayMs,
        backoff: "exponential",
        clock: this.clock,
        signal,
        retryable: isTransientFailure,
        onRetry: async (err, attempt, delayMs) => {
          this.logger("warn", "clone failed with a transient error; retrying", {
            attempt,
            delayMs,
            err,
          });
          await this.undoClone(spec.checkoutDir, false);
        },
      });
    } catch (err) {
      await this.undoClone(spec.checkoutDir, createdDir);
      throw err;
    } finally {
      await session?.close();
    }
    // informational figures: what vanishes or cannot be read while counting is left out
    const tree = await measureTree(spec.checkoutDir, { mode: "best-effort" });
    return {
      durationMs: this.clock.now() - started,
      bytes: tree.regularFileBytes,
      files: tree.regularFiles,
    };
  }

  /**
   * For prebuilds: the checkout was restored from a snapshot. Fetches and moves it to the clone
   * target. Tracked modifications are stashed and re-applied (kept in the stash on conflict);
   * untracked files are left in place. If moving fails, the modifications are re-applied before
   * the error is thrown.
   */
  async bringToTarget(spec: GitCheckoutSpec, signal?: AbortSignal): Promise<BringToTargetResult> {
    validateCheckoutSpec(spec, this.allowedSchemes);
    const started = this.clock.now();
    if (!(await pathExists(join(spec.checkoutDir, ".git")))) {
      throw new GitError("invalid-argument", "the checkout directory holds no git repository");
    }
    const session = await this.openSession(spec, spec.checkoutDir, signal);
    try {
      await this.checkTargetName(session.git, spec, signal);
      const steps = new CheckoutSteps(session.git, spec, session.network, this.logger, signal);
      const commitBefore = await steps.headCommit();
      await steps.configureOrigin();
      // the restored configuration may rewrite origin's URL (url.<base>.insteadOf)
      await steps.requireUrl("origin", spec.remoteUri);
      await steps.applyCustomConfig();
      const stashed = await steps.stashLocalChanges();
      try {
        await this.moveToTarget(steps, spec);
      } catch (err) {
        if (stashed) await steps.restoreLocalChanges();
        throw err;
      }
      const restored = stashed ? await steps.restoreLocalChanges() : false;
      await steps.addUpstream();
      await steps.updateSubmodules();
      const commitAfter = await steps.headCommit();
      return {
        durationMs: this.clock.now() - started,
        commitBefore,
        commitAfter,
        commitChanged: commitBefore !== commitAfter,
        restoredLocalChanges: restored,
        localChangesLeftInStash: stashed && !restored,
      };
    } finally {
      await session.close();
    }
  }

  private async moveToTarget(steps: CheckoutSteps, spec: GitCheckoutSpec) {
    switch (spec.targetMode) {
      case "remote-commit":
        return steps.checkoutCommit();
      case "remote-branch": {
        await steps.fetchBranch(spec.cloneTarget);
        const args = ["checkout", "-B", spec.cloneTarget, "--track", `origin/${spec.cloneTarget}`];
        await steps.must("checking out the branch", args, { reason: "target" });
        return;
      }
      case "remote-head":
      case "local-branch": {
        const main = await steps.remoteDefaultBranch();
        if (main === undefined) return; // the remote has no commits: nothing to move to
        await steps.fetchBranch(main);
        await steps.run(["remote", "set-head", "origin", main]);
        const args =
          spec.targetMode === "remote-head"
            ? ["checkout", "-B", main, "--track", `origin/${main}`]
            : ["checkout", "-B", spec.cloneTarget, "--no-track", `origin/${main}`];
        await steps.must("checking out the target", args, { reason: "target" });
        return;
      }
    }
  }

  /** Summary for DisposeWorkspace; undefined when dir has no .git. Never throws for odd repositories. */
  async status(dir: string, options: GitStatusOptions = {}): Promise<GitStatusSummary | undefined> {
    if (!(await pathExists(join(dir, ".git")))) return undefined;
    const session = await this.openSession(undefined, dir, options.signal);
    try {
      return await readGitStatus(session.git, dir, options);
    } finally {
      await session.close();
    }
  }

  private async cloneInto(session: Session, spec: GitCheckoutSpec, signal?: AbortSignal) {
    const args = ["clone", "--origin", "origin"];
    if (!spec.fullClone) args.push("--depth", "1", "--shallow-submodules");
    // --config persists into .git/config and already applies to the clone's own fetch
    for (const [key, value] of Object.entries(spec.customConfig))
      args.push("--config", `${key}=${value}`);
    if (spec.targetMode === "remote-branch") args.push("--branch", spec.cloneTarget);
    if (spec.targetMode === "remote-commit") args.push("--no-checkout");
    args.push("--", spec.remoteUri, spec.checkoutDir);
    await session.git.must("git clone failed", args, {
      ...session.network,
      ...(signal ? { signal } : {}),
    });

    const steps = new CheckoutSteps(session.git, spec, session.network, this.logger, signal);
    // a shallow clone fetches one branch; later `git fetch`es in the workspace should see all
    await steps.configureOrigin();
    if (spec.targetMode === "remote-commit") await steps.checkoutCommit();
    // `clone --branch` also accepts a tag (and then detaches): the mode asks for a branch
    if (spec.targetMode === "remote-branch" && (await steps.currentBranch()) !== spec.cloneTarget) {
      throw new GitError("target", `'${spec.cloneTarget}' is not a branch of the repository`);
    }
    if (spec.targetMode === "local-branch" && (await steps.currentBranch()) !== spec.cloneTarget) {
      const args =
        (await steps.headCommit()) !== ""
          ? ["checkout", "--no-track", "-b", spec.cloneTarget]
          : ["symbolic-ref", "HEAD", `refs/heads/${spec.cloneTarget}`]; // empty remote: unborn branch
      await steps.must("creating the local branch", args, { reason: "target" });
    }
    await steps.addUpstream();
    await steps.updateSubmodules();
  }

  private async checkTargetName(git: GitCommand, spec: GitCheckoutSpec, signal?: AbortSignal) {
    if (spec.targetMode !== "remote-branch" && spec.targetMode !== "local-branch") return;
    const r = await git.run(
      ["check-ref-format", "--branch", spec.cloneTarget],
      signal ? { signal } : {},
    );
    // "@{-1}"-style names are resolved by check-ref-format instead of being refused
    if (r.exitCode !== 0 || spec.cloneTarget.startsWith("@")) {
      throw new GitError(
        "invalid-argument",
        `clone target '${spec.cloneTarget}' is not a valid branch name`,
      );
    }
  }

  /** Returns whether the directory had to be created; it is given to the content owner. */
  private async prepareEmptyDir(dir: string): Promise<boolean> {
    const existing = await lstat(dir).catch(() => undefined);
    if (existing === undefined) {
      await mkdir(dir, { recursive: true, mode: 0o775 });
      await this.giveToOwner(dir);
      return true;
    }
    if (!existing.isDirectory() || (await readdir(dir)).length > 0) {
      throw new GitError(
        "invalid-argument",
        "the checkout directory exists and is not an empty directory",
      );
    }
    await this.giveToOwner(dir);
    return false;
  }

  private async giveToOwner(dir: string): Promise<void> {
    const owner = this.options.contentOwner;
    if (owner !== undefined) await lchown(dir, owner.uid, owner.gid);
  }

  private async undoClone(dir: string, createdDir: boolean) {
    try {
      // by descriptor: what a failed clone left is repository content, links included
      if (createdDir) await removeTree(dir);
      else await emptyDirectory(dir);
    } catch (err) {
      this.logger("warn", "cannot remove a failed clone", { dir, err });
    }
  }

  /**
   * One operation's git: a private HOME, the credentials, and what the confined git may see:
   * HOME and the checkout read-write, the source of a file:// remote read-only (and trusted as
   * a safe.directory).
   */
  private async openSession(
    spec: GitCheckoutSpec | undefined,
    checkoutDir: string,
    signal?: AbortSignal,
  ): Promise<Session> {
    const home = await mkdtemp(join(this.tempRoot, "ws-daemon-git-"));
    const close = () => removeTree(home);
    try {
      await this.giveToOwner(home);
      const sources = spec === undefined ? [] : fileSources(spec);
      // checked before git starts; refused remotes fail the operation (PERMISSION_DENIED)
      const admitted =
        spec === undefined
          ? []
          : [
              ...(await this.network.admit(spec.remoteUri, "remote")),
              ...(spec.upstreamRemoteUri
                ? await this.network.admit(spec.upstreamRemoteUri, "upstream remote")
                : []),
            ];
      // after the remotes passed: a one-time secret is not spent on a refused remote
      const auth = spec?.auth ?? { kind: "none" };
      const credentials = await this.credentialsFor(auth, signal);
      const secrets = [
        ...(credentials ? [credentials.password] : []),
        ...(auth.kind === "basic-ots" ? [auth.otsUrl] : []),
      ];
      const git = new GitCommand({
        runner: this.runner,
        home,
        logger: this.logger,
        secrets,
        gitBinary: this.gitBinary,
        confinement: {
          writable: [home, checkoutDir],
          readable: [...sources, ...trustStorePaths()],
        },
        sessionConfig: [
          // an operation without a remote (the status at dispose) needs no protocol at all
          ...(spec === undefined
            ? ["protocol.allow=never"]
            : protocolPolicy(this.allowedSchemes, sources.length > 0)),
          ...this.network.baseConfig(),
          ...admitted,
        ],
        globalConfig: await SessionGlobalConfig.create(home, sources),
        refuseNetworkKeys: spec !== undefined,
        networkEnv: this.network.env(),
      });
      const network = {
        ...credentialWiring(spec?.remoteUri ?? "", credentials),
        admit: (uri: string, what: string) => this.network.admit(uri, what),
      };
      return { git, network, close };
    } catch (err) {
      await close();
      throw err;
    }
  }

  private credentialsFor(
    auth: GitAuth,
    signal?: AbortSignal,
  ): Promise<BasicCredentials | undefined> {
    let pending = this.credentialCache.get(auth);
    if (pending === undefined) {
      pending = resolveCredentials(auth, {
        fetch: this.fetchFn,
        clock: this.clock,
        ...(this.options.otsAttempts !== undefined ? { attempts: this.options.otsAttempts } : {}),
        ...(this.options.otsRetryDelayMs !== undefined
          ? { retryDelayMs: this.options.otsRetryDelayMs }
          : {}),
        ...(signal ? { signal } : {}),
      });
      this.credentialCache.set(auth, pending);
      pending.catch(() => this.credentialCache.delete(auth));
    }
    return pending;
  }
}

/** Local paths of the spec's file:// remotes: confined git may read them, nothing else there. */
const fileSources = (spec: GitCheckoutSpec): string[] =>
  [spec.remoteUri, spec.upstreamRemoteUri ?? ""].flatMap((uri) => {
    if (!/^file:\/\//i.test(uri)) return [];
    try {
      return [decodeURIComponent(new URL(uri).pathname)];
    } catch {
      return [];
    }
  });

/** CA bundles named by the passed-through environment (they may live outside /etc). */
const trustStorePaths = (): string[] =>
  ["GIT_SSL_CAINFO", "GIT_SSL_CAPATH", "SSL_CERT_FILE", "SSL_CERT_DIR"].flatMap((name) => {
    const value = process.env[name];
    return value?.startsWith("/") ? [value] : [];
  });

const isTransientFailure = (err: unknown): boolean =>
  err instanceof GitError && err.reason === "other" && isTransientGitFailure(err.detail ?? "");
