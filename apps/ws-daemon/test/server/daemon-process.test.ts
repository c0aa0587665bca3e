/**
 * The daemon as a real process: state survives SIGKILL in the middle of an init, SIGTERM lets
 * running work finish, a second signal exits at once and leaves consistent state.
 */
import { existsSync } from "node:fs";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import * as path from "node:path";
import { Code, statusOf, WorkspaceContentState } from "@ws-daemon/api";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { spawnDaemon } from "../support/daemon-process.js";
import { HttpFileServer, sha256Digest } from "../support/http-file-server.js";

let cwd: string;
let files: HttpFileServer;
beforeEach(async () => {
  cwd = await mkdtemp(path.join(tmpdir(), "wsd-proc-"));
  files = await HttpFileServer.start();
});
afterEach(async () => {
  await files.close();
  await rm(cwd, { recursive: true, force: true });
});

/** An InitWorkspace whose download waits for `release()`. */
function gatedInit(id: string) {
  let release!: () => void;
  const gate = new Promise<void>((r) => {
    release = r;
  });
  const body = "hello from a slow server\n";
  const url = files.serve(`/${id}.txt`, { body, gate });
  const request = {
    id,
    metadata: { owner: "o", metaId: id },
    initializer: {
      spec: {
        case: "download" as const,
        value: {
          targetLocation: "dl",
          files: [{ url, filePath: "hello.txt", digest: sha256Digest(body) }],
        },
      },
    },
  };
  return { request, release };
}

/** The init is really running once its download reached the server. */
async function untilRequested(path: string) {
  for (let i = 0; i < 200 && !files.requests.includes(path); i++)
    await new Promise((r) => setTimeout(r, 50));
  if (!files.requests.includes(path)) throw new Error(`${path} was never requested`);
}

async function untilState(
  get: () => Promise<{ state: WorkspaceContentState }>,
  state: WorkspaceContentState,
) {
  for (let i = 0; i < 200; i++) {
    if ((await get()).state === state) return;
    await new Promise((r) => setTimeout(r, 50));
  }
  throw new Error(`state ${WorkspaceContentState[state]} not reached`);
}

describe("daemon process", () => {
  it("reports an init interrupted by SIGKILL as failed after a restart, and allows a new init", async () => {
    const first = await spawnDaemon(cwd);
    const { request, release } = gatedInit("ws-killed");
    const pending = first
      .clients()
      .content.initWorkspace(request)
      .then(
        () => undefined,
        (e: unknown) => statusOf(e),
      );
    await untilRequested("/ws-killed.txt");
    first.child.kill("SIGKILL");
    expect(await first.exited).toBe("SIGKILL");
    // The connection dies with the process; connect-node reports the reset stream as CANCELED.
    expect([Code.Unavailable, Code.Canceled]).toContain((await pending)?.code);
    release();

    const second = await spawnDaemon(cwd);
    try {
      const { content } = second.clients();
      const state = await content.getWorkspaceState({ id: "ws-killed" });
      expect(state.state).toBe(WorkspaceContentState.NONE);
      expect(state.initError).toMatch(/restart/);
      expect(await content.waitForInit({ id: "ws-killed" }).catch(statusOf)).toMatchObject({
        code: Code.FailedPrecondition,
      });
      expect(existsSync(path.join(cwd, ".ws-daemon-data/workspaces/ws-killed/dl/hello.txt"))).toBe(
        false,
      );
      await content.initWorkspace(request);
      expect((await content.getWorkspaceState({ id: "ws-killed" })).state).toBe(
        WorkspaceContentState.AVAILABLE,
      );
    } finally {
      second.child.kill("SIGTERM");
      expect(await second.exited).toBe(0);
    }
  });

  it("on SIGTERM lets a running init finish, then exits 0 with the workspace persisted", async () => {
    const first = await spawnDaemon(cwd, ["--shutdownGraceMs=20000"]);
    const { request, release } = gatedInit("ws-graceful");
    const { content } = first.clients();
    const pending = content.initWorkspace(request);
    await untilState(
      () => content.getWorkspaceState({ id: "ws-graceful" }),
      WorkspaceContentState.SETTING_UP,
    );
    first.child.kill("SIGTERM");
    await new Promise((r) => setTimeout(r, 300));
    expect(first.child.exitCode).toBeNull();
    release();
    await pending;
    expect(await first.exited).toBe(0);

    const second = await spawnDaemon(cwd);
    try {
      const state = await second.clients().content.getWorkspaceState({ id: "ws-graceful" });
      expect(state.state).toBe(WorkspaceContentState.AVAILABLE);
    } finally {
      second.child.kill("SIGTERM");
      await second.exited;
    }
  });

  it("exits at once on a second signal, leaving state a restart can read", async () => {
    const first = await spawnDaemon(cwd, ["--shutdownGraceMs=60000"]);
    const { request, release } = gatedInit("ws-forced");
    const { content } = first.clients();
    content.initWorkspace(request).catch(() => undefined);
    await untilRequested("/ws-forced.txt");
    first.child.kill("SIGTERM");
    await new Promise((r) => setTimeout(r, 200));
    first.child.kill("SIGTERM");
    expect(await first.exited).toBe(1);
    release();

    const second = await spawnDaemon(cwd);
    try {
      const state = await second.clients().content.getWorkspaceState({ id: "ws-forced" });
      expect(state.state).toBe(WorkspaceContentState.NONE);
      expect(state.initError).not.toBe("");
    } finally {
      second.child.kill("SIGTERM");
      await second.exited;
    }
  });
});
