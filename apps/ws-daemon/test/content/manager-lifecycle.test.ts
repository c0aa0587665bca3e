import { lstat, readFile } from "node:fs/promises";
import { join } from "node:path";
import { beforeEach, describe, expect, it } from "vitest";
import type { InitializerSpec, WorkspaceContentManager } from "../../src/content/index.js";
import { sha256Digest } from "../support/http-file-server.js";
import {
  metadata,
  must,
  openManager,
  tick,
  useContentArea,
  useFileServer,
  waitUntil,
} from "./fixtures.js";

const server = useFileServer();
const area = useContentArea();
let manager: WorkspaceContentManager;
beforeEach(async () => {
  manager = await area.open({ config: { maxConcurrentInits: 2 } });
});

let served = 0;
/** A download initializer whose HTTP response waits until `release` is called. */
const gatedDownload = (content = "gated") => {
  const gate = area.gate();
  const path = `/gated-${++served}`;
  const url = server.serve(path, { body: content, gate: gate.promise });
  const spec: InitializerSpec = {
    kind: "download",
    targetLocation: "",
    files: [{ url, filePath: "file.txt", digest: sha256Digest(content) }],
  };
  return { spec, path, release: gate.resolve };
};

const requested = (path: string) => server.requests.includes(path);

describe("init validation", () => {
  it.each([
    ["empty id", { id: "" }, "id is required"],
    ["dot id", { id: "." }, "id must be"],
    ["dotdot id", { id: ".." }, "id must be"],
    ["reserved dot name", { id: ".state" }, "id must be"],
    ["slash in id", { id: "a/b" }, "id must be"],
    ["id too long", { id: "a".repeat(129) }, "id must be"],
    ["missing metadata", { metadata: undefined }, "metadata is required"],
    ["bad owner", { metadata: { owner: "o/../x", metaId: "m" } }, "metadata.owner"],
    ["empty metaId", { metadata: { owner: "o", metaId: "" } }, "metadata.metaId"],
    ["missing initializer", { initializer: undefined }, "initializer is required"],
    ["negative quota", { storageQuotaBytes: -1 }, "storageQuotaBytes"],
    [
      "bad path",
      { initializer: { kind: "backup", checkoutLocation: "../x", fromVolumeSnapshot: false } },
      "checkoutLocation",
    ],
  ] as const)(
    "refuses %s with invalid-argument and records nothing",
    async (_name, override, message) => {
      const req = {
        id: "ok-id",
        metadata,
        initializer: { kind: "empty" } as InitializerSpec,
        ...override,
      };
      await expect(manager.init(req as never)).rejects.toMatchObject({
        kind: "invalid-argument",
        message: expect.stringContaining(message),
      });
      expect(manager.list()).toEqual([]);
    },
  );

  it("accepts 128 characters of the full charset", async () => {
    const id = `A-z_0.9${"x".repeat(121)}`;
    await expect(
      manager.init({ id, metadata, initializer: { kind: "empty" } }),
    ).resolves.toMatchObject({ id, state: "available" });
  });
});

