/**
 * Issue 17, finding 1: repository- and workspace-controlled git configuration must not run
 * anything on the node. Each test plants one vector through the real daemon (root, real git,
 * real kernel) and then checks, after every test, that no marker file appeared anywhere (the
 * marker directory stays empty, no `pwned*` file in the working area) and that a bystander
 * workspace, content and .git, is byte for byte unchanged.
 */
import { appendFile, chmod, mkdir, mkdtemp, readdir, rm, stat, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { CloneTargetMode, Code, ConnectError } from "@ws-daemon/api";
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import { startTestDaemon, type TestDaemon } from "../support/daemon-harness.js";
import { isRoot, notRootReason } from "../support/env.js";
import { GitHttpServer } from "../support/git-http-server.js";
import { createFixtureRepo, gitSync } from "../support/git-repo-fixtures.js";
import {
  commitWithSignatureHeader,
  createRepoWithSubmodule,
  findMarkers,
  makeMarkerDir,
  payload,
  treeManifest,
} from "./git-attack-fixtures.js";

if (!isRoot) console.log(notRootReason("git attack tests"));

const metadata = { owner: "attacker", metaId: "attack" };

interface GitInit {
  remoteUri: string;
  targetMode?: CloneTargetMode;
  cloneTarget?: string;
  customConfig?: Record<string, string>;
}

const gitInitializer = (g: GitInit) => ({
  remoteUri: g.remoteUri,
  checkoutLocation: "repo",
  targetMode: g.targetMode ?? CloneTargetMode.REMOTE_HEAD,
  cloneTarget: g.cloneTarget ?? "",
  config: { customConfig: g.customConfig ?? {} },
});

/** An executable shell script in the workspace; returns its path. */
const plantScript = async (dir: string, name: string, body: string): Promise<string> => {
  const path = join(dir, name);
  await writeFile(path, `#!/bin/sh\n${body}\n`);
  await chmod(path, 0o755);
  return path;
};

/** The gRPC code of a failed call, or "ok". */
const outcome = (call: Promise<unknown>): Promise<Code | "ok"> =>
  call.then(
    () => "ok" as const,
    (err: unknown) => (err instanceof ConnectError ? err.code : Code.Unknown),
  );

describe.skipIf(!isRoot)("repository-controlled git configuration runs nothing (as root)", () => {
  let dir: string;
  let markerDir: string;
  let d: TestDaemon;
  let http: GitHttpServer;
  let projectUri: string;
  let withSubUri: string;
  let withSubCommit: string;
  let projectOlderCommit: string;
  let victimBefore: string[];

  const content = () => d.clients().content;
  const checkout = (id: string) => join(d.daemon.manager.contentDir(id), "repo");

  const initGit = (id: string, g: GitInit) =>
    content().initWorkspace({
      id,
      metadata,
      initializer: { spec: { case: "git", value: gitInitializer(g) } },
    });

  /** A workspace cloned from `remoteUri`, edited by `edit` (the workspace user), snapshotted and disposed. */
  const snapshotOf = async (
    id: string,
    remoteUri: string,
    edit: (repo: string) => Promise<void>,
  ): Promise<string> => {
    await initGit(id, { remoteUri });
    await edit(checkout(id));
    const { url } = await content().takeSnapshot({ id });
    await content().disposeWorkspace({ id });
    return url;
  };

  const initPrebuild = (id: string, snapshot: string, remoteUri: string) =>
    content().initWorkspace({
      id,
      metadata,
      initializer: {
        spec: {
          case: "prebuild",
          value: { prebuild: { snapshot }, git: [gitInitializer({ remoteUri })] },
        },
      },
    });

  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), "wsd-git-attack-"));
    markerDir = await makeMarkerDir();
    const repos = join(dir, "repos");
    await mkdir(repos);
    const project = await createFixtureRepo(dir, "project");
    projectUri = `file://${project.bare}`;
    // not the tip: the depth-1 clone lacks it, so the checkout fetches it from origin
    projectOlderCommit = gitSync(project.bare, ["rev-parse", "main~1"]).trim();
    await createFixtureRepo(repos, "sub");
    http = await GitHttpServer.start({ projectRoot: repos });
    const subCommit = gitSync(join(repos, "sub.git"), ["rev-parse", "main"]).trim();
    const withSub = await createRepoWithSubmodule(
      dir,
      "withsub",
      http.repoUrl("sub.git"),
      subCommit,
    );
    withSubUri = `file://${withSub}`;
    withSubCommit = gitSync(withSub, ["rev-parse", "main"]).trim();
    // the submodule's server listens on 127.0.0.1, which the default network policy refuses
    d = await startTestDaemon({ git: { allowFileRemotes: true, allowPrivateNetworks: true } });
    await initGit("victim", { remoteUri: projectUri });
    gitSync(checkout("victim"), ["checkout", "-q", "-b", "victim-secret"]);
    victimBefore = await treeManifest(d.daemon.manager.contentDir("victim"));
  });

  afterAll(async () => {
    await d?.stop();
    await http?.close();
    await rm(dir, { recursive: true, force: true });
    await rm(markerDir, { recursive: true, force: true });
  });

  // Each test is judged on its own: what it left behind is recorded, cleared, then asserted.
  afterEach(async () => {
    const markers = await readdir(markerDir);
    const planted = await findMarkers(d.dir);
    const victim = await treeManifest(d.daemon.manager.contentDir("victim"));
    const victimChanged = victim.join("\n") !== victimBefore.join("\n");
    for (const name of markers) await rm(join(markerDir, name), { force: true });
    for (const path of planted) await rm(path, { recursive: true, force: true });
    const expected = victimBefore;
    victimBefore = victim;
    expect(markers).toEqual([]);
    expect(planted).toEqual([]);
    if (victimChanged) expect(victim).toEqual(expected);
  });

  it("content cloned by the daemon belongs to the workspace user (33333), its directory too", async () => {
    await initGit("ws-owner", { remoteUri: projectUri });
    for (const path of [
      d.daemon.manager.contentDir("ws-owner"),
      checkout("ws-owner"),
      join(checkout("ws-owner"), "README.md"),
      join(checkout("ws-owner"), ".git", "config"),
    ]) {
      expect(await stat(path)).toMatchObject({ uid: 33333, gid: 33333 });
    }
    await content().disposeWorkspace({ id: "ws-owner" });
  });

  it("a clean filter in the workspace's .git/config does not run at dispose", async () => {
    await initGit("ws-filter", { remoteUri: projectUri });
    const repo = checkout("ws-filter");
    await writeFile(join(repo, ".gitattributes"), "* filter=x\n");
    await appendFile(
      join(repo, ".git", "config"),
      `[filter "x"]\n\tclean = ${payload(markerDir, "filter-clean")}\n\tsmudge = ${payload(markerDir, "filter-smudge")}\n\tprocess = ${payload(markerDir, "filter-process")}\n`,
    );
    await writeFile(join(repo, "README.md"), "touched by the workspace user\n");
    const { gitStatus } = await content().disposeWorkspace({ id: "ws-filter" });
    expect(gitStatus?.uncommittedFiles ?? []).toContain("README.md");
  });

  it("log.showSignature with gpg.program does not run at dispose", async () => {
    await initGit("ws-sig", { remoteUri: projectUri });
    const repo = checkout("ws-sig");
    // gpg.program is executed without a shell: it names a program, here one in the workspace
    const gpg = await plantScript(repo, "gpg.sh", payload(markerDir, "gpg"));
    await appendFile(
      join(repo, ".git", "config"),
      `[log]\n\tshowSignature = true\n[gpg]\n\tprogram = ${gpg}\n[gpg "openpgp"]\n\tprogram = ${gpg}\n`,
    );
    commitWithSignatureHeader(repo);
    const { gitStatus } = await content().disposeWorkspace({ id: "ws-sig" });
    expect(gitStatus?.totalUnpushedCommits).toBe(1n);
  });

  it("submodule.<n>.update=!cmd from a prebuild snapshot's config does not run", async () => {
    const snapshot = await snapshotOf("pre-submodule", withSubUri, async (repo) => {
      // the submodule is cloned again by the checkout steps, which then "update" it
      await rm(join(repo, "sub"), { recursive: true, force: true });
      await rm(join(repo, ".git", "modules"), { recursive: true, force: true });
      await appendFile(
        join(repo, ".git", "config"),
        `[submodule "sub"]\n\tupdate = !${payload(markerDir, "submodule-update")}\n`,
      );
    });
    await outcome(initPrebuild("ws-submodule", snapshot, withSubUri));
  });

  it("core.gitProxy (reached through url.*.insteadOf) from a prebuild snapshot does not run", async () => {
    const proxy = join(checkout("ws-proxy"), "proxy.sh");
    const snapshot = await snapshotOf("pre-proxy", projectUri, async (repo) => {
      // core.gitProxy is executed without a shell, with host and port as arguments
      await plantScript(repo, "proxy.sh", payload(markerDir, "git-proxy"));
      await appendFile(
        join(repo, ".git", "config"),
        `[core]\n\tgitProxy = ${proxy}\n[url "git://127.0.0.1:9/"]\n\tinsteadOf = file://\n`,
      );
    });
    await outcome(initPrebuild("ws-proxy", snapshot, projectUri));
  });

  it("a .git gitfile pointing at another workspace is not followed by status, stash or reset", async () => {
    const victimGit = join(checkout("victim"), ".git");
    const snapshot = await snapshotOf("pre-gitfile", projectUri, async (repo) => {
      await rm(join(repo, ".git"), { recursive: true, force: true });
      await writeFile(join(repo, ".git"), `gitdir: ${victimGit}\n`);
      await writeFile(join(repo, "README.md"), "local change to be stashed\n");
    });
    if ((await outcome(initPrebuild("ws-gitfile", snapshot, projectUri))) === "ok") {
      const { gitStatus } = await content().disposeWorkspace({ id: "ws-gitfile" });
      expect(gitStatus?.branch).not.toBe("victim-secret");
    }
  });

  describe("custom_config", () => {
    it("core.worktree pointing at another workspace is INVALID_ARGUMENT", async () => {
      const code = await outcome(
        initGit("ws-worktree", {
          remoteUri: withSubUri,
          targetMode: CloneTargetMode.REMOTE_COMMIT,
          cloneTarget: withSubCommit,
          customConfig: { "core.worktree": checkout("victim") },
        }),
      );
      expect(code).toBe(Code.InvalidArgument);
    });

    it("submodule.<n>.update=!cmd is INVALID_ARGUMENT", async () => {
      const code = await outcome(
        initGit("ws-cc-submodule", {
          remoteUri: withSubUri,
          customConfig: { "submodule.sub.update": `!${payload(markerDir, "cc-submodule")}` },
        }),
      );
      expect(code).toBe(Code.InvalidArgument);
    });

    for (const [mode, target] of [
      [CloneTargetMode.LOCAL_BRANCH, "attack"],
      [CloneTargetMode.REMOTE_COMMIT, "commit"],
    ] as const) {
      it(`a key with '=' (remote.origin.uploadpack=<cmd> #.a) is INVALID_ARGUMENT (${CloneTargetMode[mode]})`, async () => {
        const name = `uploadpack-${target}`;
        const code = await outcome(
          initGit(`ws-${name}`, {
            remoteUri: projectUri,
            targetMode: mode,
            cloneTarget: target === "commit" ? projectOlderCommit : target,
            customConfig: { [`remote.origin.uploadpack=${payload(markerDir, name)} #.a`]: "x" },
          }),
        );
        if (code === "ok") {
          // the half before the first '=' became the key: the command waits for the next fetch
          const persisted = gitSync(
            checkout(`ws-${name}`),
            ["config", "--get-all", "remote.origin.uploadpack"],
            "/",
          ).trim();
          expect(persisted).toBe("");
        }
        expect(code).toBe(Code.InvalidArgument);
      });
    }
  });
});
