import { mkdir, mkdtemp, readdir, readFile, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll } from "vitest";
import { GitClient, type GitClientOptions } from "../../src/git/index.js";
import type { GitCheckoutSpec } from "../../src/git/types.js";
import { type Log, networkPolicy } from "../../src/platform/index.js";
import { createFixtureRepo, type FixtureRepo, gitSync } from "../support/git-repo-fixtures.js";
import { ScriptedProcessRunner } from "../support/process-runners.js";

/** A private directory tree per test file: repositories, checkouts and the client's temp root. */
export class GitTestEnv {
  readonly runner = new ScriptedProcessRunner();
  readonly logs: Array<{ level: string; message: string; fields?: Record<string, unknown> }> = [];
  private counter = 0;

  private constructor(readonly root: string) {}

  static async create(): Promise<GitTestEnv> {
    const env = new GitTestEnv(await mkdtemp(join(tmpdir(), "ws-daemon-git-test-")));
    await mkdir(env.repos, { recursive: true });
    await mkdir(env.tempRoot, { recursive: true });
    return env;
  }

  get repos(): string {
    return join(this.root, "repos");
  }

  /** GitClient's tempRoot: must be empty again after every operation. */
  get tempRoot(): string {
    return join(this.root, "client-tmp");
  }

  readonly logger: Log = (level, message, fields) => {
    this.logs.push({ level, message, ...(fields ? { fields } : {}) });
  };

  /**
   * The tests' git servers listen on 127.0.0.1, which the production network policy refuses:
   * the default here allows private networks. The network policy's own tests pass theirs.
   */
  client(options: GitClientOptions = {}): GitClient {
    return new GitClient(this.runner, {
      tempRoot: this.tempRoot,
      logger: this.logger,
      networkPolicy: networkPolicy({ allowPrivateNetworks: true }),
      ...options,
    });
  }

  /** A fresh, not yet existing checkout path. */
  checkoutDir(): string {
    this.counter++;
    return join(this.root, "checkouts", `c${this.counter}`);
  }

  /** A fresh checkout of a bare repository made by the tests' own git (depth 1 unless `full`). */
  cloneWithGit(bare: string, full = false): string {
    const dir = this.checkoutDir();
    gitSync(this.root, ["clone", "-q", ...(full ? [] : ["--depth", "1"]), `file://${bare}`, dir]);
    return dir;
  }

  spec(remoteUri: string, overrides: Partial<GitCheckoutSpec> = {}): GitCheckoutSpec {
    return {
      remoteUri,
      targetMode: "remote-head",
      cloneTarget: "",
      checkoutDir: this.checkoutDir(),
      customConfig: {},
      auth: { kind: "none" },
      fullClone: false,
      ...overrides,
    };
  }

  async dispose(): Promise<void> {
    await rm(this.root, { recursive: true, force: true });
  }
}

/**
 * A GitTestEnv with one fixture repository for the whole test file: made before its first test,
 * removed after its last.
 */
export const gitTestFile = (repoName = "project") => {
  let env: GitTestEnv | undefined;
  let repo: FixtureRepo | undefined;
  beforeAll(async () => {
    env = await GitTestEnv.create();
    repo = await createFixtureRepo(env.repos, repoName);
  });
  afterAll(async () => {
    await env?.dispose();
  });
  const ready = <T>(value: T | undefined): T => {
    if (value === undefined) throw new Error("the test file's git fixture is made in beforeAll");
    return value;
  };
  return {
    get env(): GitTestEnv {
      return ready(env);
    },
    get repo(): FixtureRepo {
      return ready(repo);
    },
  };
};

/** Every regular file below dir whose bytes contain needle (paths relative to dir). */
export const filesContaining = async (dir: string, needle: string): Promise<string[]> => {
  const hits: string[] = [];
  const walk = async (d: string) => {
    for (const entry of await readdir(d, { withFileTypes: true }).catch(() => [])) {
      const path = join(d, entry.name);
      if (entry.isDirectory()) await walk(path);
      else if (entry.isFile() && (await readFile(path)).includes(needle))
        hits.push(path.slice(dir.length + 1));
    }
  };
  await walk(dir);
  return hits;
};

export const catchError = async (promise: Promise<unknown>): Promise<Error> => {
  try {
    await promise;
  } catch (err) {
    return err as Error;
  }
  throw new Error("expected the operation to fail");
};
