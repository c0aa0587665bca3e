import { lstat, mkdir, readFile, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { sha256Digest } from "../support/http-file-server.js";
import { FaultStore } from "./fault-store.js";
import { makeStore, metadata, useContentArea, useFileServer, waitUntil } from "./fixtures.js";

const server = useFileServer();
const area = useContentArea();

describe("state persistence", () => {
  it("a new manager on the same area knows every workspace, its state, metadata and init result", async () => {
    const first = await area.open();
    const url = server.serve("/p-file", "persisted");
    await first.init({
      id: "p1",
      metadata,
      initializer: {
        kind: "download",
        targetLocation: "d",
        files: [
          { url: `${url}?token=secret-token`, filePath: "f", digest: sha256Digest("persisted") },
        ],
      },
      storageQuotaBytes: 1 << 30,
      remoteStorageDisabled: true,
    });
    await expect(
      first.init({
        id: "p2",
        metadata,
        initializer: { kind: "backup", checkoutLocation: "", fromVolumeSnapshot: false },
      }),
    ).rejects.toMatchObject({ kind: "not-found" });
    await first.shutdown(1000);

    const raw = await readFile(join(area.dirs.area, ".state/p1.json"), "utf8");
    expect(raw).not.toContain("secret-token");

    const second = await area.open();
    expect(second.recovery).toEqual({
      failedInits: [],
      backToAvailable: [],
      unreadable: [],
      orphans: [],
      trash: [],
    });
    expect(second.get("p1")).toMatchObject({
      state: "available",
      metadata,
      storageQuotaBytes: 1 << 30,
      remoteStorageDisabled: true,
      initializer: { kind: "download", files: [{ url, filePath: "f" }] },
      initResult: { source: "from-other", stats: [{ kind: "download", bytes: 9, files: 1 }] },
    });
    expect(second.get("p2")).toMatchObject({ state: "none", initFailure: { kind: "not-found" } });
    await second.waitForInit("p1");
    await expect(second.waitForInit("p2")).rejects.toMatchObject({ kind: "failed-precondition" });
    await expect(
      second.init({ id: "p1", metadata, initializer: { kind: "empty" } }),
    ).rejects.toMatchObject({ kind: "already-exists" });
    await second.dispose("p1");
    expect((await area.open()).exists("p1")).toBe(false);
  });

  it("an init interrupted by a restart is failed afterwards and its partial content removed", async () => {
    const first = await area.open();
    const done = server.serve("/r-done", "first file");
    const gate = area.gate();
    const hanging = server.serve("/r-hang", { body: "never", gate: gate.promise });
    const init = first.init({
      id: "crash",
      metadata,
      initializer: {
        kind: "download",
        targetLocation: "",
        files: [
          { url: done, filePath: "one", digest: sha256Digest("first file") },
          { url: hanging, filePath: "two", digest: sha256Digest("never") },
        ],
      },
    });
    init.catch(() => undefined);
    await waitUntil(() => server.requests.includes("/r-hang"), "second download");
    expect(await readFile(join(first.contentDir("crash"), "one"), "utf8")).toBe("first file");

    // The "restarted daemon": a new manager reads the same area while the old one is mid-init.
    const second = await area.open();
    expect(second.recovery.failedInits).toEqual(["crash"]);
    expect(second.get("crash")).toMatchObject({
      state: "none",
      initFailure: { message: expect.stringContaining("restarted") },
    });
    await expect(lstat(second.contentDir("crash"))).rejects.toMatchObject({ code: "ENOENT" });
    await expect(second.waitForInit("crash")).rejects.toMatchObject({
      kind: "failed-precondition",
      message: expect.stringContaining("restarted"),
    });
    const onDisk = JSON.parse(await readFile(join(area.dirs.area, ".state/crash.json"), "utf8"));
    expect(onDisk).toMatchObject({ state: "none", initFailure: { kind: "internal" } });
  });

  it("a dispose interrupted by a restart leaves the workspace AVAILABLE with its content", async () => {
    const faults = new FaultStore(makeStore(area.dirs));
    const first = await area.open({ store: faults });
    await first.init({ id: "wrap", metadata, initializer: { kind: "empty" } });
    await writeFile(join(first.contentDir("wrap"), "work.txt"), "precious");
    const gate = area.gate();
    faults.gates.set("backup", gate.promise);
    const disposal = first.dispose("wrap", { backup: true });
    disposal.catch(() => undefined);
    await waitUntil(() => first.get("wrap")?.state === "wrapping-up", "wrapping-up");
    await waitUntil(() => faults.calls.length > 0, "backup started");

    const second = await area.open();
    expect(second.recovery.backToAvailable).toEqual(["wrap"]);
    expect(second.get("wrap")?.state).toBe("available");
    expect(await readFile(join(second.contentDir("wrap"), "work.txt"), "utf8")).toBe("precious");
    await second.waitForInit("wrap");
  });

  it("a snapshot running during a restart is reported failed", async () => {
    const faults = new FaultStore(makeStore(area.dirs));
    const first = await area.open({ store: faults });
    await first.init({ id: "snap", metadata, initializer: { kind: "empty" } });
    const gate = area.gate();
    faults.gates.set("snapshot", gate.promise);
    faults.earlySnapshotUrl = "planned:x";
    await first.takeSnapshot("snap", { returnImmediately: true });
    // the store is only called after the "running" state is on disk
    await waitUntil(() => faults.calls.some((c) => c.op === "snapshot"), "snapshot upload started");
    const second = await area.open();
    expect(second.get("snap")?.snapshots[0]).toMatchObject({
      state: "failed",
      error: { message: expect.stringContaining("restarted") },
    });
  });

  it("reports unreadable state files and keeps them", async () => {
    const first = await area.open();
    await first.init({ id: "fine", metadata, initializer: { kind: "empty" } });
    await writeFile(join(area.dirs.area, ".state/broken.json"), "{not json");
    const second = await area.open();
    expect(second.exists("fine")).toBe(true);
    expect(second.recovery.unreadable).toEqual([
      { file: join(area.dirs.area, ".state/broken.json"), error: expect.any(String) },
    ]);
    expect(await readFile(join(area.dirs.area, ".state/broken.json"), "utf8")).toBe("{not json");
  });

  it("keeps the id of an unreadable state file taken, so an init cannot wipe its content", async () => {
    const first = await area.open();
    await first.init({ id: "damaged", metadata, initializer: { kind: "empty" } });
    await writeFile(join(first.contentDir("damaged"), "work.txt"), "unsaved work\n");
    await writeFile(join(area.dirs.area, ".state/damaged.json"), "{torn write");
    const second = await area.open();
    expect(second.exists("damaged")).toBe(false);
    expect(second.recovery.orphans).toEqual([]);
    await expect(
      second.init({ id: "damaged", metadata, initializer: { kind: "empty" } }),
    ).rejects.toMatchObject({ kind: "failed-precondition" });
    expect(await readFile(join(second.contentDir("damaged"), "work.txt"), "utf8")).toBe(
      "unsaved work\n",
    );
    const third = await area.open({ config: { removeOrphanedContent: true } });
    expect(await readFile(join(third.contentDir("damaged"), "work.txt"), "utf8")).toBe(
      "unsaved work\n",
    );
  });

  it("reports content without a record and removes it only when configured", async () => {
    const first = await area.open();
    await first.init({ id: "kept", metadata, initializer: { kind: "empty" } });
    await mkdir(join(area.dirs.area, "orphan-ws/sub"), { recursive: true });
    await mkdir(join(area.dirs.area, ".hidden"));
    const second = await area.open();
    expect(second.recovery.orphans).toEqual(["orphan-ws"]);
    expect((await lstat(join(area.dirs.area, "orphan-ws"))).isDirectory()).toBe(true);
    const third = await area.open({ config: { removeOrphanedContent: true } });
    expect(third.recovery.orphans).toEqual(["orphan-ws"]);
    await expect(lstat(join(area.dirs.area, "orphan-ws"))).rejects.toMatchObject({
      code: "ENOENT",
    });
    expect((await lstat(join(area.dirs.area, ".hidden"))).isDirectory()).toBe(true);
    expect((await lstat(third.contentDir("kept"))).isDirectory()).toBe(true);
  });

  it("shutdown aborts work that outlives the grace period and persists the outcome", async () => {
    const first = await area.open();
    const gate = area.gate();
    const url = server.serve("/sd-hang", { body: "x", gate: gate.promise });
    const init = first.init({
      id: "sd",
      metadata,
      initializer: {
        kind: "download",
        targetLocation: "",
        files: [{ url, filePath: "x", digest: sha256Digest("x") }],
      },
    });
    init.catch(() => undefined);
    await waitUntil(() => server.requests.includes("/sd-hang"), "download");
    await first.shutdown(50);
    await expect(init).rejects.toMatchObject({ kind: "unavailable" });
    const onDisk = JSON.parse(await readFile(join(area.dirs.area, ".state/sd.json"), "utf8"));
    expect(onDisk).toMatchObject({ state: "none", initFailure: { kind: "unavailable" } });
    await expect(lstat(first.contentDir("sd"))).rejects.toMatchObject({ code: "ENOENT" });
  });
});
