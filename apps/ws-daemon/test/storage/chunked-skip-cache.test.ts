import { execFileSync } from "node:child_process";
import { randomBytes } from "node:crypto";
import {
  appendFileSync,
  chmodSync,
  closeSync,
  mkdirSync,
  openSync,
  readFileSync,
  renameSync,
  statSync,
  writeFileSync,
  writeSync,
} from "node:fs";
import path from "node:path";
import { describe, expect, it } from "vitest";
import type { ChunkIndex } from "../../src/chunks/index.js";
import type { KnownChunk } from "../../src/storage/chunk-catalog.js";
import { readChunkIndex } from "../../src/storage/chunk-catalog.js";
import { LocalDirectoryObjectStore } from "../../src/storage/index.js";
import { reusablePieces } from "../../src/storage/piece-reuse.js";
import { buildFullTree, expectSameTree } from "../archive/tree-fixture.js";
import { useWorkDir } from "../archive/work-dir.js";
import { nativeChunkerOrReason } from "../support/native-chunker.js";
import { chunkedManifestOf, chunkedStore } from "./chunked-store-suite.js";
import { newWorkspace } from "./content-store-suite.js";

const MiB = 1024 * 1024;

const chunker = nativeChunkerOrReason();
if (!("path" in chunker)) {
  process.stdout.write(`skip cache with the native chunker not run: ${chunker.reason}\n`);
}
// the walk's records (pieces, reused chunks) go to whichever chunker runs: both must honour them,
// and the native chunker's own walk (the default with it) must make the same decisions
const chunkers: { name: string; chunkerPath?: string; nativeWalk?: boolean }[] = [
  { name: "the JavaScript chunker" },
  ...("path" in chunker
    ? [
        { name: "the native chunker and its walk", chunkerPath: chunker.path },
        {
          name: "the native chunker fed by the JavaScript walk",
          chunkerPath: chunker.path,
          nativeWalk: false,
        },
      ]
    : []),
];

describe.each(chunkers)("the chunked skip cache with $name", (writer) => {
  const chunkerOption = writer.chunkerPath
    ? { chunkerPath: writer.chunkerPath, nativeWalk: writer.nativeWalk }
    : {};
  const work = useWorkDir("wsd-skip-cache-");

  it("a re-backup reads no unchanged file, re-reads every changed one, and restores exactly", async () => {
    const src = work.join("src");
    buildFullTree(src, { largeBytes: 3 * MiB });
    const big = (name: string) => path.join(src, "big", name);
    mkdirSync(path.join(src, "big"));
    const sizes = {
      "in-place.bin": 2 * MiB,
      "replaced.bin": 2 * MiB + 3,
      "grows.bin": 1536 * 1024,
    };
    for (const [name, size] of Object.entries(sizes)) writeFileSync(big(name), randomBytes(size));
    writeFileSync(big("unchanged.bin"), randomBytes(2 * MiB));
    const unchangedBytes = 2 * MiB + 3 * MiB; // unchanged.bin and data/large.bin
    // what a backup that reads no file at all still reads: the end of the archive
    const endOfArchive = 1024;

    const objects = new LocalDirectoryObjectStore(work.join("store"));
    // settleMs 0: the tree was written just now, and the test changes it right away; no
    // repacking: a piece whose chunks lie in a pack being repacked is read again (by design), which
    // would blur what this test counts
    const { store, stats } = chunkedStore(objects, {
      ...chunkerOption,
      pieces: { settleMs: 0 },
      repackBelow: 0,
    });
    const ws = newWorkspace();
    const indexOf = async () =>
      readChunkIndex(objects, await chunkedManifestOf(store, ws)) as Promise<ChunkIndex>;

    await store.backup(ws, src);
    expect(stats[0]?.skippedBytes).toBe(0);
    const pieces = (await indexOf()).pieces?.length ?? 0;
    expect(pieces).toBeGreaterThan(5);

    // the kernel's count of bytes this process read (the walk runs on a thread of it): our own
    // counters aside, the files' bytes must not have been read
    const readBefore = bytesReadByThisProcess();
    await store.backup(ws, src);
    expect(bytesReadByThisProcess() - readBefore).toBeLessThan(MiB);
    expect(stats[1]).toMatchObject({ scannedBytes: endOfArchive, newChunks: 0, newBytes: 0 });
    expect(stats[1]?.skippedBytes).toBeGreaterThan(unchangedBytes + 5 * MiB);
    expect((await indexOf()).pieces).toHaveLength(pieces);
    await store.restoreBackup(ws, work.join("out-unchanged"));
    expectSameTree(work.join("out-unchanged"), src);

    // content changed in place, size and mtime put back (only ctime tells)
    execFileSync("touch", ["-r", big("in-place.bin"), work.join("times")]);
    const fd = openSync(big("in-place.bin"), "r+");
    writeSync(fd, Buffer.from("changed"), 0, 7, MiB);
    closeSync(fd);
    execFileSync("touch", ["-r", work.join("times"), big("in-place.bin")]);
    // replaced by another file of the same size and mtime (a new inode)
    writeFileSync(`${big("replaced.bin")}.new`, randomBytes(sizes["replaced.bin"]));
    execFileSync("touch", ["-r", big("replaced.bin"), `${big("replaced.bin")}.new`]);
    renameSync(`${big("replaced.bin")}.new`, big("replaced.bin"));
    expect(statSync(big("replaced.bin")).size).toBe(sizes["replaced.bin"]);
    // grown
    appendFileSync(big("grows.bin"), "more");
    // small files: content changed with size and mtime put back (a file with three names), and
    // a mode changed
    execFileSync("touch", ["-r", path.join(src, "src/index.ts"), work.join("times")]);
    writeFileSync(path.join(src, "src/index.ts"), "export const answer = 43;\n".repeat(100));
    execFileSync("touch", ["-r", work.join("times"), path.join(src, "src/index.ts")]);
    chmodSync(path.join(src, "README.md"), 0o600);

    await store.backup(ws, src);
    expect(stats[2]?.skippedBytes).toBeGreaterThanOrEqual(unchangedBytes);
    expect(stats[2]?.scannedBytes).toBeGreaterThan(sizes["in-place.bin"] + sizes["replaced.bin"]);
    expect(stats[2]?.newChunks).toBeGreaterThan(0);
    expect((await indexOf()).pieces).toHaveLength(pieces);
    await store.restoreBackup(ws, work.join("out-changed"));
    expectSameTree(work.join("out-changed"), src);

    // and the pieces of a re-read backup are as good as the first ones
    await store.backup(ws, src);
    expect(stats[3]).toMatchObject({ scannedBytes: endOfArchive, newChunks: 0 });
    await store.restoreBackup(ws, work.join("out-again"));
    expectSameTree(work.join("out-again"), src);
  });

  it("a snapshot reads everything (it has no previous index of its own)", async () => {
    const src = work.join("snap-src");
    mkdirSync(src);
    writeFileSync(path.join(src, "large.bin"), randomBytes(2 * MiB));
    const objects = new LocalDirectoryObjectStore(work.join("snap-store"));
    const { store, stats } = chunkedStore(objects, { ...chunkerOption, pieces: { settleMs: 0 } });
    const ws = newWorkspace();
    await store.backup(ws, src);
    await store.snapshot(ws, src);
    expect(stats[1]).toMatchObject({ skippedBytes: 0, newChunks: 0 });
  });
});

