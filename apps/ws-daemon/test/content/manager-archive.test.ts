import { lstat, mkdir, readFile, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { beforeEach, describe, expect, it } from "vitest";
import type { WorkspaceContentManager } from "../../src/content/index.js";
import { ContentCorruptError } from "../../src/platform/index.js";
import { FaultStore } from "./fault-store.js";
import { makeStore, metadata, useContentArea, waitUntil } from "./fixtures.js";

const area = useContentArea();
let manager: WorkspaceContentManager;
let faults: FaultStore;
beforeEach(async () => {
  faults = new FaultStore(makeStore(area.dirs));
  manager = await area.open({ store: faults });
});

/** Holds the store operation until the returned function is called. */
const gate = (op: "backup" | "snapshot" | "restoreBackup" | "restoreSnapshot") => {
  const d = area.gate();
  faults.gates.set(op, d.promise);
  return () => {
    faults.gates.delete(op);
    d.resolve();
  };
};

/** An AVAILABLE workspace with some user content. */
const readyWorkspace = async (
  id: string,
  options: { remoteStorageDisabled?: boolean; meta?: typeof metadata } = {},
) => {
  await manager.init({
    id,
    metadata: options.meta ?? metadata,
    initializer: { kind: "empty" },
    remoteStorageDisabled: options.remoteStorageDisabled ?? false,
  });
  const dir = manager.contentDir(id);
  await mkdir(join(dir, "src/empty-dir"), { recursive: true });
  await writeFile(join(dir, "src/main.ts"), "console.log('hi')\n");
  await writeFile(join(dir, "notes with spaces.md"), "# notes\n");
  return dir;
};

describe("backup, snapshot, restore", () => {
  it("a backup restores into a new workspace of the same owner/metaId, source from-backup", async () => {
    await readyWorkspace("b1");
    const backup = await manager.backup("b1");
    expect(backup.url).toBe("wsd-backup:workspaces/owner-1/meta-1/backup/full");
    expect(manager.get("b1")?.lastBackup).toMatchObject({ url: backup.url });
    await manager.dispose("b1");

    const record = await manager.init({
      id: "b2",
      metadata,
      initializer: { kind: "backup", checkoutLocation: "", fromVolumeSnapshot: false },
    });
    expect(record.initResult).toMatchObject({ source: "from-backup", stats: [{ kind: "backup" }] });
    const dir = manager.contentDir("b2");
    expect(await readFile(join(dir, "src/main.ts"), "utf8")).toBe("console.log('hi')\n");
    expect(await readFile(join(dir, "notes with spaces.md"), "utf8")).toBe("# notes\n");
    expect((await lstat(join(dir, "src/empty-dir"))).isDirectory()).toBe(true);
    // the marker is this init's, not the backed-up workspace's
    const marker = JSON.parse(await readFile(join(dir, ".ws-daemon/ready.json"), "utf8"));
    expect(marker.source).toBe("from-backup");
  });

  it("a synchronous snapshot returns a URL that a snapshot initializer restores", async () => {
    await readyWorkspace("s1");
    const snap = await manager.takeSnapshot("s1");
    expect(snap).toMatchObject({ state: "done", url: expect.any(String) });
    expect(manager.get("s1")?.snapshots).toMatchObject([{ state: "done", url: snap.url }]);
    const record = await manager.init({
      id: "s2",
      metadata: { owner: "other", metaId: "m2" },
      initializer: { kind: "snapshot", snapshot: snap.url, fromVolumeSnapshot: false },
    });
    expect(record.initResult?.source).toBe("from-backup");
    expect(await readFile(join(manager.contentDir("s2"), "src/main.ts"), "utf8")).toBe(
      "console.log('hi')\n",
    );
  });

  it("returnImmediately answers with the URL as soon as the store names it; progress and result are observable", async () => {
    await readyWorkspace("bg");
    faults.earlySnapshotUrl = "planned:snapshot-1";
    const open = gate("snapshot");
    const started = await manager.takeSnapshot("bg", { returnImmediately: true });
    expect(started).toMatchObject({ state: "running", url: "planned:snapshot-1" });
    expect(manager.get("bg")?.snapshots[0]).toMatchObject({
      state: "running",
      url: "planned:snapshot-1",
    });
    open();
    await waitUntil(() => manager.get("bg")?.snapshots[0]?.state === "done", "finished snapshot");
    expect(manager.get("bg")?.snapshots[0]).toMatchObject({
      snapshotId: started.snapshotId,
      finishedAt: expect.any(String),
    });

    faults.failures.set("snapshot", new Error("bucket on fire"));
    const failing = await manager.takeSnapshot("bg", { returnImmediately: true });
    await waitUntil(() => manager.get("bg")?.snapshots[1]?.state === "failed", "failed snapshot");
    expect(manager.get("bg")?.snapshots[1]).toMatchObject({
      snapshotId: failing.snapshotId,
      error: { kind: "internal", message: expect.stringContaining("bucket on fire") },
    });
    // persisted too (shutdown waits for the background work and flushes)
    await manager.shutdown(5_000);
    const onDisk = JSON.parse(await readFile(join(area.dirs.area, ".state/bg.json"), "utf8"));
    expect(onDisk.snapshots.map((s: { state: string }) => s.state)).toEqual(["done", "failed"]);
  });

  it("returnImmediately answers with the URL the store names before uploading", async () => {
    await readyWorkspace("bg2");
    const result = await manager.takeSnapshot("bg2", { returnImmediately: true });
    expect(result.url).toMatch(/^wsd-snapshot:/);
    for (let i = 0; i < 100 && manager.get("bg2")?.snapshots.at(-1)?.state !== "done"; i++) {
      await new Promise((r) => setTimeout(r, 50));
    }
    expect(manager.get("bg2")?.snapshots.at(-1)).toMatchObject({ state: "done", url: result.url });
    await expect(
      manager.takeSnapshot("bg2", { signal: AbortSignal.abort() }),
    ).rejects.toMatchObject({ kind: "cancelled" });
  });

  it("missing snapshot or backup is not-found and never an empty workspace", async () => {
    const url = "wsd-snapshot:workspaces/owner-1/meta-1/snapshots/20260101T000000000Z-0123abcd";
    await expect(
      manager.init({
        id: "m1",
        metadata,
        initializer: { kind: "snapshot", snapshot: url, fromVolumeSnapshot: false },
      }),
    ).rejects.toMatchObject({ kind: "not-found" });
    await expect(
      manager.init({
        id: "m2",
        metadata: { owner: "nobody", metaId: "none" },
        initializer: { kind: "backup", checkoutLocation: "", fromVolumeSnapshot: false },
      }),
    ).rejects.toMatchObject({ kind: "not-found" });
    await expect(
      manager.init({
        id: "m3",
        metadata,
        initializer: { kind: "snapshot", snapshot: "s3://whatever", fromVolumeSnapshot: false },
      }),
    ).rejects.toMatchObject({ kind: "invalid-argument" });
    for (const id of ["m1", "m2", "m3"]) {
      await expect(lstat(manager.contentDir(id))).rejects.toMatchObject({ code: "ENOENT" });
      await expect(manager.waitForInit(id)).rejects.toMatchObject({ kind: "failed-precondition" });
    }
  });

  it("a corrupt archive is data-loss", async () => {
    await readyWorkspace("c1");
    await manager.backup("c1");
    faults.failures.set("restoreBackup", new ContentCorruptError("checksum mismatch"));
    await expect(
      manager.init({
        id: "c2",
        metadata,
        initializer: { kind: "backup", checkoutLocation: "", fromVolumeSnapshot: false },
      }),
    ).rejects.toMatchObject({
      kind: "data-loss",
      message: expect.stringContaining("checksum mismatch"),
    });
  });

  it("snapshot/backup need AVAILABLE and remote storage", async () => {
    await readyWorkspace("nostore", { remoteStorageDisabled: true });
    await expect(manager.takeSnapshot("nostore")).rejects.toMatchObject({
      kind: "failed-precondition",
      message: expect.stringContaining("remote storage"),
    });
    await expect(manager.backup("nostore")).rejects.toMatchObject({ kind: "failed-precondition" });
    await expect(manager.dispose("nostore", { backup: true })).rejects.toMatchObject({
      kind: "failed-precondition",
    });
    expect(manager.get("nostore")?.state).toBe("available");
    await expect(manager.takeSnapshot("unknown")).rejects.toMatchObject({ kind: "not-found" });
    await expect(manager.backup("unknown")).rejects.toMatchObject({ kind: "not-found" });

    const open = gate("restoreBackup");
    await readyWorkspace("src-ws");
    await manager.backup("src-ws");
    const init = manager.init({
      id: "busy",
      metadata,
      initializer: { kind: "backup", checkoutLocation: "", fromVolumeSnapshot: false },
    });
    await expect(manager.takeSnapshot("busy")).rejects.toMatchObject({
      kind: "failed-precondition",
      message: expect.stringContaining("not ready"),
    });
    await expect(manager.backup("busy")).rejects.toMatchObject({ kind: "failed-precondition" });
    open();
    await init;
  });

  it("bounds archive concurrency across workspaces and reports queue wait", async () => {
    const waits: number[] = [];
    await manager.shutdown(1000);
    manager = await area.open({
      store: faults,
      config: { maxConcurrentArchives: 1 },
      hooks: { onArchiveQueueWait: (_op, ms) => waits.push(ms) },
    });
    await readyWorkspace("q1", { meta: { owner: "o", metaId: "q1" } });
    await readyWorkspace("q2", { meta: { owner: "o", metaId: "q2" } });
    const open = gate("backup");
    const b1 = manager.backup("q1");
    const b2 = manager.backup("q2");
    await waitUntil(() => faults.calls.some((c) => c.op === "backup"), "first backup");
    await new Promise((r) => setTimeout(r, 50));
    expect(faults.calls.filter((c) => c.op === "backup" && c.at === "start")).toHaveLength(1);
    open();
    await Promise.all([b1, b2]);
    expect(waits).toHaveLength(2);
    expect(Math.max(...waits)).toBeGreaterThan(0);
  });
});

describe("serialization", () => {
  it("runs mutating operations of one workspace one after another, reads never wait", async () => {
    await readyWorkspace("ser");
    const open = gate("backup");
    const order: string[] = [];
    const backup = manager.backup("ser").then(() => order.push("backup"));
    const snapshot = manager.takeSnapshot("ser").then(() => order.push("snapshot"));
    const dispose = manager.dispose("ser").then(() => order.push("dispose"));
    await waitUntil(() => faults.calls.length > 0, "backup start");
    await new Promise((r) => setTimeout(r, 50));
    // while the backup hangs: reads answer, nothing else started
    expect(manager.get("ser")?.state).toBe("available");
    expect(manager.exists("ser")).toBe(true);
    expect(manager.list().map((r) => r.id)).toContain("ser");
    expect(faults.calls).toEqual([{ op: "backup", at: "start" }]);
    open();
    await Promise.all([backup, snapshot, dispose]);
    expect(order).toEqual(["backup", "snapshot", "dispose"]);
    expect(faults.calls.map((c) => `${c.op}:${c.at}`)).toEqual([
      "backup:start",
      "backup:end",
      "snapshot:start",
      "snapshot:end",
    ]);
  });
});

describe("dispose", () => {
  it("final backup, then content and record are gone; a second dispose is not-found", async () => {
    const disposed: string[] = [];
    const states: string[] = [];
    await manager.shutdown(1000);
    manager = await area.open({
      store: faults,
      hooks: {
        onDisposed: (id) => void disposed.push(id),
        onStateChange: (_id, from, to) => states.push(`${from}>${to}`),
      },
    });
    const dir = await readyWorkspace("d1");
    const result = await manager.dispose("d1", { backup: true, backupLogs: true });
    expect(result.backup?.url).toBe("wsd-backup:workspaces/owner-1/meta-1/backup/full");
    expect(result.gitStatus).toBeUndefined();
    await expect(lstat(dir)).rejects.toMatchObject({ code: "ENOENT" });
    await expect(lstat(join(area.dirs.area, ".state/d1.json"))).rejects.toMatchObject({
      code: "ENOENT",
    });
    expect(manager.exists("d1")).toBe(false);
    expect(disposed).toEqual(["d1"]);
    expect(states).toEqual([
      "undefined>setting-up",
      "setting-up>available",
      "available>wrapping-up",
      "wrapping-up>undefined",
    ]);
    await expect(manager.dispose("d1")).rejects.toMatchObject({ kind: "not-found" });
    await expect(manager.waitForInit("d1")).rejects.toMatchObject({ kind: "not-found" });
  });

  it("concurrent disposals share one result", async () => {
    await readyWorkspace("twice");
    const open = gate("backup");
    const a = manager.dispose("twice", { backup: true });
    const b = manager.dispose("twice", { backup: true });
    open();
    const [ra, rb] = await Promise.all([a, b]);
    expect(ra).toBe(rb);
    expect(faults.calls.filter((c) => c.op === "backup" && c.at === "start")).toHaveLength(1);
  });

  it("a failed final backup is data-loss, keeps the content and leaves the workspace disposable", async () => {
    const dir = await readyWorkspace("keep");
    faults.failures.set("backup", new Error("connection reset"));
    await expect(manager.dispose("keep", { backup: true })).rejects.toMatchObject({
      kind: "data-loss",
      message: expect.stringContaining("connection reset"),
    });
    expect(manager.get("keep")?.state).toBe("available");
    expect(await readFile(join(dir, "src/main.ts"), "utf8")).toBe("console.log('hi')\n");
    // still usable and disposable
    await manager.waitForInit("keep");
    faults.failures.delete("backup");
    await expect(manager.dispose("keep", { backup: true })).resolves.toMatchObject({
      backup: expect.any(Object),
    });
    expect(manager.exists("keep")).toBe(false);
  });

  it("BackupWorkspace failure is data-loss and the previous backup stays restorable", async () => {
    await readyWorkspace("prev");
    await manager.backup("prev");
    await writeFile(join(manager.contentDir("prev"), "later.txt"), "later");
    faults.failures.set("backup", new Error("disk full"));
    await expect(manager.backup("prev")).rejects.toMatchObject({ kind: "data-loss" });
    faults.failures.delete("backup");
    await manager.dispose("prev");
    await manager.init({
      id: "prev2",
      metadata,
      initializer: { kind: "backup", checkoutLocation: "", fromVolumeSnapshot: false },
    });
    expect(await readFile(join(manager.contentDir("prev2"), "src/main.ts"), "utf8")).toBe(
      "console.log('hi')\n",
    );
    await expect(lstat(join(manager.contentDir("prev2"), "later.txt"))).rejects.toMatchObject({
      code: "ENOENT",
    });
  });

  it("a failed workspace is disposed without touching the existing backup", async () => {
    await readyWorkspace("good");
    await manager.backup("good");
    await manager.dispose("good");
    faults.failures.set("restoreBackup", new Error("network down"));
    await expect(
      manager.init({
        id: "bad",
        metadata,
        initializer: { kind: "backup", checkoutLocation: "", fromVolumeSnapshot: false },
      }),
    ).rejects.toMatchObject({
      kind: "internal",
      message: "initialization failed: restore backup: network down",
    });
    faults.failures.delete("restoreBackup");
    const result = await manager.dispose("bad", { backup: true });
    expect(result.backupSkipped).toBe("the workspace content never became available");
    expect(faults.calls.filter((c) => c.op === "backup" && c.at === "start")).toHaveLength(1);
    await manager.init({
      id: "again",
      metadata,
      initializer: { kind: "backup", checkoutLocation: "", fromVolumeSnapshot: false },
    });
    expect(await readFile(join(manager.contentDir("again"), "src/main.ts"), "utf8")).toBe(
      "console.log('hi')\n",
    );
  });
});
