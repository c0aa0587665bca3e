import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import * as path from "node:path";
import {
  Code,
  OperationPhase,
  statusOf,
  type WatchWorkspaceResponse,
  WorkspaceContentState,
  WorkspaceOperation,
} from "@ws-daemon/api";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { startTestDaemon, type TestDaemon } from "../support/daemon-harness.js";
import { createFixtureRepo, type FixtureRepo } from "../support/git-repo-fixtures.js";

const empty = { spec: { case: "empty" as const, value: {} } };

let d: TestDaemon;
let repo: FixtureRepo;
let repoRoot: string;
beforeAll(async () => {
  d = await startTestDaemon();
  repoRoot = await mkdtemp(path.join(tmpdir(), "wsd-watch-repo-"));
  repo = await createFixtureRepo(repoRoot, "project");
});
afterAll(async () => {
  await d.stop();
  await rm(repoRoot, { recursive: true, force: true });
});

async function collect(stream: AsyncIterable<WatchWorkspaceResponse>) {
  const events: WatchWorkspaceResponse[] = [];
  for await (const e of stream) events.push(e);
  return events;
}

const cases = (events: WatchWorkspaceResponse[]) => events.map((e) => e.event.case);
const phasesOf = (events: WatchWorkspaceResponse[]) => [
  ...new Set(
    events.flatMap((e) =>
      e.event.case === "progress" ? [OperationPhase[e.event.value.phase]] : [],
    ),
  ),
];