describe("reusablePieces (what a previous index may make the walk skip)", () => {
  const id = (n: number) => n.toString(16).padStart(64, "0");
  const previous: ChunkIndex = {
    packs: [{ key: "p", rawSize: 300, size: 100 }],
    chunks: [1, 2, 3, 4].map((n) => ({ pack: 0, offset: (n - 1) * 75, length: 75, sha256: id(n) })),
    entries: 1,
    tarBytes: 300,
    pieces: [
      { fingerprint: "a".repeat(64), first: 0, count: 2 },
      { fingerprint: "b".repeat(64), first: 2, count: 1 },
      { fingerprint: "c".repeat(64), first: 3, count: 1 },
    ],
  };
  const known = (entries: [number, number][]) =>
    new Map<string, KnownChunk>(
      entries.map(([n, length]) => [
        id(n),
        { packKey: "p", packRawSize: 300, packSize: 100, offset: 0, length },
      ]),
    );

  it("keeps only pieces whose every chunk the catalog names with the same length", () => {
    // chunk 2 is not in the catalog (swept, or never stored), chunk 4 has another length there
    const reusable = reusablePieces(
      previous,
      known([
        [1, 75],
        [3, 75],
        [4, 74],
      ]),
    );
    expect([...reusable.keys()]).toEqual(["b".repeat(64)]);
    expect(reusable.get("b".repeat(64))).toEqual([{ id: id(3), length: 75 }]);
  });

  it("takes every piece the catalog fully names, and nothing from an index without pieces", () => {
    const all = known([
      [1, 75],
      [2, 75],
      [3, 75],
      [4, 75],
    ]);
    expect(reusablePieces(previous, all).size).toBe(3);
    expect(reusablePieces({ ...previous, pieces: undefined }, all).size).toBe(0);
  });
});

/** rchar of /proc/self/io: bytes this process got from read(2) and the like, any thread. */
function bytesReadByThisProcess(): number {
  const line = readFileSync("/proc/self/io", "utf8")
    .split("\n")
    .find((l) => l.startsWith("rchar:"));
  return Number(line?.split(/\s+/)[1] ?? Number.NaN);
}
