/**
 * Issue 17: the network policy for git remotes through the real daemon (root, confined git) with
 * its production default (`git.allowPrivateNetworks` false): a git server on loopback stands for
 * everything only the node should reach. The caller gets PERMISSION_DENIED, as for downloads,
 * and the server never sees a request.
 */
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { CloneTargetMode, Code, ConnectError, GitAuthMethod } from "@ws-daemon/api";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { startTestDaemon, type TestDaemon } from "../support/daemon-harness.js";
import { isRoot, notRootReason } from "../support/env.js";
import { GitHttpServer } from "../support/git-http-server.js";
import { createFixtureRepo } from "../support/git-repo-fixtures.js";

if (!isRoot) console.log(notRootReason("git network policy tests through the daemon"));

const metadata = { owner: "attacker", metaId: "attack" };

const codeOf = (call: Promise<unknown>): Promise<Code | "ok"> =>
  call.then(
    () => "ok" as const,
    (err: unknown) => (err instanceof ConnectError ? err.code : Code.Unknown),
  );

describe.skipIf(!isRoot)("git remotes and the daemon's network policy (as root)", () => {
  let dir: string;
  let internal: GitHttpServer;
  let d: TestDaemon;

  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), "wsd-git-net-"));
    await createFixtureRepo(dir, "project");
    internal = await GitHttpServer.start({ projectRoot: dir });
    d = await startTestDaemon({});
  });

  afterAll(async () => {
    await d?.stop();
    await internal?.close();
    await rm(dir, { recursive: true, force: true });
  });

  const init = (id: string, remoteUri: string, config: Record<string, unknown> = {}) =>
    d.clients().content.initWorkspace({
      id,
      metadata,
      initializer: {
        spec: {
          case: "git",
          value: {
            remoteUri,
            checkoutLocation: "repo",
            targetMode: CloneTargetMode.REMOTE_HEAD,
            cloneTarget: "",
            config,
          },
        },
      },
    });

  it("an http remote on 127.0.0.1 is PERMISSION_DENIED and the server sees nothing", async () => {
    expect(await codeOf(init("net-loopback", internal.repoUrl("project.git")))).toBe(
      Code.PermissionDenied,
    );
    expect(internal.requests).toEqual([]);
  });

  it("a remote at the metadata address is PERMISSION_DENIED", async () => {
    expect(await codeOf(init("net-metadata", "http://169.254.169.254/latest/x.git"))).toBe(
      Code.PermissionDenied,
    );
  });

  it("a one-time secret URL on 127.0.0.1 is PERMISSION_DENIED and is not fetched", async () => {
    const ots = internal.createOts("user", "pass");
    const code = await codeOf(
      // a public address (never contacted: the secret is fetched first, and refused)
      init("net-ots", "https://8.8.8.8/project.git", {
        authentication: GitAuthMethod.BASIC_AUTH_OTS,
        authOts: ots,
      }),
    );
    expect(code).toBe(Code.PermissionDenied);
    expect(internal.otsHits(ots)).toBe(0);
  });
});
