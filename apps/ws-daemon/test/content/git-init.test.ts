import { execFileSync } from "node:child_process";
import { lstat, mkdir, readdir, readFile, symlink, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { beforeEach, describe, expect, it } from "vitest";
import type {
  GitInitializerSpec,
  InitializerSpec,
  WorkspaceContentManager,
} from "../../src/content/index.js";
import { sha256Digest } from "../support/http-file-server.js";
import { gitInitializer, metadata, useContentArea, useFileServer } from "./fixtures.js";

const gitEnv = {
  PATH: process.env.PATH ?? "/usr/bin:/bin",
  HOME: "/nonexistent",
  GIT_CONFIG_GLOBAL: "/dev/null",
  GIT_CONFIG_NOSYSTEM: "1",
  GIT_AUTHOR_NAME: "Test",
  GIT_AUTHOR_EMAIL: "test@example.com",
  GIT_COMMITTER_NAME: "Test",
  GIT_COMMITTER_EMAIL: "test@example.com",
};
const git = (cwd: string, ...args: string[]) =>
  execFileSync("git", args, { cwd, env: gitEnv, encoding: "utf8" }).trim();

const server = useFileServer();
const area = useContentArea();
let manager: WorkspaceContentManager;
let work: string;
let remote: string;

beforeEach(async () => {
  const { root } = area.dirs;
  work = join(root, "work");
  const bare = join(root, "origin.git");
  await mkdir(work);
  git(work, "init", "-q", "-b", "main");
  await writeFile(join(work, "README.md"), "hello\n");
  await mkdir(join(work, "src"));
  await writeFile(join(work, "src/app.ts"), "export {}\n");
  git(work, "add", "-A");
  git(work, "commit", "-q", "-m", "initial");
  git(work, "branch", "feature");
  git(root, "clone", "-q", "--bare", work, bare);
  git(work, "remote", "add", "origin", bare);
  remote = `file://${bare}`;
  manager = await area.open();
});

const gitSpec = (over: Partial<GitInitializerSpec> = {}) => gitInitializer(remote, over);

describe("git initializer", () => {
  it("clones into the checkout location and dispose reports its git status", async () => {
    const record = await manager.init({
      id: "g1",
      metadata,
      initializer: { kind: "git", ...gitSpec() },
    });
    expect(record.initResult?.stats[0]).toMatchObject({
      kind: "git",
      files: expect.any(Number),
      bytes: expect.any(Number),
    });
    expect(record.initResult?.stats[0]?.bytes).toBeGreaterThan(0);
    const repo = join(manager.contentDir("g1"), "repo");
    expect(await readFile(join(repo, "README.md"), "utf8")).toBe("hello\n");

    await writeFile(join(repo, "README.md"), "changed\n");
    await writeFile(join(repo, "new file with spaces.txt"), "x");
    const result = await manager.dispose("g1");
    expect(result.gitStatus).toMatchObject({
      branch: "main",
      latestCommit: git(work, "rev-parse", "HEAD"),
      uncommittedFiles: ["README.md"],
      untrackedFiles: ["new file with spaces.txt"],
      totalUncommittedFiles: 1,
      totalUntrackedFiles: 1,
    });
    await expect(lstat(repo)).rejects.toMatchObject({ code: "ENOENT" });
  });

  it("maps a missing branch to failed-precondition and a missing repository to not-found", async () => {
    await expect(
      manager.init({
        id: "g2",
        metadata,
        initializer: {
          kind: "git",
          ...gitSpec({
            targetMode: "remote-commit",
            cloneTarget: "0123456789abcdef0123456789abcdef01234567",
          }),
        },
      }),
    ).rejects.toMatchObject({ kind: "failed-precondition" });
    await expect(
      manager.init({
        id: "g3",
        metadata,
        initializer: {
          kind: "git",
          ...gitSpec({ remoteUri: `file://${area.dirs.root}/nope.git` }),
        },
      }),
    ).rejects.toMatchObject({ kind: "not-found" });
    for (const id of ["g2", "g3"])
      await expect(lstat(manager.contentDir(id))).rejects.toMatchObject({ code: "ENOENT" });
  });

  it("refuses to follow a symlink that a cloned repository contains", async () => {
    const outside = join(area.dirs.root, "outside");
    await mkdir(outside);
    await symlink(outside, join(work, "evil"));
    git(work, "add", "evil");
    git(work, "commit", "-q", "-m", "link");
    git(work, "push", "-q", "origin", "main");
    const url = server.serve("/payload", "payload");
    const spec: InitializerSpec = {
      kind: "composite",
      initializers: [
        { kind: "git", ...gitSpec({ checkoutLocation: "" }) },
        {
          kind: "download",
          targetLocation: "evil",
          files: [{ url, filePath: "pwned", digest: sha256Digest("payload") }],
        },
      ],
    };
    await expect(manager.init({ id: "g4", metadata, initializer: spec })).rejects.toMatchObject({
      kind: "invalid-argument",
      message: expect.stringContaining("symlink"),
    });
    expect(await readdir(outside)).toEqual([]);
  });

  it("does not follow a .ws-daemon symlink from the repository when writing the ready marker", async () => {
    const outside = join(area.dirs.root, "outside-marker");
    await mkdir(outside);
    await symlink(outside, join(work, ".ws-daemon"));
    git(work, "add", ".ws-daemon");
    git(work, "commit", "-q", "-m", "marker link");
    git(work, "push", "-q", "origin", "main");
    await manager.init({
      id: "g5",
      metadata,
      initializer: { kind: "git", ...gitSpec({ checkoutLocation: "" }) },
    });
    expect(await readdir(outside)).toEqual([]);
    const daemonDir = join(manager.contentDir("g5"), ".ws-daemon");
    expect((await lstat(daemonDir)).isDirectory()).toBe(true);
    expect(JSON.parse(await readFile(join(daemonDir, "ready.json"), "utf8")).source).toBe(
      "from-other",
    );
  });
});

describe("prebuild initializer", () => {
  it("restores the snapshot, then brings the checkout to the new remote head", async () => {
    await manager.init({ id: "pb-src", metadata, initializer: { kind: "git", ...gitSpec() } });
    await writeFile(
      join(manager.contentDir("pb-src"), "repo/build-output.txt"),
      "built by the prebuild",
    );
    const { url } = await manager.takeSnapshot("pb-src");

    await writeFile(join(work, "README.md"), "newer\n");
    git(work, "commit", "-q", "-am", "newer");
    git(work, "push", "-q", "origin", "main");

    const record = await manager.init({
      id: "pb",
      metadata,
      initializer: { kind: "prebuild", snapshot: { snapshot: url }, git: [gitSpec()] },
    });
    expect(record.initResult).toMatchObject({
      source: "from-prebuild",
      stats: [{ kind: "prebuild", prebuildSource: "snapshot" }],
    });
    const repo = join(manager.contentDir("pb"), "repo");
    expect(await readFile(join(repo, "build-output.txt"), "utf8")).toBe("built by the prebuild");
    expect(await readFile(join(repo, "README.md"), "utf8")).toBe("newer\n");
    expect(git(repo, "rev-parse", "HEAD")).toBe(git(work, "rev-parse", "HEAD"));
  });

  it("the directories of a nested checkout location belong to the workspace user", async () => {
    // the daemon runs git as this user; here git runs as the test's user, so only the
    // directories the initializer creates on the way are checked
    const owner = { uid: 33333, gid: 33334 };
    const owned = await area.open({ config: { contentOwner: owner } });
    await owned.init({
      id: "nested",
      metadata,
      initializer: { kind: "git", ...gitSpec({ checkoutLocation: "a/b/repo" }) },
    });
    const root = owned.contentDir("nested");
    for (const dir of ["a", "a/b"]) {
      const st = await lstat(join(root, dir));
      expect({ dir, uid: st.uid, gid: st.gid, mode: st.mode & 0o7777 }).toEqual({
        dir,
        ...owner,
        mode: 0o755,
      });
    }
    expect(await readFile(join(root, "a/b/repo/README.md"), "utf8")).toBe("hello\n");
  });

  it("falls back to plain clones when the snapshot cannot be restored, and says so", async () => {
    const missing = "wsd-snapshot:workspaces/owner-1/meta-1/snapshots/20260101T000000000Z-0123abcd";
    const record = await manager.init({
      id: "pb-fb",
      metadata,
      initializer: {
        kind: "prebuild",
        snapshot: { snapshot: missing },
        git: [
          gitSpec(),
          gitSpec({
            checkoutLocation: "second",
            targetMode: "remote-branch",
            cloneTarget: "feature",
          }),
        ],
      },
    });
    expect(record.initResult).toMatchObject({
      source: "from-other",
      stats: [{ kind: "prebuild", prebuildSource: "git-fallback" }],
    });
    expect(await readFile(join(manager.contentDir("pb-fb"), "repo/README.md"), "utf8")).toBe(
      "hello\n",
    );
    expect(
      git(join(manager.contentDir("pb-fb"), "second"), "rev-parse", "--abbrev-ref", "HEAD"),
    ).toBe("feature");
  });
});
