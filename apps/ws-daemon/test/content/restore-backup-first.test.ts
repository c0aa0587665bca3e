import { readFile, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import type { WorkspaceContentManager } from "../../src/content/index.js";
import type { WorkspaceRef } from "../../src/storage/index.js";
import { sha256Digest } from "../support/http-file-server.js";
import { FaultStore } from "./fault-store.js";
import { makeStore, metadata, useContentArea, useFileServer } from "./fixtures.js";

const area = useContentArea();
const server = useFileServer();

/** A workspace of `metadata` whose backup holds work.txt, disposed again. */
const seedBackup = async (manager: WorkspaceContentManager) => {
  await manager.init({ id: "seed", metadata, initializer: { kind: "empty" } });
  await writeFile(join(manager.contentDir("seed"), "work.txt"), "unsaved work\n");
  await manager.backup("seed");
  await manager.dispose("seed");
};

const downloadInit = () => {
  const url = server.serve("/fresh.txt", "from the initializer\n");
  return {
    kind: "download" as const,
    targetLocation: "",
    files: [{ url, filePath: "fresh.txt", digest: sha256Digest("from the initializer\n") }],
  };
};

describe("init.restoreBackupFirst (issue 11, upstream's InitializeWorkspace)", () => {
  it("on (default): a workspace with a backup gets it instead of its initializer", async () => {
    const manager = await area.open();
    await seedBackup(manager);
    const before = server.requests.length;
    const record = await manager.init({ id: "again", metadata, initializer: downloadInit() });
    const dir = manager.contentDir("again");
    expect(await readFile(join(dir, "work.txt"), "utf8")).toBe("unsaved work\n");
    await expect(readFile(join(dir, "fresh.txt"))).rejects.toMatchObject({ code: "ENOENT" });
    // the initializer never ran: nothing was downloaded
    expect(server.requests.length).toBe(before);
    expect(record.initResult).toMatchObject({ source: "from-backup", stats: [{ kind: "backup" }] });
  });

  it("off: the initializer runs and the backup is left alone", async () => {
    const manager = await area.open({ config: { restoreBackupFirst: false } });
    await seedBackup(manager);
    const record = await manager.init({ id: "again", metadata, initializer: downloadInit() });
    const dir = manager.contentDir("again");
    expect(await readFile(join(dir, "fresh.txt"), "utf8")).toBe("from the initializer\n");
    await expect(readFile(join(dir, "work.txt"))).rejects.toMatchObject({ code: "ENOENT" });
    expect(record.initResult).toMatchObject({ source: "from-other" });
  });

  it("on, without a backup: the initializer runs", async () => {
    const manager = await area.open();
    const record = await manager.init({ id: "fresh", metadata, initializer: downloadInit() });
    expect(await readFile(join(manager.contentDir("fresh"), "fresh.txt"), "utf8")).toBe(
      "from the initializer\n",
    );
    expect(record.initResult).toMatchObject({
      source: "from-other",
      stats: [{ kind: "download" }],
    });
  });

  it("on, for a workspace without remote storage: the initializer runs (upstream skips remote content)", async () => {
    const manager = await area.open();
    await seedBackup(manager);
    await manager.init({
      id: "local-only",
      metadata,
      initializer: downloadInit(),
      remoteStorageDisabled: true,
    });
    await expect(
      readFile(join(manager.contentDir("local-only"), "work.txt")),
    ).rejects.toMatchObject({ code: "ENOENT" });
  });

  it("a store that cannot tell fails the init instead of overwriting the backup's work", async () => {
    class Unreachable extends FaultStore {
      override hasBackup(_ws: WorkspaceRef): Promise<boolean> {
        return Promise.reject(new Error("connection refused"));
      }
    }
    const manager = await area.open({ store: new Unreachable(makeStore(area.dirs)) });
    const err = await manager
      .init({ id: "unsure", metadata, initializer: downloadInit() })
      .catch((e: unknown) => e);
    expect(err).toMatchObject({
      message: expect.stringContaining("cannot tell whether the workspace has a backup"),
    });
    expect(manager.get("unsure")?.state).toBe("none");
  });
});
