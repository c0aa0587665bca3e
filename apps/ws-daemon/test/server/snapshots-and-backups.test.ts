import { readFile, writeFile } from "node:fs/promises";
import * as path from "node:path";
import { Code, SnapshotState, statusOf, WorkspaceContentState } from "@ws-daemon/api";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { startTestDaemon, type TestDaemon } from "../support/daemon-harness.js";

const empty = { spec: { case: "empty" as const, value: {} } };

let d: TestDaemon;
beforeAll(async () => {
  d = await startTestDaemon();
});
afterAll(() => d.stop());

async function until<T>(get: () => Promise<T>, ok: (v: T) => boolean): Promise<T> {
  for (let i = 0; i < 200; i++) {
    const v = await get();
    if (ok(v)) return v;
    await new Promise((r) => setTimeout(r, 50));
  }
  throw new Error("condition not reached");
}

describe("snapshots and backups through the daemon", () => {
  it("returns a snapshot URL at once with return_immediately, reports progress, and restores it", async () => {
    const { content } = d.clients();
    await content.initWorkspace({
      id: "ws-snap",
      metadata: { owner: "o", metaId: "snap" },
      initializer: empty,
    });
    await writeFile(
      path.join(d.daemon.manager.contentDir("ws-snap"), "hello.txt"),
      "snapshot me\n",
    );
    const { url } = await content.takeSnapshot({ id: "ws-snap", returnImmediately: true });
    expect(url).toMatch(/^wsd-snapshot:workspaces\/o\/snap\/snapshots\//);
    const state = await until(
      () => content.getWorkspaceState({ id: "ws-snap" }),
      (s) => s.snapshots.some((x) => x.url === url && x.state === SnapshotState.DONE),
    );
    expect(state.snapshots.find((x) => x.url === url)?.bytes).toBeGreaterThan(0n);

    await content.initWorkspace({
      id: "ws-from-snap",
      metadata: { owner: "o", metaId: "other" },
      initializer: { spec: { case: "snapshot", value: { snapshot: url } } },
    });
    expect(
      await readFile(path.join(d.daemon.manager.contentDir("ws-from-snap"), "hello.txt"), "utf8"),
    ).toBe("snapshot me\n");
  });

  it("answers NOT_FOUND for a snapshot that does not exist, and leaves no workspace", async () => {
    const { content } = d.clients();
    const err = await content
      .initWorkspace({
        id: "ws-missing",
        metadata: { owner: "o", metaId: "m" },
        initializer: {
          spec: {
            case: "snapshot",
            value: {
              snapshot: "wsd-snapshot:workspaces/o/m/snapshots/20200101T000000000Z-00000000",
            },
          },
        },
      })
      .catch(statusOf);
    expect(err).toMatchObject({ code: Code.NotFound });
    const state = await content.getWorkspaceState({ id: "ws-missing" });
    expect(state.state).toBe(WorkspaceContentState.NONE);
    expect(state.initError).not.toBe("");
  });

  it("refuses backups and snapshots with remote storage disabled", async () => {
    const { content } = d.clients();
    await content.initWorkspace({
      id: "ws-local-only",
      metadata: { owner: "o", metaId: "lo" },
      initializer: empty,
      remoteStorageDisabled: true,
    });
    expect(await content.backupWorkspace({ id: "ws-local-only" }).catch(statusOf)).toMatchObject({
      code: Code.FailedPrecondition,
    });
    expect(await content.takeSnapshot({ id: "ws-local-only" }).catch(statusOf)).toMatchObject({
      code: Code.FailedPrecondition,
    });
    expect(
      await content.disposeWorkspace({ id: "ws-local-only", backup: true }).catch(statusOf),
    ).toMatchObject({
      code: Code.FailedPrecondition,
    });
  });

  it("backs up, disposes with the backup, and restores from it as a new instance", async () => {
    const { content } = d.clients();
    const metadata = { owner: "o", metaId: "bk" };
    await content.initWorkspace({ id: "ws-bk-1", metadata, initializer: empty });
    await writeFile(path.join(d.daemon.manager.contentDir("ws-bk-1"), "work.txt"), "v1\n");
    const { url } = await content.backupWorkspace({ id: "ws-bk-1" });
    expect(url).toBe("wsd-backup:workspaces/o/bk/backup/full");
    await writeFile(path.join(d.daemon.manager.contentDir("ws-bk-1"), "work.txt"), "v2\n");
    await content.disposeWorkspace({ id: "ws-bk-1", backup: true });

    await content.initWorkspace({
      id: "ws-bk-2",
      metadata,
      initializer: { spec: { case: "backup", value: { checkoutLocation: "" } } },
    });
    expect(
      await readFile(path.join(d.daemon.manager.contentDir("ws-bk-2"), "work.txt"), "utf8"),
    ).toBe("v2\n");
    expect((await content.getWorkspaceState({ id: "ws-bk-2" })).initSource).toBe("from-backup");
  });

  it("attack: the snapshot initializer does not restore another tenant's backup", async () => {
    const { content } = d.clients();
    await content.initWorkspace({
      id: "ws-victim",
      metadata: { owner: "victim", metaId: "secret" },
      initializer: empty,
    });
    await writeFile(path.join(d.daemon.manager.contentDir("ws-victim"), "secret.txt"), "s3cr3t\n");
    const { url } = await content.backupWorkspace({ id: "ws-victim" });
    expect(url).toBe("wsd-backup:workspaces/victim/secret/backup/full");
    // backup URLs are predictable (owner and metaId are no secret)
    const err = await content
      .initWorkspace({
        id: "ws-thief",
        metadata: { owner: "thief", metaId: "t" },
        initializer: { spec: { case: "snapshot", value: { snapshot: url } } },
      })
      .catch(statusOf);
    expect(err).toMatchObject({
      code: Code.InvalidArgument,
      message: expect.stringMatching(/backup URL/),
    });
    expect((await content.getWorkspaceState({ id: "ws-thief" })).state).toBe(
      WorkspaceContentState.NONE,
    );
  });

  it("answers NOT_FOUND when a workspace has no backup to restore", async () => {
    const { content } = d.clients();
    const err = await content
      .initWorkspace({
        id: "ws-no-backup",
        metadata: { owner: "o", metaId: "never-backed-up" },
        initializer: { spec: { case: "backup", value: {} } },
      })
      .catch(statusOf);
    expect(err).toMatchObject({ code: Code.NotFound });
  });
});
