import { execFileSync } from "node:child_process";
import { createHash } from "node:crypto";
import {
  readdirSync,
  readFileSync,
  symlinkSync,
  truncateSync,
  unlinkSync,
  writeFileSync,
} from "node:fs";
import path from "node:path";
import { beforeEach, describe, expect, it } from "vitest";
import { HostileArchiveError } from "../../src/archive/index.js";
import type { ChunkIndex, ChunkRef } from "../../src/chunks/index.js";
import { ContentCorruptError } from "../../src/platform/index.js";
import { restoreChunkIndex as restoreChunks } from "../../src/storage/chunked-restore.js";
import { LocalDirectoryObjectStore, type ObjectStore } from "../../src/storage/index.js";
import { putBytes } from "../../src/storage/object-store.js";
import { findUnchunkHelper } from "../../src/storage/unchunk-process.js";
import { type CraftedEntry, packEntries } from "../archive/tar-crafting.js";
import { useHostileTarget, useWorkDir } from "../archive/work-dir.js";
import { RecordingStore } from "./framed-backup.js";

const work = useWorkDir("wsd-unchunk-hostile-");
const hostile = useHostileTarget(work);
let target: string;
let outside: string;
beforeEach(() => {
  ({ target, outside } = hostile);
});

const PACK_KEY = "chunks/owners/o/packs/20260101T000000000Z-00000000000000000000000000000000.pack";

/**
 * A hostile tar stream as a framed chunked archive (chunks of 700 bytes, valid hashes unless
 * `forge` changes a chunk's stored bytes after its hash was taken). `ranged`: the store is seen
 * without its local files, so frames come by ranged reads through the daemon instead of the
 * helper reading the pack file it inherits.
 */
async function framedArchive(
  entries: CraftedEntry[],
  options: { ranged?: boolean; forge?: (chunk: number, raw: Buffer) => Buffer | undefined } = {},
) {
  const tar = await packEntries(entries);
  const local = new LocalDirectoryObjectStore(work.join("store"));
  const frames: Buffer[] = [];
  const chunks: ChunkRef[] = [];
  let size = 0;
  for (let offset = 0; offset < tar.length; offset += 700) {
    const raw = tar.subarray(offset, offset + 700);
    const stored = options.forge?.(chunks.length, raw) ?? raw;
    const frame = execFileSync("zstd", ["-q", "-1", "-c"], { input: stored });
    chunks.push({
      pack: 0,
      offset,
      length: raw.length,
      sha256: createHash("sha256").update(raw).digest("hex"),
      frame: { offset: size, length: frame.length },
    });
    frames.push(frame);
    size += frame.length;
  }
  await putBytes(local, PACK_KEY, Buffer.concat(frames));
  const index: ChunkIndex = {
    packs: [{ key: PACK_KEY, rawSize: tar.length, size, framed: true }],
    chunks,
    entries: entries.length,
    tarBytes: tar.length,
  };
  const objects: ObjectStore = options.ranged ? new RecordingStore(local) : local;
  return { objects, index, packFile: path.join(work.join("store"), ...PACK_KEY.split("/")) };
}

const helper = findUnchunkHelper();
if (!helper) console.warn("skipped: native/build/wsd-unchunk is not built (bash native/build.sh)");

const expectUntouched = () => {
  expect(readdirSync(target)).toEqual([]);
  expect(readdirSync(outside)).toEqual(["victim"]);
  expect(readFileSync(path.join(outside, "victim"), "utf8")).toBe("original\n");
};