describe("WatchWorkspace and ListWorkspaces", () => {
  it("a watcher started before InitWorkspace (await_creation) sees the whole init of a git workspace, then the stream ends", async () => {
    const { content } = d.clients();
    const watching = collect(content.watchWorkspace({ id: "ws-git", awaitCreation: true }));
    // the watcher must be registered before the init starts
    await new Promise((r) => setTimeout(r, 100));
    await content.initWorkspace({
      id: "ws-git",
      metadata: { owner: "alice", metaId: "project" },
      initializer: {
        spec: {
          case: "git",
          value: { remoteUri: `file://${repo.bare}`, checkoutLocation: "project" },
        },
      },
    });
    const events = await watching;
    // the init is accepted right after the workspace appears: the snapshot already names it
    const first = events[0]?.event;
    expect(first?.case === "snapshot" && first.value.workspace?.operation).toBe(
      WorkspaceOperation.INIT,
    );
    expect(phasesOf(events)).toEqual(
      expect.arrayContaining(["PREPARING", "CLONING", "FINALIZING"]),
    );
    const cloning = events.find(
      (e) => e.event.case === "progress" && e.event.value.phase === OperationPhase.CLONING,
    );
    expect(cloning?.event.value).toMatchObject({ initializer: "git", detail: "project" });
    const toAvailable = events.find(
      (e) => e.event.case === "stateChange" && e.event.value.to === WorkspaceContentState.AVAILABLE,
    );
    expect(toAvailable).toBeDefined();
    const last = events.at(-1);
    expect(last?.event.case).toBe("operationFinished");
    expect(last?.event.value).toMatchObject({ operation: WorkspaceOperation.INIT, code: 0 });
    for (const e of events) expect(e.time?.seconds).toBeGreaterThan(0n);
  });

  it("a watch of an idle workspace sends its snapshot and ends; an unknown id is NOT_FOUND", async () => {
    const { content } = d.clients();
    const events = await collect(content.watchWorkspace({ id: "ws-git" }));
    expect(cases(events)).toEqual(["snapshot"]);
    const snap = events[0]?.event;
    expect(snap?.case === "snapshot" && snap.value.workspace).toMatchObject({
      id: "ws-git",
      state: WorkspaceContentState.AVAILABLE,
      operation: WorkspaceOperation.UNSPECIFIED,
      metadata: { owner: "alice", metaId: "project" },
    });
    if (snap?.case === "snapshot") expect(snap.value.workspace?.sizeBytes).toBeGreaterThan(0n);
    const err = await collect(content.watchWorkspace({ id: "ws-nobody" })).catch((e: unknown) => e);
    expect(statusOf(err).code).toBe(Code.NotFound);
    const bad = await collect(content.watchWorkspace({ id: "../x" })).catch((e: unknown) => e);
    expect(statusOf(bad).code).toBe(Code.InvalidArgument);
  });

  it("a backup reports archiving progress against the measured content, with its URL at the end", async () => {
    const { content } = d.clients();
    await content.initWorkspace({
      id: "ws-archive",
      metadata: { owner: "o", metaId: "archive" },
      initializer: empty,
    });
    const dir = d.daemon.manager.contentDir("ws-archive");
    for (let i = 0; i < 20; i++)
      await writeFile(path.join(dir, `f${i}.bin`), Buffer.alloc(50_000, i));
    const stopWatching = new AbortController();
    const watcher = content.watchWorkspace(
      { id: "ws-archive", follow: true },
      { signal: stopWatching.signal },
    );
    const iterator = watcher[Symbol.asyncIterator]();
    const first = await iterator.next();
    expect(first.value?.event.case).toBe("snapshot");
    const backup = content.backupWorkspace({ id: "ws-archive" });
    const events: WatchWorkspaceResponse[] = [];
    for (;;) {
      const next = await iterator.next();
      if (next.done) break;
      events.push(next.value);
      if (next.value.event.case === "operationFinished") break;
    }
    stopWatching.abort();
    const { url } = await backup;
    const archiving = events.filter(
      (e) => e.event.case === "progress" && e.event.value.phase === OperationPhase.ARCHIVING,
    );
    expect(archiving.length).toBeGreaterThan(0);
    const lastArchiving = archiving.at(-1)?.event.value;
    // 20 files, the daemon's .ws-daemon folder and its ready marker
    expect(lastArchiving).toMatchObject({
      filesTotal: 22n,
      filesDone: 22n,
      operation: WorkspaceOperation.BACKUP,
    });
    const finished = events.at(-1)?.event;
    expect(finished?.case === "operationFinished" && finished.value).toMatchObject({
      operation: WorkspaceOperation.BACKUP,
      code: 0,
      url,
    });
  });

  it("a failing init: the state goes to NONE with the error, the operation ends with its code", async () => {
    const { content } = d.clients();
    const watching = collect(content.watchWorkspace({ id: "ws-broken", awaitCreation: true }));
    await new Promise((r) => setTimeout(r, 100));
    const err = await content
      .initWorkspace({
        id: "ws-broken",
        metadata: { owner: "o", metaId: "broken" },
        initializer: {
          spec: {
            case: "snapshot",
            value: {
              snapshot: "wsd-snapshot:workspaces/o/x/snapshots/20200101T000000000Z-00000000",
            },
          },
        },
      })
      .catch((e: unknown) => e);
    expect(statusOf(err).code).toBe(Code.NotFound);
    const events = await watching;
    const failed = events.find(
      (e) => e.event.case === "stateChange" && e.event.value.to === WorkspaceContentState.NONE,
    );
    expect(failed?.event.value).toMatchObject({ error: expect.stringContaining("does not exist") });
    expect(events.at(-1)?.event.value).toMatchObject({
      operation: WorkspaceOperation.INIT,
      code: Code.NotFound,
    });
  });

  it("ListWorkspaces lists every workspace by id with size, state and last backup", async () => {
    const { content } = d.clients();
    const { workspaces } = await content.listWorkspaces({});
    const ids = workspaces.map((w) => w.id);
    expect(ids).toEqual([...ids].sort());
    expect(ids).toEqual(expect.arrayContaining(["ws-archive", "ws-broken", "ws-git"]));
    const archived = workspaces.find((w) => w.id === "ws-archive");
    // the files written plus the daemon's small ready marker
    expect(Number(archived?.sizeBytes)).toBeGreaterThanOrEqual(1_000_000);
    expect(Number(archived?.sizeBytes)).toBeLessThan(1_010_000);
    expect(archived?.lastBackup?.url).toMatch(/^wsd-backup:/);
    expect(archived?.sizeMeasuredAt?.seconds).toBeGreaterThan(0n);
    const broken = workspaces.find((w) => w.id === "ws-broken");
    expect(broken?.state).toBe(WorkspaceContentState.NONE);
    expect(broken?.initError).toContain("does not exist");
  });

  it("a follower sees a dispose through to the removal, with the git status phase", async () => {
    const { content } = d.clients();
    const watching = collect(content.watchWorkspace({ id: "ws-git", follow: true }));
    await new Promise((r) => setTimeout(r, 100));
    const { gitStatus } = await content.disposeWorkspace({ id: "ws-git" });
    expect(gitStatus?.branch).toBe("main");
    const events = await watching;
    expect(phasesOf(events)).toEqual(expect.arrayContaining(["GIT_STATUS", "DELETING"]));
    const removal = events.find((e) => e.event.case === "stateChange" && e.event.value.removed);
    expect(removal).toBeDefined();
    expect(events.at(-1)?.event.value).toMatchObject({ operation: WorkspaceOperation.DISPOSE });
  });

  it("a client that cancels ends its watch on the daemon", async () => {
    const { content } = d.clients();
    const before = d.daemon.watchHub.watcherCount("ws-archive");
    const controller = new AbortController();
    const stream = content.watchWorkspace(
      { id: "ws-archive", follow: true },
      { signal: controller.signal },
    );
    const iterator = stream[Symbol.asyncIterator]();
    await iterator.next();
    expect(d.daemon.watchHub.watcherCount("ws-archive")).toBe(before + 1);
    controller.abort();
    await iterator.next().catch(() => undefined);
    for (let i = 0; i < 50 && d.daemon.watchHub.watcherCount("ws-archive") > before; i++) {
      await new Promise((r) => setTimeout(r, 20));
    }
    expect(d.daemon.watchHub.watcherCount("ws-archive")).toBe(before);
  });
});
