import { chmodSync, mkdtempSync, readdirSync, rmSync, utimesSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { Readable } from "node:stream";
import { afterAll, describe, expect, it } from "vitest";
import { ArchiveContentStore, LocalDirectoryObjectStore } from "../../src/storage/index.js";
import {
  getBytes,
  InvalidObjectKeyError,
  ObjectNotFoundError,
} from "../../src/storage/object-store.js";
import { defineContentStoreSuite, listKeys } from "./content-store-suite.js";
import { backupThenFail } from "./local-backup-failure.js";

const root = mkdtempSync(path.join(tmpdir(), "wsd-local-store-"));
afterAll(() => rmSync(root, { recursive: true, force: true }));

defineContentStoreSuite("a local directory", () => ({
  objects: () => new LocalDirectoryObjectStore(root),
}));

describe("LocalDirectoryObjectStore", () => {
  it("puts atomically: a failed body leaves neither the object nor a temp file", async () => {
    const store = new LocalDirectoryObjectStore(path.join(root, "atomic"));
    async function* failing() {
      yield Buffer.from("partial");
      throw new Error("boom");
    }
    await expect(store.put("a/b/obj", Readable.from(failing()))).rejects.toThrow("boom");
    expect(await store.head("a/b/obj")).toBeUndefined();
    expect(readdirSync(path.join(root, "atomic/a/b"))).toEqual([]);
    await store.put("a/b/obj", Readable.from([Buffer.from("0123456789")]));
    expect((await getBytes(store, "a/b/obj", { range: { start: 2, end: 4 } })).toString()).toBe(
      "234",
    );
    expect(await listKeys(store, "a/")).toEqual(["a/b/obj"]);
    await store.delete("a/b/obj");
    await store.delete("a/b/obj");
    await expect(store.get("a/b/obj")).rejects.toBeInstanceOf(ObjectNotFoundError);
  });

  it("sweeps temp files of writers that died, once older than the cutoff", async () => {
    const store = new LocalDirectoryObjectStore(path.join(root, "sweep"));
    await store.put("workspaces/o/m/backup/full/manifest.json", Readable.from([Buffer.from("{}")]));
    const dir = path.join(root, "sweep/workspaces/o/m/backup/full");
    const stale = path.join(dir, ".tmp-data-a.tar.zst-0123456789ab");
    const inFlight = path.join(dir, ".tmp-data-b.tar.zst-ba9876543210");
    writeFileSync(stale, "partial");
    const dayAgo = new Date(Date.now() - 24 * 60 * 60 * 1000);
    utimesSync(stale, dayAgo, dayAgo);
    writeFileSync(inFlight, "still being written");
    expect(await store.sweepIncomplete("workspaces/", new Date(Date.now() - 60 * 60 * 1000))).toBe(
      1,
    );
    expect(readdirSync(dir).sort()).toEqual([path.basename(inFlight), "manifest.json"]);
    expect(await store.sweepIncomplete("elsewhere/", new Date())).toBe(0);
  });

  it("refuses keys that could leave the root", async () => {
    const store = new LocalDirectoryObjectStore(path.join(root, "keys"));
    for (const key of ["../x", "a/../../x", "/etc/passwd", "a//b", ".hidden", "a/./b", ""]) {
      await expect(store.head(key), key).rejects.toBeInstanceOf(InvalidObjectKeyError);
    }
  });
});

/**
 * The local store's own path: zstd writes the archive file itself and the daemon hashes it as it
 * grows. Failures there must leave the previous backup and no temp file, like a failed put (the
 * full-disk case needs a tmpfs mount: local-content-store.int.test.ts).
 */
describe("local backups written by zstd directly", () => {
  it("a zstd killed mid-write fails the backup and leaves the previous one", async () => {
    const fakeZstd = path.join(root, "dying-zstd");
    writeFileSync(fakeZstd, "#!/bin/sh\nhead -c 300000 /dev/urandom\nkill -9 $$\n");
    chmodSync(fakeZstd, 0o755);
    const storeRoot = path.join(root, "killed");
    const err = await backupThenFail(
      root,
      storeRoot,
      () =>
        new ArchiveContentStore(new LocalDirectoryObjectStore(storeRoot), { zstdPath: fakeZstd }),
    );
    expect(err).toMatchObject({
      message: expect.stringMatching(/^zstd compression failed \(SIGKILL\)/),
    });
  });
});
