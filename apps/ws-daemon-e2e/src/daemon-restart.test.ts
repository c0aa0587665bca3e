import { existsSync } from "node:fs";
import { readFile, writeFile } from "node:fs/promises";
import path from "node:path";
import {
  createDaemonTransport,
  createInWorkspaceClients,
  WorkspaceContentState,
} from "@ws-daemon/api";
import type { StartedTestContainer } from "testcontainers";
import { afterAll, beforeAll, describe, expect, inject, it } from "vitest";
import { cleanUp, disposeQuietly } from "./support/cleanup.js";
import {
  createWorkingArea,
  type RunningDaemon,
  removeWorkingArea,
  startDaemon,
} from "./support/daemon-container.js";
import { iwsCliOk, startWorkspaceContainer } from "./support/workspace-container.js";
import { emptyInitializer, uniqueWorkspaceId } from "./support/workspace-ids.js";

const image = inject("daemonImage");

/**
 * The daemon container restarts (an upgrade, a crash loop) while workspaces live: every
 * workspace must come back with its content, state and metadata, and its socket must answer
 * again at the same path, also inside a workspace container that mounted it before.
 */
describe.skipIf(inject("placeholderBundle"))(
  "daemon restart in the middle of a workspace's life",
  () => {
    const ids = [uniqueWorkspaceId("restart-a"), uniqueWorkspaceId("restart-b")];
    let area: string;
    let daemon: RunningDaemon;
    let workspaces: StartedTestContainer[] = [];

    const socketAnswers = async (id: string) => {
      const { workspaceInfo } = createInWorkspaceClients(
        createDaemonTransport({
          address: `unix://${daemon.socketPath(id)}`,
          defaultTimeoutMs: 10_000,
        }),
      );
      const info = await workspaceInfo.workspaceInfo({});
      return (info.resources?.memory?.limit ?? 0n) > 0n;
    };

    beforeAll(async () => {
      area = await createWorkingArea();
      daemon = await startDaemon({ image, workingArea: area });
      const { content } = daemon.clients();
      for (const id of ids) {
        await content.initWorkspace({
          id,
          metadata: { owner: "e2e", metaId: `meta-${id}` },
          initializer: emptyInitializer,
        });
        await writeFile(path.join(daemon.contentDir(id), "work.txt"), `work of ${id}\n`);
      }
      workspaces = await Promise.all(
        ids.map((id) =>
          startWorkspaceContainer({ image, workspaceId: id, socketDir: daemon.socketDir(id) }),
        ),
      );
    });

    afterAll(async () => {
      await cleanUp(
        () => Promise.all(workspaces.map((w) => w.stop())),
        () => disposeQuietly(daemon, ids),
        () => daemon?.container.stop(),
        () => removeWorkingArea(area),
      );
    });

    it("serves every workspace and socket before the restart", async () => {
      for (const id of ids) expect(await socketAnswers(id)).toBe(true);
      for (const workspace of workspaces) await iwsCliOk(workspace, ["workspace-info"]);
    });

    it("keeps every workspace, its content, state and socket across a restart", async () => {
      const before = (await daemon.container.exec(["cat", "/proc/1/cmdline"])).stdout;
      await daemon.container.restart();
      expect((await daemon.container.exec(["cat", "/proc/1/cmdline"])).stdout).toBe(before);

      const { content } = daemon.clients();
      for (const id of ids) {
        expect((await content.isWorkspaceExists({ id })).exists).toBe(true);
        const state = await content.getWorkspaceState({ id });
        expect(state.state).toBe(WorkspaceContentState.AVAILABLE);
        expect(state.metadata).toMatchObject({ owner: "e2e", metaId: `meta-${id}` });
        await content.waitForInit({ id });
        expect(await readFile(path.join(daemon.contentDir(id), "work.txt"), "utf8")).toBe(
          `work of ${id}\n`,
        );
        expect(existsSync(daemon.socketPath(id))).toBe(true);
        expect(await socketAnswers(id)).toBe(true);
      }
      // The containers mounted their socket directories before the restart and still reach it.
      for (const workspace of workspaces) {
        const info = (await iwsCliOk(workspace, ["workspace-info"])) as {
          resources: { memory: { limit: string } };
        };
        expect(Number(info.resources.memory.limit)).toBeGreaterThan(0);
      }
    });

    it("disposes a workspace after the restart and removes its socket", async () => {
      const [, other] = ids as [string, string];
      await daemon.clients().content.disposeWorkspace({ id: other });
      expect(existsSync(daemon.socketDir(other))).toBe(false);
      expect(existsSync(daemon.contentDir(other))).toBe(false);
    });
  },
);