describe("init and waitForInit", () => {
  it("walks NONE -> SETTING_UP -> AVAILABLE and records the request", async () => {
    const seen: string[] = [];
    const m = await openManager(
      { ...area.dirs, area: join(area.dirs.root, "area2") },
      {
        hooks: { onStateChange: (id, from, to) => seen.push(`${id}:${from ?? "-"}>${to ?? "-"}`) },
      },
    );
    const g = gatedDownload("hello");
    const init = m.init({
      id: "ws1",
      metadata,
      initializer: g.spec,
      storageQuotaBytes: 1234,
      remoteStorageDisabled: true,
    });
    await waitUntil(() => requested(g.path), "download request");
    expect(m.get("ws1")).toMatchObject({
      state: "setting-up",
      storageQuotaBytes: 1234,
      remoteStorageDisabled: true,
      metadata,
    });
    g.release();
    await expect(init).resolves.toMatchObject({
      state: "available",
      initResult: { source: "from-other" },
    });
    expect(seen).toEqual(["ws1:->setting-up", "ws1:setting-up>available"]);
    await m.shutdown(1000);
  });

  it("answers already-exists for a second init, also while the first is running", async () => {
    const g = gatedDownload();
    const first = manager.init({ id: "dup", metadata, initializer: g.spec });
    await expect(
      manager.init({ id: "dup", metadata, initializer: { kind: "empty" } }),
    ).rejects.toMatchObject({ kind: "already-exists" });
    g.release();
    await first;
    await expect(
      manager.init({ id: "dup", metadata, initializer: { kind: "empty" } }),
    ).rejects.toMatchObject({ kind: "already-exists" });
    expect(await readFile(join(manager.contentDir("dup"), "file.txt"), "utf8")).toBe("gated");
  });

  it("allows a new init after a failed one", async () => {
    const missing: InitializerSpec = {
      kind: "snapshot",
      snapshot: "wsd-snapshot:workspaces/owner-1/meta-1/snapshots/20260101T000000000Z-0123abcd",
      fromVolumeSnapshot: false,
    };
    await expect(
      manager.init({ id: "retry", metadata, initializer: missing }),
    ).rejects.toMatchObject({ kind: "not-found" });
    expect(manager.exists("retry")).toBe(true);
    expect(manager.get("retry")).toMatchObject({
      state: "none",
      initFailure: { kind: "not-found" },
    });
    await expect(
      manager.init({ id: "retry", metadata, initializer: { kind: "empty" } }),
    ).resolves.toMatchObject({ state: "available" });
    expect(manager.get("retry")?.initFailure).toBeUndefined();
    await manager.waitForInit("retry");
  });

  it("waitForInit: not-found when never started, immediate when ready", async () => {
    await expect(manager.waitForInit("never")).rejects.toMatchObject({ kind: "not-found" });
    await manager.init({ id: "ready", metadata, initializer: { kind: "empty" } });
    await expect(manager.waitForInit("ready")).resolves.toBeUndefined();
  });

  it("wakes every one of many waiters, including ones registered at the last moment", async () => {
    const g = gatedDownload();
    const init = manager.init({ id: "many", metadata, initializer: g.spec });
    const waiters = Array.from({ length: 200 }, () => manager.waitForInit("many"));
    await waitUntil(() => requested(g.path), "download request");
    g.release();
    // more waiters while the init is finishing
    const late = Array.from({ length: 50 }, () => manager.waitForInit("many"));
    await init;
    await expect(Promise.all([...waiters, ...late])).resolves.toHaveLength(250);
  });

  it("wakes waiters with failed-precondition when the init fails", async () => {
    const gate = area.gate();
    const url = server.serve("/gated-404", { body: "x", status: 404, gate: gate.promise });
    const init = manager.init({
      id: "fails",
      metadata,
      initializer: {
        kind: "download",
        targetLocation: "",
        files: [{ url, filePath: "f", digest: sha256Digest("x") }],
      },
    });
    const waiter = manager.waitForInit("fails");
    gate.resolve();
    await expect(init).rejects.toMatchObject({ kind: "not-found" });
    await expect(waiter).rejects.toMatchObject({
      kind: "failed-precondition",
      message: expect.stringContaining("HTTP 404"),
    });
  });

  it("waitForInit honours cancellation and deadlines without affecting the init", async () => {
    const g = gatedDownload();
    const init = manager.init({ id: "abort", metadata, initializer: g.spec });
    const controller = new AbortController();
    const cancelled = manager.waitForInit("abort", controller.signal);
    controller.abort();
    await expect(cancelled).rejects.toMatchObject({ kind: "cancelled" });
    await expect(manager.waitForInit("abort", AbortSignal.timeout(50))).rejects.toMatchObject({
      kind: "deadline-exceeded",
    });
    expect(manager.get("abort")?.state).toBe("setting-up");
    g.release();
    await init;
    await manager.waitForInit("abort", AbortSignal.timeout(5000));
  });

  it("init's signal ends only the caller's wait; the init completes", async () => {
    const g = gatedDownload();
    const controller = new AbortController();
    const init = manager.init(
      { id: "detached", metadata, initializer: g.spec },
      { signal: controller.signal },
    );
    controller.abort();
    await expect(init).rejects.toMatchObject({ kind: "cancelled" });
    g.release();
    await manager.waitForInit("detached");
    expect(manager.get("detached")?.state).toBe("available");
  });

  it("bounds concurrent inits and reports queue wait", async () => {
    const waits: string[] = [];
    const m = await openManager(
      { ...area.dirs, area: join(area.dirs.root, "area3") },
      {
        config: { maxConcurrentInits: 2 },
        hooks: { onInitQueueWait: (id) => waits.push(id) },
      },
    );
    const downloads = Array.from({ length: 5 }, () => gatedDownload());
    const inits = downloads.map((d, i) => m.init({ id: `c${i}`, metadata, initializer: d.spec }));
    for (const init of inits) init.catch(() => undefined);
    await waitUntil(() => downloads.filter((d) => requested(d.path)).length === 2, "two downloads");
    await tick();
    expect(downloads.filter((d) => requested(d.path)).length).toBe(2);
    expect(m.list().filter((r) => r.state === "setting-up")).toHaveLength(5);
    // whichever two got the slots: finishing one lets exactly one more start
    must(
      downloads.find((d) => requested(d.path)),
      "a started download",
    ).release();
    await waitUntil(
      () => downloads.filter((d) => requested(d.path)).length === 3,
      "third download",
    );
    await tick();
    expect(downloads.filter((d) => requested(d.path)).length).toBe(3);
    for (const d of downloads) d.release();
    await Promise.all(inits);
    expect(waits.sort()).toEqual(["c0", "c1", "c2", "c3", "c4"]);
    await m.shutdown(1000);
  });

  it("composite runs in order and a failing member removes everything", async () => {
    const good = server.serve("/c-good", "good");
    const spec: InitializerSpec = {
      kind: "composite",
      initializers: [
        {
          kind: "download",
          targetLocation: "a",
          files: [{ url: good, filePath: "one", digest: sha256Digest("good") }],
        },
        { kind: "empty" },
        {
          kind: "download",
          targetLocation: "b",
          files: [
            { url: `${server.baseUrl}/c-missing`, filePath: "two", digest: sha256Digest("x") },
          ],
        },
      ],
    };
    await expect(manager.init({ id: "comp", metadata, initializer: spec })).rejects.toMatchObject({
      kind: "not-found",
      message: expect.stringContaining("initializer.composite.2"),
    });
    await expect(lstat(manager.contentDir("comp"))).rejects.toMatchObject({ code: "ENOENT" });
  });

  it("composite success records per-initializer stats and a composite total", async () => {
    const a = server.serve("/s-a", "aaaa");
    const b = server.serve("/s-b", "bb");
    const record = await manager.init({
      id: "stats",
      metadata,
      initializer: {
        kind: "composite",
        initializers: [
          {
            kind: "download",
            targetLocation: "",
            files: [{ url: a, filePath: "a", digest: sha256Digest("aaaa") }],
          },
          {
            kind: "download",
            targetLocation: "x",
            files: [{ url: b, filePath: "b", digest: sha256Digest("bb") }],
          },
        ],
      },
    });
    expect(record.initResult?.stats.map((s) => [s.kind, s.bytes, s.files])).toEqual([
      ["download", 4, 1],
      ["download", 2, 1],
      ["composite", 6, 2],
    ]);
  });

  it("dispose during an init aborts it and removes the workspace", async () => {
    const g = gatedDownload();
    const init = manager.init({ id: "early", metadata, initializer: g.spec });
    await waitUntil(() => requested(g.path), "download request");
    const disposed = manager.dispose("early", { backup: true });
    await expect(init).rejects.toMatchObject({
      kind: "cancelled",
      message: expect.stringContaining("disposed"),
    });
    await expect(disposed).resolves.toMatchObject({ backupSkipped: expect.any(String) });
    expect(manager.exists("early")).toBe(false);
    await expect(lstat(manager.contentDir("early"))).rejects.toMatchObject({ code: "ENOENT" });
  });

  it("refuses new inits after shutdown started", async () => {
    await manager.shutdown(100);
    await expect(
      manager.init({ id: "late", metadata, initializer: { kind: "empty" } }),
    ).rejects.toMatchObject({ kind: "unavailable" });
  });
});
