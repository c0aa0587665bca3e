import { existsSync } from "node:fs";
import { rm } from "node:fs/promises";
import * as path from "node:path";
import { Code, createDaemonTransport, createInWorkspaceClients, statusOf } from "@ws-daemon/api";
import { describe, expect, it } from "vitest";
import { startTestDaemon } from "../support/daemon-harness.js";

const metadata = { owner: "o", metaId: "m" };
const empty = { spec: { case: "empty" as const, value: {} } };

/**
 * compat.socketLayout "id-daemon" (issue 11): Gitpod mounts `<area>/<id>-daemon` at /.workspace,
 * and workspacekit dials /.workspace/daemon.sock.
 */
describe("the id-daemon socket layout", () => {
  it("serves <area>/<id>-daemon/daemon.sock, refuses ids ending in -daemon, and survives a restart", async () => {
    const first = await startTestDaemon(
      { compat: { socketLayout: "id-daemon" } },
      { keepDir: true },
    );
    const area = path.join(first.dir, "workspaces");
    try {
      const { content } = first.clients();
      await content.initWorkspace({ id: "ws-gp", metadata, initializer: empty });
      const socket = first.daemon.sockets.socketPath("ws-gp");
      expect(socket).toBe(path.join(area, "ws-gp-daemon", "daemon.sock"));
      expect(existsSync(socket)).toBe(true);
      // the socket answers (NOT_FOUND: no container is registered for the workspace)
      const { workspaceInfo } = createInWorkspaceClients(
        createDaemonTransport({ address: `unix://${socket}` }),
      );
      expect(await workspaceInfo.workspaceInfo({}).catch(statusOf)).toMatchObject({
        code: Code.NotFound,
      });
      // a workspace named like a socket directory would share it
      const clash = await content
        .initWorkspace({ id: "other-daemon", metadata, initializer: empty })
        .catch(statusOf);
      expect(clash).toMatchObject({
        code: Code.InvalidArgument,
        message: expect.stringContaining("-daemon"),
      });
      await first.stop();

      const second = await startTestDaemon(
        { compat: { socketLayout: "id-daemon" } },
        { dir: first.dir },
      );
      try {
        // the socket directory of a known workspace is not reported as an orphan
        expect(second.daemon.manager.recovery.orphans).toEqual([]);
        expect(existsSync(socket)).toBe(true);
        await second.clients().content.disposeWorkspace({ id: "ws-gp" });
        expect(existsSync(path.dirname(socket))).toBe(false);
      } finally {
        await second.stop();
      }
    } finally {
      await rm(first.dir, { recursive: true, force: true });
    }
  });
});
