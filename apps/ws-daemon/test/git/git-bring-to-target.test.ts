import { cp, mkdir, readFile, rm, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { GitError } from "../../src/git/index.js";
import type { GitCheckoutSpec } from "../../src/git/types.js";
import { GitHttpServer } from "../support/git-http-server.js";
import { createFixtureRepo, type FixtureRepo, gitSync } from "../support/git-repo-fixtures.js";
import { catchError, GitTestEnv } from "./git-test-env.js";

let env: GitTestEnv;
let server: GitHttpServer;
let repoCounter = 0;

beforeAll(async () => {
  env = await GitTestEnv.create();
  server = await GitHttpServer.start({ projectRoot: env.repos });
});

afterAll(async () => {
  await server?.close();
  await env?.dispose();
});

const git = (dir: string, ...args: string[]) => gitSync(dir, args).trim();

/** Pushes one commit changing `file` on `branch` of the bare repository; returns its id. */
const pushCommit = async (repo: FixtureRepo, branch: string, file: string, content: string) => {
  const work = join(env.root, `push-${++repoCounter}`);
  gitSync(env.root, ["clone", "-q", "--branch", branch, repo.bare, work]);
  await writeFile(join(work, file), content);
  gitSync(work, ["add", "--", file]);
  gitSync(work, ["commit", "-q", "-m", `upstream change of ${file}`]);
  gitSync(work, ["push", "-q", "origin", branch]);
  const sha = git(work, "rev-parse", "HEAD");
  await rm(work, { recursive: true, force: true });
  return sha;
};

/**
 * A prebuild: a shallow clone at the remote head, then "snapshotted" and restored elsewhere
 * (copied), after which the remote moves on.
 */
const restoredPrebuild = async (): Promise<{ repo: FixtureRepo; spec: GitCheckoutSpec }> => {
  const repo = await createFixtureRepo(env.repos, `prebuilt-${++repoCounter}`);
  const built = env.spec(server.repoUrl(repo.name));
  await env.client().clone(built);
  const restoredDir = env.checkoutDir();
  await mkdir(join(restoredDir, ".."), { recursive: true });
  await cp(built.checkoutDir, restoredDir, {
    recursive: true,
    preserveTimestamps: true,
    verbatimSymlinks: true,
  });
  await rm(built.checkoutDir, { recursive: true, force: true });
  return { repo, spec: { ...built, checkoutDir: restoredDir } };
};

describe("GitClient.bringToTarget", () => {
  it("remote-head: moves to the new remote head and keeps local and untracked changes", async () => {
    const { repo, spec } = await restoredPrebuild();
    const before = git(spec.checkoutDir, "rev-parse", "HEAD");
    const newTip = await pushCommit(repo, "main", "src/b.txt", "b2\n");
    await writeFile(join(spec.checkoutDir, "README.md"), "# edited in the prebuild\n");
    await writeFile(join(spec.checkoutDir, "untracked.txt"), "u\n");

    const result = await env.client().bringToTarget(spec);
    const dir = spec.checkoutDir;
    expect(result).toMatchObject({
      commitBefore: before,
      commitAfter: newTip,
      commitChanged: true,
      restoredLocalChanges: true,
      localChangesLeftInStash: false,
    });
    expect(git(dir, "symbolic-ref", "--short", "HEAD")).toBe("main");
    expect(git(dir, "rev-parse", "--abbrev-ref", "main@{upstream}")).toBe("origin/main");
    expect(await readFile(join(dir, "src", "b.txt"), "utf8")).toBe("b2\n");
    expect(await readFile(join(dir, "README.md"), "utf8")).toBe("# edited in the prebuild\n");
    expect(await readFile(join(dir, "untracked.txt"), "utf8")).toBe("u\n");
    expect(git(dir, "stash", "list")).toBe("");
    expect(Number(git(dir, "rev-list", "--count", "HEAD"))).toBe(1); // still shallow
  });

  it("nothing to do: same commit, commitChanged false", async () => {
    const { spec } = await restoredPrebuild();
    const result = await env.client().bringToTarget(spec);
    expect(result.commitChanged).toBe(false);
    expect(result.restoredLocalChanges).toBe(false);
  });

  it.each([
    {
      title: "remote-branch: switches to the branch, tracking origin",
      targetMode: "remote-branch",
      branch: "feature",
      pushedTo: "feature",
      upstream: "origin/feature",
    },
    {
      title: "local-branch: a new untracked branch at the remote head",
      targetMode: "local-branch",
      branch: "my-work",
      pushedTo: "main",
      upstream: undefined,
    },
  ] as const)("$title", async ({ targetMode, branch, pushedTo, upstream }) => {
    const { repo, spec } = await restoredPrebuild();
    const tip = await pushCommit(repo, pushedTo, `${pushedTo}.txt`, "new\n");
    await env.client().bringToTarget({ ...spec, targetMode, cloneTarget: branch });
    const dir = spec.checkoutDir;
    expect(git(dir, "symbolic-ref", "--short", "HEAD")).toBe(branch);
    expect(git(dir, "rev-parse", "HEAD")).toBe(tip);
    const tracking = () => git(dir, "rev-parse", "--abbrev-ref", `${branch}@{upstream}`);
    if (upstream === undefined) expect(tracking).toThrow(/no upstream/);
    else expect(tracking()).toBe(upstream);
  });

  it("remote-commit: detaches at an older commit missing from the shallow checkout", async () => {
    const { repo, spec } = await restoredPrebuild();
    const old = repo.commits.main?.[0] as string;
    expect(() => gitSync(spec.checkoutDir, ["cat-file", "-e", `${old}^{commit}`])).toThrow();
    const result = await env
      .client()
      .bringToTarget({ ...spec, targetMode: "remote-commit", cloneTarget: old });
    expect(result.commitAfter).toBe(old);
    expect(() => gitSync(spec.checkoutDir, ["symbolic-ref", "-q", "HEAD"])).toThrow();
  });

  it("a missing branch is a target error and local changes survive", async () => {
    const { spec } = await restoredPrebuild();
    await writeFile(join(spec.checkoutDir, "README.md"), "mine\n");
    const err = await catchError(
      env.client().bringToTarget({ ...spec, targetMode: "remote-branch", cloneTarget: "gone" }),
    );
    expect((err as GitError).reason).toBe("target");
    // the failed move re-applies the stashed change: the tree is as it was
    expect(await readFile(join(spec.checkoutDir, "README.md"), "utf8")).toBe("mine\n");
    expect(git(spec.checkoutDir, "stash", "list")).toBe("");
  });

  it("conflicting local changes stay in the stash instead of being lost", async () => {
    const { repo, spec } = await restoredPrebuild();
    const tip = await pushCommit(repo, "main", "README.md", "# upstream\n");
    await writeFile(join(spec.checkoutDir, "README.md"), "# local\n");
    const result = await env.client().bringToTarget(spec);
    expect(result.localChangesLeftInStash).toBe(true);
    expect(result.commitAfter).toBe(tip);
    expect(await readFile(join(spec.checkoutDir, "README.md"), "utf8")).toBe("# upstream\n");
    expect(git(spec.checkoutDir, "status", "--porcelain")).toBe("");
    expect(git(spec.checkoutDir, "stash", "show", "-p", "stash@{0}")).toContain("+# local");
  });

  it("refuses a directory without a checkout", async () => {
    const dir = env.checkoutDir();
    await mkdir(dir, { recursive: true });
    const err = await catchError(
      env.client().bringToTarget(env.spec(server.repoUrl("x.git"), { checkoutDir: dir })),
    );
    expect((err as GitError).reason).toBe("invalid-argument");
  });
});
