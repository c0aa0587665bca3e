import { existsSync } from "node:fs";
import { mkdir, readdir, readFile, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { type GitCheckoutSpec, GitError, type GitFailureReason } from "../../src/git/index.js";
import { GitHttpServer } from "../support/git-http-server.js";
import {
  createEmptyBareRepo,
  createFixtureRepo,
  type FixtureRepo,
  gitAsync,
  gitSync,
} from "../support/git-repo-fixtures.js";
import { catchError, GitTestEnv } from "./git-test-env.js";

let env: GitTestEnv;
let server: GitHttpServer;
let v0Server: GitHttpServer;
let repo: FixtureRepo;
let upstreamRepo: FixtureRepo;
let reachableRepo: FixtureRepo;

const git = (dir: string, ...args: string[]) => gitSync(dir, args).trim();
const commitCount = (dir: string) => Number(git(dir, "rev-list", "--count", "HEAD"));

beforeAll(async () => {
  env = await GitTestEnv.create();
  repo = await createFixtureRepo(env.repos, "project");
  upstreamRepo = await createFixtureRepo(env.repos, "upstream-project");
  reachableRepo = await createFixtureRepo(env.repos, "reachable", {
    "uploadpack.allowReachableSHA1InWant": "true",
  });
  createEmptyBareRepo(env.repos, "empty");
  server = await GitHttpServer.start({ projectRoot: env.repos });
  v0Server = await GitHttpServer.start({ projectRoot: env.repos, protocolV2: false });
});

afterAll(async () => {
  await server?.close();
  await v0Server?.close();
  await env?.dispose();
});

const expectNoTempLeft = async () => expect(await readdir(env.tempRoot)).toEqual([]);

/** Clones, expecting a GitError of `reason` and no checkout directory left behind. */
const expectFailedClone = async (
  spec: GitCheckoutSpec,
  reason: GitFailureReason,
  client = env.client(),
): Promise<GitError> => {
  const err = await catchError(client.clone(spec));
  expect(err).toBeInstanceOf(GitError);
  expect((err as GitError).reason, spec.remoteUri).toBe(reason);
  expect(existsSync(spec.checkoutDir)).toBe(false);
  return err as GitError;
};

describe("GitClient.clone target modes", () => {
  it("remote-head: shallow clone of the default branch by default", async () => {
    const spec = env.spec(server.repoUrl(repo.name));
    const result = await env.client().clone(spec);
    const dir = spec.checkoutDir;
    expect(git(dir, "rev-parse", "HEAD")).toBe(repo.commits.main?.at(-1));
    expect(git(dir, "symbolic-ref", "--short", "HEAD")).toBe("main");
    expect(existsSync(join(dir, ".git", "shallow"))).toBe(true);
    expect(commitCount(dir)).toBe(1);
    // later `git fetch` in the workspace must see every branch, not only the cloned one
    expect(git(dir, "config", "--get-all", "remote.origin.fetch")).toBe(
      "+refs/heads/*:refs/remotes/origin/*",
    );
    expect(result.files).toBeGreaterThan(3);
    expect(result.bytes).toBeGreaterThan(0);
    expect(result.durationMs).toBeGreaterThanOrEqual(0);
    await expectNoTempLeft();
  });

  it("remote-head with fullClone has the whole history", async () => {
    const spec = env.spec(server.repoUrl(repo.name), { fullClone: true });
    await env.client().clone(spec);
    expect(existsSync(join(spec.checkoutDir, ".git", "shallow"))).toBe(false);
    expect(commitCount(spec.checkoutDir)).toBe(3);
  });

  it("remote-branch: the branch is checked out and tracks origin", async () => {
    for (const branch of ["feature", "release/v1"]) {
      const spec = env.spec(server.repoUrl(repo.name), {
        targetMode: "remote-branch",
        cloneTarget: branch,
      });
      await env.client().clone(spec);
      const dir = spec.checkoutDir;
      expect(git(dir, "symbolic-ref", "--short", "HEAD")).toBe(branch);
      expect(git(dir, "rev-parse", "HEAD")).toBe(repo.commits[branch]?.at(-1));
      expect(git(dir, "rev-parse", "--abbrev-ref", `${branch}@{upstream}`)).toBe(
        `origin/${branch}`,
      );
      expect(commitCount(dir)).toBe(1);
    }
  });

  it("local-branch: a new branch at the remote head without upstream", async () => {
    const spec = env.spec(server.repoUrl(repo.name), {
      targetMode: "local-branch",
      cloneTarget: "my-work",
    });
    await env.client().clone(spec);
    const dir = spec.checkoutDir;
    expect(git(dir, "symbolic-ref", "--short", "HEAD")).toBe("my-work");
    expect(git(dir, "rev-parse", "HEAD")).toBe(repo.commits.main?.at(-1));
    expect(() => gitSync(dir, ["rev-parse", "--abbrev-ref", "my-work@{upstream}"])).toThrow();
  });

  it("remote-commit: detached at a commit that is no branch tip, fetched shallowly", async () => {
    const sha = repo.commits.main?.[1] as string;
    const spec = env.spec(server.repoUrl(repo.name), {
      targetMode: "remote-commit",
      cloneTarget: sha.toUpperCase(),
    });
    await env.client().clone(spec);
    const dir = spec.checkoutDir;
    expect(git(dir, "rev-parse", "HEAD")).toBe(sha);
    expect(() => gitSync(dir, ["symbolic-ref", "-q", "HEAD"])).toThrow(); // detached
    expect(existsSync(join(dir, ".git", "shallow"))).toBe(true);
    expect(commitCount(dir)).toBe(1);
    expect(await readFile(join(dir, "src", "a.txt"), "utf8")).toBe("a\n");
    expect(existsSync(join(dir, "src", "b.txt"))).toBe(false);
  });

  it("remote-commit falls back to a full fetch when the server refuses a want by id (protocol v0)", async () => {
    const sha = repo.commits.main?.[1] as string;
    const spec = env.spec(v0Server.repoUrl(repo.name), {
      targetMode: "remote-commit",
      cloneTarget: sha,
    });
    const logsBefore = env.logs.length;
    await env.client().clone(spec);
    expect(git(spec.checkoutDir, "rev-parse", "HEAD")).toBe(sha);
    expect(existsSync(join(spec.checkoutDir, ".git", "shallow"))).toBe(false);
    expect(commitCount(spec.checkoutDir)).toBe(2);
    const fallback = env.logs
      .slice(logsBefore)
      .filter((l) => l.message.includes("fetching the full history"));
    expect(fallback).toHaveLength(1);
  });

  it("remote-commit stays shallow on a protocol-v0 server with uploadpack.allowReachableSHA1InWant", async () => {
    const sha = reachableRepo.commits.main?.[1] as string;
    const spec = env.spec(v0Server.repoUrl(reachableRepo.name), {
      targetMode: "remote-commit",
      cloneTarget: sha,
    });
    await env.client().clone(spec);
    expect(git(spec.checkoutDir, "rev-parse", "HEAD")).toBe(sha);
    expect(commitCount(spec.checkoutDir)).toBe(1);
  });

  it("remote-commit with fullClone", async () => {
    const sha = repo.commits.feature?.[3] as string;
    const spec = env.spec(`file://${repo.bare}`, {
      targetMode: "remote-commit",
      cloneTarget: sha,
      fullClone: true,
    });
    await env.client().clone(spec);
    expect(git(spec.checkoutDir, "rev-parse", "HEAD")).toBe(sha);
    expect(commitCount(spec.checkoutDir)).toBe(4);
  });

  it("clones an empty repository", async () => {
    const spec = env.spec(server.repoUrl("empty.git"));
    await env.client().clone(spec);
    expect(existsSync(join(spec.checkoutDir, ".git"))).toBe(true);
  });
});

describe("GitClient.clone options", () => {
  it("adds the upstream remote and fetches it", async () => {
    const spec = env.spec(server.repoUrl(repo.name), {
      upstreamRemoteUri: server.repoUrl(upstreamRepo.name),
    });
    await env.client().clone(spec);
    const dir = spec.checkoutDir;
    expect(git(dir, "remote", "get-url", "upstream")).toBe(server.repoUrl(upstreamRepo.name));
    expect(git(dir, "rev-parse", "refs/remotes/upstream/main")).toBe(
      upstreamRepo.commits.main?.at(-1),
    );
  });

  it("checks out submodules (shallow with a shallow clone)", async () => {
    const work = join(env.root, "super-work");
    await mkdir(work, { recursive: true });
    git(work, "init", "-q", "-b", "main");
    await gitAsync(work, ["submodule", "add", "-q", server.repoUrl(repo.name), "libs/project"]);
    git(work, "commit", "-q", "-m", "add submodule");
    git(env.root, "clone", "-q", "--bare", work, join(env.repos, "super.git"));
    const spec = env.spec(server.repoUrl("super.git"));
    await env.client().clone(spec);
    const sub = join(spec.checkoutDir, "libs", "project");
    expect(await readFile(join(sub, "src", "b.txt"), "utf8")).toBe("b\n");
    expect(git(sub, "rev-parse", "HEAD")).toBe(repo.commits.main?.at(-1));
    expect(commitCount(sub)).toBe(1);
  });

  it("applies custom config in the clone", async () => {
    const spec = env.spec(server.repoUrl(repo.name), {
      customConfig: {
        "user.name": "Jane Doe",
        "core.autocrlf": "false",
        // was branch.main.description: custom_config is an allow-list now (issue 17)
        "pull.rebase": "true",
      },
    });
    await env.client().clone(spec);
    expect(git(spec.checkoutDir, "config", "--get", "pull.rebase")).toBe("true");
    expect(git(spec.checkoutDir, "config", "--get", "user.name")).toBe("Jane Doe");
    expect(git(spec.checkoutDir, "config", "--get", "core.autocrlf")).toBe("false");
    expect(git(spec.checkoutDir, "config", "--get-all", "user.name")).toBe("Jane Doe");
  });

  it("refuses config keys that would run programs, and malformed keys", async () => {
    for (const key of [
      "core.sshCommand",
      "core.fsmonitor",
      "credential.helper",
      "include.path",
      "nodot",
      "1a.b",
    ]) {
      const spec = env.spec(server.repoUrl(repo.name), {
        customConfig: { [key]: "touch /tmp/pwned" },
      });
      await expectFailedClone(spec, "invalid-argument");
    }
  });
});

describe("GitClient.clone failures", () => {
  it("a missing repository is not-found (http and file) and leaves nothing behind", async () => {
    for (const uri of [server.repoUrl("nope.git"), `file://${env.repos}/nope.git`]) {
      const spec = env.spec(uri);
      await expectFailedClone(spec, "not-found");
    }
    await expectNoTempLeft();
  });

  it.each([
    ["a missing branch is a target error", "no-such-branch"],
    ["a tag is not a branch: remote-branch refuses it as a target error", "v0"],
  ])("%s", async (_title, cloneTarget) => {
    const spec = env.spec(server.repoUrl(repo.name), { targetMode: "remote-branch", cloneTarget });
    await expectFailedClone(spec, "target");
  });

  it("retries a transient server failure, and gives up after cloneAttempts", async () => {
    const client = env.client({ cloneRetryDelayMs: 5 });
    server.failNextRequests(1);
    const spec = env.spec(server.repoUrl(repo.name));
    await client.clone(spec);
    expect(git(spec.checkoutDir, "rev-parse", "HEAD")).toBe(repo.commits.main?.at(-1));
    const retried = env.logs.filter((l) => l.message.includes("transient error; retrying"));
    expect(retried).toHaveLength(1);
    expect(retried[0]?.fields).toMatchObject({ attempt: 1, delayMs: 5 });
    expect(retried[0]?.fields?.err).toBeInstanceOf(GitError);

    server.failNextRequests(100);
    const failing = env.spec(server.repoUrl(repo.name));
    const requestsBefore = server.requests.length;
    await expectFailedClone(
      failing,
      "other",
      env.client({ cloneRetryDelayMs: 5, cloneAttempts: 2 }),
    ).finally(() => server.failNextRequests(0));
    expect(server.requests.length - requestsBefore).toBe(2);
  });

  it("git that cannot be started is an 'other' GitError", async () => {
    const spec = env.spec(server.repoUrl(repo.name));
    await expectFailedClone(spec, "other", env.client({ gitBinary: "/nonexistent/git" }));
    await expectNoTempLeft();
  });

  it("a missing commit is a target error, over protocol v2 and v0", async () => {
    for (const s of [server, v0Server]) {
      const spec = env.spec(s.repoUrl(repo.name), {
        targetMode: "remote-commit",
        cloneTarget: "1".repeat(40),
      });
      await expectFailedClone(spec, "target");
    }
  });

  it("refuses option injection and bad targets before running git clone", async () => {
    const url = server.repoUrl(repo.name);
    const cases = [
      { remoteUri: "--upload-pack=touch /tmp/pwned" },
      { remoteUri: "-oProxyCommand=touch /tmp/pwned" },
      { remoteUri: "ext::sh -c touch% /tmp/pwned" },
      { remoteUri: "ftp://example.com/repo.git" },
      { remoteUri: "https://user:secret@example.com/repo.git" },
      { remoteUri: "https://example.com/repo\n.git" },
      { remoteUri: url, upstreamRemoteUri: "--upload-pack=x" },
      { remoteUri: url, targetMode: "remote-branch" as const, cloneTarget: "--orphan" },
      { remoteUri: url, targetMode: "remote-branch" as const, cloneTarget: "a..b" },
      { remoteUri: url, targetMode: "remote-branch" as const, cloneTarget: "@{-1}" },
      { remoteUri: url, targetMode: "remote-branch" as const, cloneTarget: "" },
      { remoteUri: url, targetMode: "local-branch" as const, cloneTarget: "with space" },
      { remoteUri: url, targetMode: "remote-commit" as const, cloneTarget: "abc123" },
      { remoteUri: url, targetMode: "remote-commit" as const, cloneTarget: "HEAD~1" },
      { remoteUri: url, checkoutDir: "relative/dir" },
    ];
    for (const c of cases) {
      const before = env.runner.calls.filter((call) => call.args.includes("clone")).length;
      const err = await catchError(env.client().clone(env.spec(c.remoteUri, c)));
      expect(err).toBeInstanceOf(GitError);
      expect((err as GitError).reason, JSON.stringify(c)).toBe("invalid-argument");
      expect(env.runner.calls.filter((call) => call.args.includes("clone")).length).toBe(before);
      expect(err.message).not.toContain("secret");
    }
    expect(existsSync("/tmp/pwned")).toBe(false);
  });

  it("file remotes can be disabled", async () => {
    const spec = env.spec(`file://${repo.bare}`);
    await expectFailedClone(
      spec,
      "invalid-argument",
      env.client({ allowedSchemes: ["https", "http"] }),
    );
  });

  it("refuses a non-empty checkout directory and leaves its content alone", async () => {
    const spec = env.spec(server.repoUrl(repo.name));
    await mkdir(spec.checkoutDir, { recursive: true });
    await writeFile(join(spec.checkoutDir, "keep.txt"), "mine");
    const err = await catchError(env.client().clone(spec));
    expect((err as GitError).reason).toBe("invalid-argument");
    expect(await readFile(join(spec.checkoutDir, "keep.txt"), "utf8")).toBe("mine");
  });

  it("an aborted clone rejects and removes the partial checkout", async () => {
    const spec = env.spec(server.repoUrl(repo.name));
    const controller = new AbortController();
    const pending = env.client().clone(spec, controller.signal);
    controller.abort(new Error("client went away"));
    const err = await catchError(pending);
    expect(err).not.toBeInstanceOf(GitError);
    expect(existsSync(spec.checkoutDir)).toBe(false);
    await expectNoTempLeft();
  });
});
