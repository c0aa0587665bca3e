import { randomBytes } from "node:crypto";
import { mkdirSync, mkdtempSync, readdirSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { ArchiveLimitError } from "../../src/archive/index.js";
import { LocalDirectoryObjectStore } from "../../src/storage/index.js";
import type { PutOptions } from "../../src/storage/object-store.js";
import { nativeChunkerOrReason } from "../support/native-chunker.js";
import { chunkedStore, defineChunkedStoreSuite } from "./chunked-store-suite.js";
import { listKeys, newWorkspace } from "./content-store-suite.js";
import { FailingPutStore } from "./object-store-faults.js";

const root = mkdtempSync(path.join(tmpdir(), "wsd-chunked-native-"));
const jsWalkRoot = mkdtempSync(path.join(tmpdir(), "wsd-chunked-native-js-walk-"));
afterAll(() => {
  rmSync(root, { recursive: true, force: true });
  rmSync(jsWalkRoot, { recursive: true, force: true });
});

const chunker = nativeChunkerOrReason();
if ("path" in chunker) {
  const chunkerPath = chunker.path;
  // the whole chunked store suite again, written by wsd-chunker (framed packs, version-2 index)
  defineChunkedStoreSuite(
    "a local directory, written by the native chunker",
    () => ({ objects: () => new LocalDirectoryObjectStore(root) }),
    { chunkerPath },
  );
  // and once more with the JavaScript walk feeding it through a FIFO (`nativeWalk: false`)
  defineChunkedStoreSuite(
    "a local directory, written by the native chunker fed by the JavaScript walk",
    () => ({ objects: () => new LocalDirectoryObjectStore(jsWalkRoot) }),
    { chunkerPath, nativeWalk: false },
  );

  describe("the native chunker's own walk", () => {
    it("refuses a tree beyond the limits with the walk's error, leaves nothing and keeps the previous backup", async () => {
      const objects = new LocalDirectoryObjectStore(path.join(root, "limits"));
      const src = path.join(root, "limits-src");
      mkdirSync(src, { recursive: true });
      writeFileSync(path.join(src, "a.txt"), "a\n");
      const { store } = chunkedStore(objects, { chunkerPath, limits: { maxEntries: 4 } });
      const ws = newWorkspace();
      await store.backup(ws, src);
      const before = await listKeys(objects, "");
      for (let i = 0; i < 10; i++) writeFileSync(path.join(src, `more-${i}.txt`), "x".repeat(i));
      const err = await store.backup(ws, src).then(
        () => undefined,
        (e: unknown) => e,
      );
      expect(err).toBeInstanceOf(ArchiveLimitError);
      expect(err).toMatchObject({
        kind: "resource-exhausted",
        message:
          'cannot archive "more-2.txt": more than 4 entries (archive.maxEntries); a restore would refuse it',
      });
      expect(await listKeys(objects, "")).toEqual(before);
      const out = path.join(root, "limits-out");
      await store.restoreBackup(ws, out);
      expect(readdirSync(out)).toEqual(["a.txt"]);
    });
  });

  describe("a failed pack upload with the native chunker", () => {
    it("stops the chunker at once (it would wait for acknowledgements) and publishes nothing", async () => {
      const objects = new LocalDirectoryObjectStore(path.join(root, "failing"));
      const src = path.join(root, "failing-src");
      mkdirSync(src, { recursive: true });
      // many more packs than may wait for upload (1 MiB packs, 4 waiting)
      writeFileSync(path.join(src, "big.bin"), randomBytes(24 * 1024 * 1024));
      const failing = new FailingPutStore(objects, 100_000, (k) => k.endsWith(".pack"));
      const { store } = chunkedStore(failing, { chunkerPath });
      await expect(store.backup(newWorkspace(), src)).rejects.toThrow(/injected failure/);
      expect(await listKeys(objects, "")).toEqual([]);
    });
  });

  describe("a pack that the store fails to take as a file", () => {
    it("fails the backup: nothing published, the staged packs removed, the backup before stays", async () => {
      class FailingPutFile extends LocalDirectoryObjectStore {
        taken = 0;
        override async putFile(key: string, file: string, options?: PutOptions) {
          if (++this.taken === 3) throw new Error("injected putFile failure");
          return super.putFile(key, file, options);
        }
      }
      const objects = new FailingPutFile(path.join(root, "failing-put-file"));
      const src = path.join(root, "failing-put-file-src");
      mkdirSync(src, { recursive: true });
      writeFileSync(path.join(src, "small.txt"), "kept\n");
      const ws = newWorkspace();
      objects.taken = -1_000_000;
      await chunkedStore(objects, { chunkerPath }).store.backup(ws, src);
      const before = await listKeys(objects, "");
      objects.taken = 0;
      writeFileSync(path.join(src, "big.bin"), randomBytes(12 * 1024 * 1024));

      const { store } = chunkedStore(objects, { chunkerPath });
      await expect(store.backup(ws, src)).rejects.toThrow(/injected putFile failure/);

      expect(await listKeys(objects, "")).toEqual(before);
      expect(readdirSync((await objects.files.staging?.()) ?? "")).toEqual([]);
      const out = path.join(root, "failing-put-file-out");
      await store.restoreBackup(ws, out);
      expect(readdirSync(out)).toEqual(["small.txt"]);
    });
  });
} else {
  describe("chunked store with the native chunker", () => {
    it.skip(`skipped: ${chunker.reason}`, () => {});
  });
  console.warn(`native chunker tests skipped: ${chunker.reason}`);
}
