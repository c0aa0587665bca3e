import { execFile, execFileSync } from "node:child_process";
import { mkdir, mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { promisify } from "node:util";

/** Environment for the tests' own git commands: no user/system config, a fixed identity. */
export const testGitEnv = (home: string): Record<string, string> => ({
  PATH: process.env.PATH ?? "/usr/bin:/bin",
  HOME: home,
  LANG: "C.UTF-8",
  LC_ALL: "C.UTF-8",
  GIT_CONFIG_NOSYSTEM: "1",
  GIT_CONFIG_GLOBAL: "/dev/null",
  GIT_TERMINAL_PROMPT: "0",
  GIT_AUTHOR_NAME: "Test Author",
  GIT_AUTHOR_EMAIL: "author@example.com",
  GIT_COMMITTER_NAME: "Test Author",
  GIT_COMMITTER_EMAIL: "author@example.com",
});

/** Synchronous git for test setup and assertions; throws with stderr on failure. */
export const gitSync = (cwd: string, args: string[], home = cwd): string =>
  execFileSync("git", ["-c", "safe.directory=*", ...args], {
    cwd,
    env: testGitEnv(home),
    encoding: "utf8",
    stdio: ["ignore", "pipe", "pipe"],
  });

/**
 * Asynchronous variant, required whenever git talks to a server running in this same process
 * (a synchronous child would block the event loop the server needs).
 */
export const gitAsync = async (cwd: string, args: string[], home = cwd): Promise<string> => {
  const { stdout } = await promisify(execFile)("git", ["-c", "safe.directory=*", ...args], {
    cwd,
    env: testGitEnv(home),
    encoding: "utf8",
  });
  return stdout;
};

export interface FixtureRepo {
  /** Path of the bare repository. */
  bare: string;
  name: string;
  /** Commits per branch, oldest first. */
  commits: Record<string, string[]>;
  defaultBranch: string;
}

/**
 * A bare repository `<root>/<name>.git`: `main` with 3 commits, `feature` (main + 2 commits),
 * `release/v1` (main~1 + 1 commit) and a tag `v0` on main~2: main~1 is
 * no advertised ref tip.
 */
export const createFixtureRepo = async (
  root: string,
  name: string,
  config: Record<string, string> = {},
): Promise<FixtureRepo> => {
  const work = await mkdtemp(join(tmpdir(), "git-fixture-work-"));
  try {
    const commits: Record<string, string[]> = { main: [], feature: [], "release/v1": [] };
    const commit = async (branch: string, file: string, content: string) => {
      await mkdir(dirname(join(work, file)), { recursive: true });
      await writeFile(join(work, file), content);
      gitSync(work, ["add", "--", file]);
      gitSync(work, ["commit", "-q", "-m", `${branch}: ${file}`]);
      const sha = gitSync(work, ["rev-parse", "HEAD"]).trim();
      commits[branch]?.push(sha);
      return sha;
    };
    gitSync(work, ["init", "-q", "-b", "main"]);
    await commit("main", "README.md", "# fixture\n");
    gitSync(work, ["tag", "v0"]);
    await commit("main", "src/a.txt", "a\n");
    gitSync(work, ["branch", "release/v1"]);
    await commit("main", "src/b.txt", "b\n");
    gitSync(work, ["checkout", "-q", "-b", "feature"]);
    commits.feature = [...(commits.main ?? [])];
    await commit("feature", "feature.txt", "f1\n");
    await commit("feature", "feature.txt", "f2\n");
    gitSync(work, ["checkout", "-q", "release/v1"]);
    commits["release/v1"] = (commits.main ?? []).slice(0, 2);
    await commit("release/v1", "release.txt", "r\n");
    gitSync(work, ["checkout", "-q", "main"]);

    const bare = join(root, `${name}.git`);
    gitSync(root, ["clone", "-q", "--bare", work, bare]);
    for (const [key, value] of Object.entries(config)) gitSync(bare, ["config", key, value]);
    return { bare, name: `${name}.git`, commits, defaultBranch: "main" };
  } finally {
    await rm(work, { recursive: true, force: true });
  }
};

/** An empty bare repository (no commits). */
export const createEmptyBareRepo = (root: string, name: string): string => {
  const bare = join(root, `${name}.git`);
  gitSync(root, ["init", "-q", "--bare", "-b", "main", bare]);
  return bare;
};
