import { lstat, readdir } from "node:fs/promises";
import { join } from "node:path";
import { type Confinement, NetworkPolicyError, type ProcessRunner } from "../platform/index.js";
import { GitError } from "./git-error.js";
import { commandOverrides, isFirstWins, MAX_OVERRIDES, overrideEnv } from "./git-hardening.js";
import { refusedNetworkKey } from "./git-network.js";
import type { SessionGlobalConfig } from "./session-global-config.js";

/** Submodule repositories looked at below .git/modules: bounded, a repository may hold many. */
const MAX_MODULE_CONFIGS = 200;
const MAX_MODULE_DEPTH = 8;

/**
 * The config files of the submodules (`.git/modules/<name>/config`, nested ones under
 * `<name>/modules/`), found without following links. A name may contain "/": a directory with
 * a `config` file is a submodule repository (only its `modules` is searched further), any other
 * directory is a step of a name.
 */
const moduleConfigs = async (gitDir: string): Promise<string[]> => {
  const found: string[] = [];
  const isDir = async (path: string) => (await lstat(path).catch(() => undefined))?.isDirectory();
  const walk = async (dir: string, depth: number): Promise<void> => {
    if (depth > MAX_MODULE_DEPTH || found.length >= MAX_MODULE_CONFIGS) return;
    const config = join(dir, "config");
    if ((await lstat(config).catch(() => undefined))?.isFile()) {
      found.push(config);
      if (await isDir(join(dir, "modules"))) await walk(join(dir, "modules"), depth + 1);
      return;
    }
    for (const name of await readdir(dir).catch(() => [] as string[])) {
      if (await isDir(join(dir, name))) await walk(join(dir, name), depth + 1);
    }
  };
  const root = join(gitDir, "modules");
  if (await isDir(root)) {
    for (const name of await readdir(root).catch(() => [] as string[])) {
      if (await isDir(join(root, name))) await walk(join(root, name), 1);
    }
  }
  return found;
};

/** Lists key names of the repository's configuration and of each file, NUL-separated, in one process. */
const LIST_KEYS =
  'g=$1; shift; "$g" config --list --name-only -z; for f do "$g" config --file "$f" --includes --list --name-only -z; done; exit 0';

export interface RepositoryOverridesOptions {
  runner: ProcessRunner;
  gitBinary: string;
  checkout: string;
  /** git's environment with GIT_DIR/GIT_WORK_TREE of the checkout. */
  env: Record<string, string>;
  confinement: Confinement;
  /** Receives the overrides of keys where the first value wins (see isFirstWins). */
  globalConfig: SessionGlobalConfig;
  /**
   * The operation talks to remotes: a key that would take its connections around the network
   * policy (see refusedNetworkKey) refuses it. Off for local operations (the status at dispose).
   */
  refuseNetworkKeys: boolean;
  signal?: AbortSignal;
}

/**
 * The environment (GIT_CONFIG_COUNT/KEY/VALUE) that overrides every command-bearing key of the
 * checkout's configuration and its submodules'. git only parses the files here; nothing of the
 * configuration is executed by `git config --list`.
 */
export const repositoryOverrides = async (
  options: RepositoryOverridesOptions,
): Promise<Record<string, string>> => {
  const modules = await moduleConfigs(join(options.checkout, ".git"));
  const listed = await options.runner.run(
    "/bin/sh",
    ["-c", LIST_KEYS, "sh", options.gitBinary, ...modules],
    {
      env: options.env,
      cwd: options.checkout,
      confinement: options.confinement,
      maxOutputBytes: 16 * 1024 * 1024,
      ...(options.signal !== undefined ? { signal: options.signal } : {}),
    },
  );
  const keys = listed.stdout.split("\0").filter((k) => k !== "");
  const refused = options.refuseNetworkKeys ? keys.find(refusedNetworkKey) : undefined;
  if (refused !== undefined) {
    throw new NetworkPolicyError(
      `the repository's configuration sets ${JSON.stringify(refused.slice(0, 200))}, which would take git's connections around the network policy; remove it`,
    );
  }
  const overrides = commandOverrides(keys);
  if (overrides.length > MAX_OVERRIDES) {
    throw new GitError(
      "invalid-argument",
      `the repository configures ${overrides.length} commands (at most ${MAX_OVERRIDES} are neutralised); refusing to run git on it`,
    );
  }
  // uploadpack/receivepack: git uses the FIRST value, so a later (command-line) one cannot win
  await options.globalConfig.pin(overrides.filter(([key]) => isFirstWins(key)));
  return overrideEnv(overrides);
};
