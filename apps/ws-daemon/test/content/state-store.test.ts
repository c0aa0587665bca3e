import { readdir, readFile, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import type { WorkspaceRecord } from "../../src/content/index.js";
import { WorkspaceStateStore } from "../../src/content/state-store.js";
import { makeTempDirs, type TempDirs, workspaceRecord } from "./fixtures.js";

let dirs: TempDirs;
let store: WorkspaceStateStore;
beforeEach(async () => {
  dirs = await makeTempDirs();
  store = new WorkspaceStateStore(join(dirs.root, "state"));
  await store.ensureDir();
});
afterEach(() => dirs.cleanup());

const record = (id: string, quota: number): WorkspaceRecord =>
  workspaceRecord(id, { storageQuotaBytes: quota });

describe("WorkspaceStateStore", () => {
  it("the last of many overlapping writes wins and no temp file is left", async () => {
    const r = record("ws", 0);
    const writes: Promise<void>[] = [];
    for (let i = 1; i <= 50; i++) {
      r.storageQuotaBytes = i;
      writes.push(store.save(r)); // the store must snapshot the record at call time
    }
    await Promise.all(writes);
    expect(JSON.parse(await readFile(join(store.dir, "ws.json"), "utf8")).storageQuotaBytes).toBe(
      50,
    );
    expect(await readdir(store.dir)).toEqual(["ws.json"]);
  });

  it("loads records, ignores leftover temp files, reports foreign or broken files", async () => {
    await store.save(record("a", 1));
    await store.save(record("b", 2));
    await writeFile(join(store.dir, ".a.json.tmp-123"), "{half");
    await writeFile(join(store.dir, "c.json"), JSON.stringify(record("not-c", 3)));
    const loaded = await store.loadAll();
    expect(loaded.records.map((r) => r.id)).toEqual(["a", "b"]);
    expect(loaded.unreadable.map((u) => u.file)).toEqual([join(store.dir, "c.json")]);
  });

  it("remove after save leaves nothing, also when issued back to back", async () => {
    const save = store.save(record("gone", 1));
    const remove = store.remove("gone");
    await Promise.all([save, remove]);
    expect(await readdir(store.dir)).toEqual([]);
  });
});
