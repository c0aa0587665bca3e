import { chmod, chown, mkdir, readdir, symlink, writeFile } from "node:fs/promises";
import path from "node:path";
import { setTimeout as sleep } from "node:timers/promises";
import { WorkspaceContentState } from "@ws-daemon/api";
import { afterAll, beforeAll, describe, expect, inject, it } from "vitest";
import { cleanUp, disposeQuietly } from "./support/cleanup.js";
import { execOk } from "./support/containers.js";
import {
  createWorkingArea,
  type RunningDaemon,
  removeWorkingArea,
  startDaemon,
} from "./support/daemon-container.js";
import { createRepository } from "./support/git-server.js";
import { runCommand } from "./support/run-command.js";
import { ownedByWorkspaceUser, treeManifest } from "./support/tree-manifest.js";
import { uniqueWorkspaceId } from "./support/workspace-ids.js";

const image = inject("daemonImage");

const git = async (dir: string, ...args: string[]) =>
  (
    await runCommand("git", [
      "-c",
      `safe.directory=${dir}`,
      "-c",
      "user.name=e2e",
      "-c",
      "user.email=e2e@example.invalid",
      "-C",
      dir,
      ...args,
    ])
  ).stdout.trim();

/**
 * A workspace's life up to its end: the user's work (an unpushed commit on a new branch, an
 * uncommitted change, untracked files, odd modes, a symlink, a foreign owner) is backed up,
 * the workspace disposed with its git status reported, and a new workspace of the same
 * owner/project restored from the backup, identical down to modes, owners and link targets.
 */
describe.skipIf(inject("placeholderBundle"))("backup, dispose with git status, restore", () => {
  const owner = "e2e-owner";
  const metaId = uniqueWorkspaceId("project");
  const first = uniqueWorkspaceId("bk-first");
  const second = uniqueWorkspaceId("bk-second");
  let area: string;
  let daemon: RunningDaemon;
  let before: string[];

  beforeAll(async () => {
    area = await createWorkingArea();
    // The upstream repository lives in the daemon container; the workspace clones it via file://,
    // which the daemon accepts only when configured to.
    daemon = await startDaemon({
      image,
      workingArea: area,
      extraArgs: ["--git.allowFileRemotes=true"],
    });
    await execOk(daemon.container, ["sh", "-c", createRepository]);
  });

  afterAll(async () => {
    await cleanUp(
      () => disposeQuietly(daemon, [first, second]),
      () => daemon?.container.stop(),
      () => removeWorkingArea(area),
    );
  });

  it("backs up a workspace with the user's work in it", async () => {
    const { content } = daemon.clients();
    await content.initWorkspace({
      id: first,
      metadata: { owner, metaId },
      initializer: {
        spec: {
          case: "git",
          value: { remoteUri: "file:///srv/git/project.git", checkoutLocation: "project" },
        },
      },
    });
    const checkout = path.join(daemon.contentDir(first), "project");
    await git(checkout, "checkout", "-q", "-b", "work");
    await writeFile(path.join(checkout, "committed.txt"), "not pushed yet\n");
    await git(checkout, "add", "committed.txt");
    await git(checkout, "commit", "-q", "-m", "local work");
    await writeFile(path.join(checkout, "README.md"), "changed, not committed\n");
    await writeFile(path.join(checkout, "untracked.txt"), "new\n");
    await mkdir(path.join(checkout, "notes", "deep"), { recursive: true });
    await writeFile(path.join(checkout, "notes", "deep", "todo.md"), "- restore me\n");
    await chmod(path.join(checkout, "notes", "deep", "todo.md"), 0o640);
    await mkdir(path.join(checkout, "empty-dir"));
    await symlink("../README.md", path.join(checkout, "notes", "readme-up"));
    await symlink("/nonexistent/target", path.join(checkout, "dangling"));
    await writeFile(path.join(checkout, "owned-by-workspace-user.txt"), "uid 33333\n");
    await chown(path.join(checkout, "owned-by-workspace-user.txt"), 33333, 33333);
    // Past git's racy-timestamp window, so the status below settles the index for good.
    await sleep(1_100);
    await git(checkout, "status", "--porcelain");
    before = await treeManifest(daemon.contentDir(first));

    const { url } = await content.backupWorkspace({ id: first });
    expect(url).not.toBe("");
  });

  it("disposes with a backup and reports the git status", async () => {
    const { content } = daemon.clients();
    const { gitStatus } = await content.disposeWorkspace({ id: first, backup: true });
    expect(gitStatus?.branch).toBe("work");
    expect(gitStatus?.uncommittedFiles).toEqual(["README.md"]);
    expect(gitStatus?.untrackedFiles).toEqual(
      expect.arrayContaining(["untracked.txt", "owned-by-workspace-user.txt", "dangling"]),
    );
    expect(gitStatus?.totalUncommittedFiles).toBe(1n);
    expect(gitStatus?.totalUnpushedCommits).toBe(1n);
    expect(gitStatus?.unpushedCommits[0]).toContain("local work");
    expect(gitStatus?.latestCommit).toMatch(/^[0-9a-f]{40}$/);

    expect((await content.isWorkspaceExists({ id: first })).exists).toBe(false);
    expect(await readdir(area)).not.toContain(first);
  });

  it("restores the backup into a new workspace of the same owner and project, identical", async () => {
    const { content } = daemon.clients();
    await content.initWorkspace({
      id: second,
      metadata: { owner, metaId },
      initializer: { spec: { case: "backup", value: { checkoutLocation: "project" } } },
    });
    const state = await content.getWorkspaceState({ id: second });
    expect(state.state).toBe(WorkspaceContentState.AVAILABLE);
    // identical, except that everything restored belongs to the workspace user (issue 17)
    expect(await treeManifest(daemon.contentDir(second))).toEqual(ownedByWorkspaceUser(before));
  });
});
