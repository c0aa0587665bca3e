import { mkdir, mkdtemp, readdir, readFile, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { GitClient, type GitClientOptions } from "../../src/git/index.js";
import type { GitCheckoutSpec, GitLogger } from "../../src/git/types.js";
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

  readonly logger: GitLogger = (level, message, fields) => {
    this.logs.push({ level, message, ...(fields ? { fields } : {}) });
  };

  client(options: GitClientOptions = {}): GitClient {
    return new GitClient(this.runner, { tempRoot: this.tempRoot, logger: this.logger, ...options });
  }

  /** A fresh, not yet existing checkout path. */
  checkoutDir(): string {
    this.counter++;
    return join(this.root, "checkouts", `c${this.counter}`);
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
