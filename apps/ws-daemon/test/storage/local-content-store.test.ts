import { execFileSync } from "node:child_process";
import { randomBytes } from "node:crypto";
import { chmodSync, mkdtempSync, readdirSync, rmSync, utimesSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { Readable } from "node:stream";
import { afterAll, describe, expect, it } from "vitest";
import { ArchiveContentStore } from "../../src/storage/archive-content-store.js";
import { LocalDirectoryObjectStore } from "../../src/storage/local-object-store.js";
import { backupPrefix } from "../../src/storage/object-keys.js";
import {
  getBytes,
  InvalidObjectKeyError,
  ObjectNotFoundError,
} from "../../src/storage/object-store.js";
import { buildFullTree, expectSameTree, isRoot } from "../archive/tree-fixture.js";
import { defineContentStoreSuite, listKeys, newWorkspace } from "./content-store-suite.js";

if (!isRoot)
  console.warn("[local store] not root: the full-disk test (mounts a small tmpfs) is skipped");

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
 * grows. Failures there must leave the previous backup and no temp file, like a failed put.
 */
describe("local backups written by zstd directly", () => {
  /** Every file below `dir`, temp files (".tmp-…") included. */
  function filesUnder(dir: string): string[] {
    return (readdirSync(dir, { recursive: true }) as string[]).sort();
  }

  async function backupThenFail(storeRoot: string, fail: (src: string) => ArchiveContentStore) {
    const objects = new LocalDirectoryObjectStore(storeRoot);
    const ws = newWorkspace();
    const src = path.join(root, `src-${ws.id}`);
    buildFullTree(src, { largeBytes: 200_000 });
    const good = new ArchiveContentStore(objects);
    await good.backup(ws, src);
    const before = filesUnder(path.join(storeRoot, backupPrefix(ws)));
    const copy = path.join(root, `copy-${ws.id}`);
    await good.restoreBackup(ws, copy);

    const err = await fail(src)
      .backup(ws, src)
      .then(
        () => undefined,
        (e: unknown) => e as Error,
      );
    expect(filesUnder(path.join(storeRoot, backupPrefix(ws)))).toEqual(before);
    const out = path.join(root, `out-${ws.id}`);
    await good.restoreBackup(ws, out);
    expectSameTree(out, copy);
    return err;
  }

  it("a zstd killed mid-write fails the backup and leaves the previous one", async () => {
    const fakeZstd = path.join(root, "dying-zstd");
    writeFileSync(fakeZstd, "#!/bin/sh\nhead -c 300000 /dev/urandom\nkill -9 $$\n");
    chmodSync(fakeZstd, 0o755);
    const err = await backupThenFail(
      path.join(root, "killed"),
      () =>
        new ArchiveContentStore(new LocalDirectoryObjectStore(path.join(root, "killed")), {
          zstdPath: fakeZstd,
        }),
    );
    expect(err?.message).toMatch(/zstd compression failed \(SIGKILL\)/);
  });

  it.skipIf(!isRoot)("a full disk fails the backup and leaves the previous one", async () => {
    const small = path.join(root, "small-fs");
    execFileSync("mkdir", ["-p", small]);
    execFileSync("mount", ["-t", "tmpfs", "-o", "size=3m", "tmpfs", small]);
    try {
      const err = await backupThenFail(small, (src) => {
        writeFileSync(path.join(src, "incompressible.bin"), randomBytes(4 * 1024 * 1024));
        return new ArchiveContentStore(new LocalDirectoryObjectStore(small));
      });
      expect(err?.message).toMatch(/No space left on device|ENOSPC/);
    } finally {
      execFileSync("umount", [small]);
    }
  });
});
