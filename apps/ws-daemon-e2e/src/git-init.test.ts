import { lstat, readFile, readlink } from "node:fs/promises";
import path from "node:path";
import {
  CloneTargetMode,
  Code,
  GitAuthMethod,
  statusOf,
  WorkspaceContentState,
} from "@ws-daemon/api";
import { Network, type StartedNetwork } from "testcontainers";
import { afterAll, beforeAll, describe, expect, inject, it } from "vitest";
import { cleanUp, disposeQuietly } from "./support/cleanup.js";
import {
  createWorkingArea,
  type RunningDaemon,
  removeWorkingArea,
  startDaemon,
  trustedClientTls,
} from "./support/daemon-container.js";
import { GIT_PASSWORD, GIT_USER, type GitServer, startGitServer } from "./support/git-server.js";
import { grpc, independentContentClient } from "./support/grpc-js-client.js";
import { runCommand } from "./support/run-command.js";
import { uniqueWorkspaceId } from "./support/workspace-ids.js";

const image = inject("daemonImage");

const gitInitializer = (
  repoUrl: string,
  password: string,
  target: { mode: CloneTargetMode; ref: string } = { mode: CloneTargetMode.REMOTE_HEAD, ref: "" },
) => ({
  spec: {
    case: "git" as const,
    value: {
      remoteUri: repoUrl,
      checkoutLocation: "project",
      targetMode: target.mode,
      cloneTarget: target.ref,
      config: {
        authentication: GitAuthMethod.BASIC_AUTH,
        authUser: GIT_USER,
        authPassword: password,
      },
    },
  },
});

/** Git in the workspace checkout, as the host sees it through the shared working area. */
const git = async (dir: string, ...args: string[]) =>
  (await runCommand("git", ["-c", `safe.directory=${dir}`, "-C", dir, ...args])).stdout.trim();

describe.skipIf(inject("placeholderBundle"))("init from a git server with basic auth", () => {
  let network: StartedNetwork;
  let area: string;
  let gitServer: GitServer;
  let daemon: RunningDaemon;
  const ids: string[] = [];

  beforeAll(async () => {
    network = await new Network().start();
    area = await createWorkingArea();
    [gitServer, daemon] = await Promise.all([
      startGitServer(image, network),
      startDaemon({ image, workingArea: area, network }),
    ]);
  });

  afterAll(async () => {
    await cleanUp(
      () => disposeQuietly(daemon, ids),
      () => daemon?.container.stop(),
      () => gitServer?.container.stop(),
      () => network?.stop(),
      () => removeWorkingArea(area),
    );
  });

  it("clones the default branch over gRPC, without leaving the password in the checkout", async () => {
    const id = uniqueWorkspaceId("git-head");
    ids.push(id);
    const { content } = daemon.clients("grpc");
    await content.initWorkspace({
      id,
      metadata: { owner: "e2e", metaId: "git" },
      initializer: gitInitializer(gitServer.repoUrl, GIT_PASSWORD),
    });
    await content.waitForInit({ id });

    const checkout = path.join(daemon.contentDir(id), "project");
    expect(await readFile(path.join(checkout, "README.md"), "utf8")).toBe(
      "hello from the git server\n",
    );
    expect((await lstat(path.join(checkout, "run.sh"))).mode & 0o111).not.toBe(0);
    expect(await readlink(path.join(checkout, "readme-link"))).toBe("README.md");
    expect(await git(checkout, "rev-parse", "HEAD")).toBe(await gitServer.revParse("main"));
    expect(await git(checkout, "rev-parse", "--abbrev-ref", "HEAD")).toBe("main");

    const gitDir = path.join(checkout, ".git");
    const config = await readFile(path.join(gitDir, "config"), "utf8");
    expect(config).not.toContain(GIT_PASSWORD);
    // The server really asked for credentials (git's first request goes without them).
    expect(await gitServer.deniedRequests()).toBeGreaterThan(0);
  });

  it("checks out a remote branch, and reports the workspace over Connect and gRPC-Web", async () => {
    const id = uniqueWorkspaceId("git-branch");
    ids.push(id);
    await daemon.clients("grpc").content.initWorkspace({
      id,
      metadata: { owner: "e2e", metaId: "git-branch" },
      initializer: gitInitializer(gitServer.repoUrl, GIT_PASSWORD, {
        mode: CloneTargetMode.REMOTE_BRANCH,
        ref: "feature",
      }),
    });
    const checkout = path.join(daemon.contentDir(id), "project");
    expect(await git(checkout, "rev-parse", "HEAD")).toBe(await gitServer.revParse("feature"));
    expect(await readFile(path.join(checkout, "feature.txt"), "utf8")).toBe("feature\n");

    const overConnect = await daemon.clients("connect").content.getWorkspaceState({ id });
    expect(overConnect.state).toBe(WorkspaceContentState.AVAILABLE);
    expect(overConnect.metadata).toMatchObject({ owner: "e2e", metaId: "git-branch" });
    expect(overConnect.initError).toBe("");

    const overGrpcWeb = await daemon.clients("grpc-web").content.isWorkspaceExists({ id });
    expect(overGrpcWeb.exists).toBe(true);
  });

  it("fails the init on a wrong password without echoing it", async () => {
    const id = uniqueWorkspaceId("git-denied");
    ids.push(id);
    const wrong = "not-the-password-xyz";
    const { content } = daemon.clients("grpc");
    const error = await content
      .initWorkspace({
        id,
        metadata: { owner: "e2e", metaId: "git-denied" },
        initializer: gitInitializer(gitServer.repoUrl, wrong),
      })
      .then(
        () => undefined,
        (e: unknown) => statusOf(e),
      );
    expect(error?.code).toBe(Code.Unauthenticated);
    expect(error?.message).not.toContain(wrong);
    expect(error?.message).not.toContain(GIT_PASSWORD);
    // The failed workspace stays known, with its failure, until it is disposed.
    const state = await content.getWorkspaceState({ id });
    expect(state.initError).not.toBe("");
    expect(state.initError).not.toContain(wrong);
    const waited = await content.waitForInit({ id }).then(
      () => undefined,
      (e: unknown) => statusOf(e).code,
    );
    // known but failed: WaitForInit says why instead of NOT_FOUND
    expect(waited).toBe(Code.FailedPrecondition);
  });

  it("answers an independent @grpc/grpc-js client built from the .proto files", async () => {
    const id = ids[0] as string;
    const client = independentContentClient(daemon.hostPort(), trustedClientTls());
    try {
      expect(await client.call("isWorkspaceExists", { id })).toEqual({ exists: true });
      const state = await client.call<{ state: string; metadata: { owner: string } }>(
        "getWorkspaceState",
        { id },
      );
      expect(state.state).toBe("AVAILABLE");
      expect(state.metadata.owner).toBe("e2e");
      const missing = await client.call("waitForInit", { id: "no-such-workspace" }).then(
        () => undefined,
        (e: grpc.ServiceError) => e.code,
      );
      expect(missing).toBe(grpc.status.NOT_FOUND);
    } finally {
      client.close();
    }
  });
});
