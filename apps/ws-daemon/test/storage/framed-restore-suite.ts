import { readdirSync } from "node:fs";
import { beforeEach, describe, expect, it } from "vitest";
import { ContentCorruptError } from "../../src/platform/index.js";
import { restoreChunkIndex } from "../../src/storage/chunked-restore.js";
import type { ObjectStore } from "../../src/storage/index.js";
import { getBytes, getRange, ObjectRangeError, putBytes } from "../../src/storage/object-store.js";
import { findUnchunkHelper } from "../../src/storage/unchunk-process.js";
import { buildFullTree, expectSameTree } from "../archive/tree-fixture.js";
import { useWorkDir } from "../archive/work-dir.js";
import { chunkedStore } from "./chunked-store-suite.js";
import { newWorkspace, type StoreFactory } from "./content-store-suite.js";
import { frameBackup, RecordingStore } from "./framed-backup.js";

/**
 * Restores of framed packs (index version 2): ranged reads of the frames only, every chunk
 * verified before extraction, through the unchunk helper and without it.
 */
export function defineFramedRestoreSuite(name: string, factory: () => StoreFactory): void {
  describe(`framed chunked restore on ${name}`, () => {
    const work = useWorkDir("wsd-framed-");
    let src: string;
    beforeEach(() => {
      src = work.join("src");
      buildFullTree(src, { largeBytes: 12_000_000 });
    });
    const dir = (n: string) => work.join(n);
    const helper = findUnchunkHelper();
    if (!helper)
      console.warn(
        "skipped: native/build/wsd-unchunk is not built (bash native/build.sh): helper paths are not tested",
      );

    /** A chunked backup of `src`, rewritten onto one framed pack. */
    async function framedBackup(
      objects: ObjectStore,
      options: Parameters<typeof frameBackup>[3] = {},
    ) {
      const { store } = chunkedStore(objects);
      const ws = newWorkspace();
      await store.backup(ws, src);
      return { store, ws, ...(await frameBackup(objects, store, ws, options)) };
    }

    it("a range outside the object is ObjectRangeError, never a short read", async () => {
      const objects = factory().objects();
      await putBytes(objects, "t/range", Buffer.from("0123456789"));
      expect((await getRange(objects, "t/range", 2, 3)).toString()).toBe("234");
      expect((await getRange(objects, "t/range", 0, 10)).toString()).toBe("0123456789");
      await expect(getRange(objects, "t/range", 8, 3)).rejects.toBeInstanceOf(ObjectRangeError);
      await expect(getRange(objects, "t/range", 10, 1)).rejects.toBeInstanceOf(ObjectRangeError);
      await expect(
        getBytes(objects, "t/range", { range: { start: 5, end: 12 } }),
      ).rejects.toBeInstanceOf(ObjectRangeError);
    });

    it("restores a framed backup byte-identical, reading only the frames by ranged reads", async () => {
      const inner = factory().objects();
      const { store, ws, packKey, packBytes, index } = await framedBackup(inner);
      expect(index.packs.filter((p) => p.framed)).toHaveLength(1);
      const objects = new RecordingStore(inner);
      const reader = chunkedStore(objects).store;
      await reader.restoreBackup(ws, dir("out"));
      expectSameTree(dir("out"), src);
      const packGets = objects.gets.filter((g) => g.key === packKey);
      if (helper) {
        expect(packGets.length).toBeGreaterThan(0);
        expect(packGets.every((g) => g.range !== undefined)).toBe(true);
        const read = packGets.reduce(
          (n, g) => n + ((g.range?.end ?? 0) - (g.range?.start ?? 0) + 1),
          0,
        );
        expect(read).toBe(packBytes.length);
      }
      // without the helper: whole packs, verified here
      const inProcess = chunkedStore(inner, { unchunkHelper: false }).store;
      await inProcess.restoreBackup(ws, dir("in-process"));
      expectSameTree(dir("in-process"), src);
      // the unframed original still restores through the store that wrote it (nothing lost)
      expect(await store.hasBackup(ws)).toBe(true);
    });

    it("restores an index mixing framed and unframed packs", async () => {
      const objects = factory().objects();
      const { store, ws, index } = await framedBackup(objects, {
        keepUnframed: (i) => i % 3 === 1,
      });
      expect(index.chunks.some((c) => c.frame)).toBe(true);
      expect(index.chunks.some((c) => !c.frame)).toBe(true);
      await store.restoreBackup(ws, dir("out"));
      expectSameTree(dir("out"), src);
    });

    it("refuses a forged frame (valid zstd of other bytes) and leaves the target empty", async () => {
      const objects = factory().objects();
      // the attack: a frame in the middle of the stream holds other bytes of the same length,
      // compressed as a valid frame: only the chunk's hash can tell
      const { store, ws, index } = await framedBackup(objects, {
        forge: (i, raw) => {
          if (i !== 1) return undefined;
          const forged = Buffer.from(raw);
          forged.writeUInt8(forged.readUInt8(forged.length >> 1) ^ 0x01, forged.length >> 1);
          return forged;
        },
      });
      expect(index.chunks.length).toBeGreaterThan(2);
      for (const unchunkHelper of [undefined, false] as const) {
        const reader = chunkedStore(objects, { unchunkHelper }).store;
        const out = dir(`out-${unchunkHelper}`);
        const restore = reader.restoreBackup(ws, out);
        await expect(restore).rejects.toBeInstanceOf(ContentCorruptError);
        await expect(restore).rejects.toThrow(/does not match its hash/);
        expect(readdirSync(out)).toEqual([]);
      }
      expect(await store.hasBackup(ws)).toBe(true);
    });

    it("refuses a frame that decompresses to another length than the index says", async () => {
      const objects = factory().objects();
      for (const [what, change] of [
        ["longer", (raw: Buffer) => Buffer.concat([raw, Buffer.from("x")])],
        ["shorter", (raw: Buffer) => raw.subarray(0, raw.length - 1)],
      ] as const) {
        const { store, ws } = await framedBackup(objects, {
          forge: (i, raw) => (i === 1 ? change(raw) : undefined),
        });
        for (const unchunkHelper of [undefined, false] as const) {
          const out = dir(`out-${what}-${unchunkHelper}`);
          const restore = chunkedStore(objects, { unchunkHelper }).store.restoreBackup(ws, out);
          await expect(restore).rejects.toBeInstanceOf(ContentCorruptError);
          expect(readdirSync(out)).toEqual([]);
        }
        expect(await store.hasBackup(ws)).toBe(true);
      }
    });

    it.skipIf(!helper)("refuses a pack whose ranged read the store answers short", async () => {
      const inner = factory().objects();
      const { ws, packKey } = await framedBackup(inner);
      // a store (or a proxy before it) that drops the last byte of every ranged answer
      const objects = new RecordingStore(inner, undefined, (key, body, options) =>
        key === packKey && options?.range ? body.subarray(0, body.length - 1) : body,
      );
      const out = dir("out");
      const restore = chunkedStore(objects).store.restoreBackup(ws, out);
      await expect(restore).rejects.toBeInstanceOf(ContentCorruptError);
      await expect(restore).rejects.toThrow(/does not hold the frames/);
      expect(readdirSync(out)).toEqual([]);
    });

    it("an abort in the middle of the restore leaves an empty target", async () => {
      const inner = factory().objects();
      const { ws, packKey, index } = await framedBackup(inner);
      /** A store that aborts the restore as the `nth` read of the pack starts. */
      const abortingAt = (nth: number) => {
        const abort = new AbortController();
        let packReads = 0;
        const objects = new RecordingStore(inner, (key) => {
          if (key === packKey && ++packReads === nth) abort.abort(new Error("stop the restore"));
        });
        return { objects, signal: abort.signal };
      };
      if (helper) {
        // one small read at a time: the fourth starts only once three went into the pipeline
        const { objects, signal } = abortingAt(4);
        const out = dir("out-helper");
        const restore = restoreChunkIndex(
          objects,
          index,
          out,
          { signal },
          { signal, readsInFlight: 1, maxReadBytes: 512 * 1024 },
        );
        await expect(restore).rejects.toThrow(/stop the restore/);
        expect(readdirSync(out)).toEqual([]);
      }
      // without the helper the pack is one read
      const { objects, signal } = abortingAt(1);
      const out = dir("out-in-process");
      const reader = chunkedStore(objects, { unchunkHelper: false }).store;
      await expect(reader.restoreBackup(ws, out, { signal })).rejects.toThrow(/stop the restore/);
      expect(readdirSync(out)).toEqual([]);
    });
    it.skipIf(!helper)(
      "holds only a few ranged reads in memory, never the whole pack",
      async () => {
        const inner = factory().objects();
        const { index, packBytes } = await framedBackup(inner);
        // without `files` (a local store's pack files go to the helper unread): ranged reads
        const objects = new RecordingStore(inner);
        const largestFrame = Math.max(...index.chunks.map((c) => c.frame?.length ?? 0));
        const maxReadBytes = 512 * 1024;
        const readsInFlight = 2;
        const bound = readsInFlight * Math.max(maxReadBytes, largestFrame);
        expect(bound).toBeLessThan(packBytes.length);
        let most = 0;
        await restoreChunkIndex(
          objects,
          index,
          dir("out"),
          {},
          { maxReadBytes, readsInFlight, onBufferedBytes: (n) => (most = Math.max(most, n)) },
        );
        expectSameTree(dir("out"), src);
        expect(most).toBeGreaterThan(0);
        expect(most).toBeLessThanOrEqual(bound);
        if (inner.files) {
          // the helper reads the pack file itself: nothing of it is held here
          let held = 0;
          await restoreChunkIndex(
            inner,
            index,
            dir("out-files"),
            {},
            { maxReadBytes, readsInFlight, onBufferedBytes: (n) => (held = Math.max(held, n)) },
          );
          expectSameTree(dir("out-files"), src);
          expect(held).toBe(0);
        }
      },
    );
  });
}
