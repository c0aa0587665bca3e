import { randomBytes } from "node:crypto";
import { mkdirSync, writeFileSync } from "node:fs";
import path from "node:path";
import { describe, expect, it } from "vitest";
import { parseChunkIndex } from "../../src/chunks/index.js";
import { LocalDirectoryObjectStore } from "../../src/storage/index.js";
import { getBytes } from "../../src/storage/object-store.js";
import { expectSameTree } from "../archive/tree-fixture.js";
import { useWorkDir } from "../archive/work-dir.js";
import { nativeChunkerOrReason } from "../support/native-chunker.js";
import { chunkedManifestOf, chunkedStore } from "./chunked-store-suite.js";
import { newWorkspace } from "./content-store-suite.js";
import { RecordingStore } from "./framed-backup.js";

const chunker = nativeChunkerOrReason();
if (!("path" in chunker)) console.warn(`skipped: ${chunker.reason}`);

/**
 * A backup that reuses chunks of framed packs names their frames again, so its restore reads
 * those chunks by their frames (ranged reads, or the pack files wsd-unchunk inherits) instead of
 * decompressing every pack it touches whole.
 */
describe.skipIf(!("path" in chunker))("chunks reused from framed packs", () => {
  const work = useWorkDir("wsd-reused-frames-");

  it("keep their frames in the next backup's index, and its restore reads only frames", async () => {
    const chunkerPath = "path" in chunker ? chunker.path : undefined;
    const objects = new LocalDirectoryObjectStore(work.join("store"));
    const { store } = chunkedStore(objects, { chunkerPath });
    const src = work.join("src");
    mkdirSync(src);
    writeFileSync(path.join(src, "large.bin"), randomBytes(3 * 1024 * 1024));
    for (let i = 0; i < 50; i++) writeFileSync(path.join(src, `small-${i}.txt`), `file ${i}\n`);
    const ws = newWorkspace();
    await store.backup(ws, src);
    // unchanged, then one small file changed: nearly every chunk is reused
    await store.backup(ws, src);
    writeFileSync(path.join(src, "small-7.txt"), "changed\n");
    await store.backup(ws, src);

    const manifest = await chunkedManifestOf(store, ws);
    const index = parseChunkIndex(await getBytes(objects, manifest.indexKey), manifest.indexKey);
    expect(index.chunks.length).toBeGreaterThan(1);
    expect(index.chunks.filter((c) => !c.frame)).toEqual([]);
    expect(index.packs.filter((p) => !p.framed)).toEqual([]);

    // through a store without local files: every pack read is a ranged read of frames
    const recording = new RecordingStore(objects);
    const out = work.join("out");
    await chunkedStore(recording).store.restoreBackup(ws, out);
    expectSameTree(out, src);
    const packReads = recording.gets.filter((g) => g.key.endsWith(".pack"));
    expect(packReads.length).toBeGreaterThan(0);
    expect(packReads.filter((g) => g.range === undefined)).toEqual([]);
  });
});
