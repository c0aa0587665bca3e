import { rm } from "node:fs/promises";
import {
  Code,
  createDaemonTransport,
  createInWorkspaceClients,
  statusOf,
  WorkspaceContentState,
} from "@ws-daemon/api";
import { describe, expect, it } from "vitest";
import { startTestDaemon } from "../support/daemon-harness.js";

describe("daemon restart", () => {
  it("keeps every workspace, its state and its in-workspace socket", async () => {
    const first = await startTestDaemon({}, { keepDir: true });
    const { content } = first.clients();
    for (const id of ["ws-a", "ws-b"]) {
      await content.initWorkspace({
        id,
        metadata: { owner: "o", metaId: id },
        initializer: { spec: { case: "empty", value: {} } },
      });
    }
    await content.disposeWorkspace({ id: "ws-b" });
    const socket = first.daemon.sockets.socketPath("ws-a");
    await first.stop();

    const second = await startTestDaemon({}, { dir: first.dir });
    try {
      const c = second.clients().content;
      expect((await c.getWorkspaceState({ id: "ws-a" })).state).toBe(
        WorkspaceContentState.AVAILABLE,
      );
      expect((await c.isWorkspaceExists({ id: "ws-b" })).exists).toBe(false);
      expect(second.daemon.sockets.socketPath("ws-a")).toBe(socket);
      // The socket answers again; without a registered container the call itself is NOT_FOUND.
      const { workspaceInfo } = createInWorkspaceClients(
        createDaemonTransport({ address: `unix://${socket}` }),
      );
      expect(await workspaceInfo.workspaceInfo({}).catch(statusOf)).toMatchObject({
        code: Code.NotFound,
      });
    } finally {
      await second.stop();
      await rm(first.dir, { recursive: true, force: true });
    }
  });
});