describe.skipIf(!helper).each([
  ["the pack file the helper inherits", false, undefined],
  ["positional reads of the pack file by the daemon", false, 0],
  ["ranged reads through the daemon", true, undefined],
] as const)(
  "chunked restore through wsd-unchunk, frames from %s, keeps the extraction rules",
  (_, ranged, maxPackFiles) => {
    const restoreChunkIndex = (
      objects: ObjectStore,
      index: ChunkIndex,
      targetDir: string,
      extract: Parameters<typeof restoreChunks>[3],
    ) => restoreChunks(objects, index, targetDir, extract, { maxPackFiles });
    it("refuses entries that leave the target or write through links: nothing lands outside", async () => {
      for (const entries of [
        [
          { name: "ok.txt", body: "fine" },
          { name: "../x", body: "pwned" },
        ],
        [
          { name: "link", type: "symlink", linkname: outside },
          { name: "link/victim", body: "pwned" },
        ],
        [
          { name: "rel", type: "symlink", linkname: "../../outside" },
          { name: "rel/new", body: "pwned" },
        ],
      ] satisfies CraftedEntry[][]) {
        const { objects, index } = await framedArchive(entries, { ranged });
        const restore = restoreChunkIndex(objects, index, target, { symlinks: "inert" });
        await expect(restore).rejects.toBeInstanceOf(HostileArchiveError);
        expectUntouched();
      }
    });

    it("refuses hard links to outside, and through a link planted by an earlier entry", async () => {
      for (const entries of [
        [{ name: "h", type: "link", linkname: path.join(outside, "victim") }],
        [{ name: "h", type: "link", linkname: "../../outside/victim" }],
        [
          { name: "link", type: "symlink", linkname: outside },
          { name: "h", type: "link", linkname: "link/victim" },
        ],
      ] satisfies CraftedEntry[][]) {
        const { objects, index } = await framedArchive(entries, { ranged });
        const restore = restoreChunkIndex(objects, index, target, { symlinks: "inert" });
        await expect(restore).rejects.toBeInstanceOf(HostileArchiveError);
        expectUntouched();
      }
    });

    it("refuses an archive over its limits", async () => {
      const entries: CraftedEntry[] = [
        { name: "a", body: "x".repeat(3000) },
        { name: "b", body: "y" },
        { name: "c", body: "z" },
      ];
      for (const limits of [{ maxEntries: 2 }, { maxEntryBytes: 2000 }, { maxTotalBytes: 3000 }]) {
        const { objects, index } = await framedArchive(entries, { ranged });
        await expect(restoreChunkIndex(objects, index, target, limits)).rejects.toBeInstanceOf(
          HostileArchiveError,
        );
        expectUntouched();
      }
    });

    it("refuses a pack whose chunk fails its hash: nothing of it is extracted", async () => {
      // the second chunk (inside the body of `a`) is swapped for bytes of the same length
      const entries: CraftedEntry[] = [
        { name: "a", body: "x".repeat(3000) },
        { name: "b", body: "y" },
      ];
      const { objects, index } = await framedArchive(entries, {
        ranged,
        forge: (i, raw) => (i === 1 ? Buffer.alloc(raw.length, "p") : undefined),
      });
      const restore = restoreChunkIndex(objects, index, target, {});
      await expect(restore).rejects.toBeInstanceOf(ContentCorruptError);
      await expect(restore).rejects.toThrow(/does not match its hash/);
      expectUntouched();
    });

    it("refuses a pack that ends before the frames its index names", async () => {
      const { objects, index, packFile } = await framedArchive(
        [{ name: "a", body: "x".repeat(5000) }],
        { ranged },
      );
      truncateSync(packFile, (index.packs[0]?.size ?? 0) - 3);
      const restore = restoreChunkIndex(objects, index, target, {});
      await expect(restore).rejects.toBeInstanceOf(ContentCorruptError);
      await expect(restore).rejects.toThrow(
        maxPackFiles === 0 || ranged
          ? /does not hold the frames/
          : /pack file ends before the frame/,
      );
      expectUntouched();
    });

    it("does not read a pack through a link planted in the store's directory", async () => {
      // a valid pack outside the store, and the store's pack replaced by a link to it: were the
      // link followed, the restore would succeed
      const { objects, index, packFile } = await framedArchive(
        [{ name: "a", body: "from outside" }],
        { ranged },
      );
      const planted = path.join(outside, "pack");
      writeFileSync(planted, readFileSync(packFile));
      unlinkSync(packFile);
      symlinkSync(planted, packFile);
      await expect(restoreChunkIndex(objects, index, target, {})).rejects.toThrow();
      expect(readdirSync(target)).toEqual([]);
    });
  },
);
