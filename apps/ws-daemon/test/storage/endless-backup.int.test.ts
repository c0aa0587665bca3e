import { mkdirSync, readFileSync } from "node:fs";
import path from "node:path";
import { afterEach, describe, expect, it } from "vitest";
import { ArchiveDeadlineError } from "../../src/archive/index.js";
import {
  ArchiveContentStore,
  FormatContentStore,
  LocalDirectoryObjectStore,
} from "../../src/storage/index.js";
import { backupPrefix } from "../../src/storage/object-keys.js";
import { buildFullTree, expectSameTree } from "../archive/tree-fixture.js";
import { useWorkDir } from "../archive/work-dir.js";
import { type EndlessMount, fuseAvailable, mountEndlessFile } from "../support/endless-fuse.js";
import { nativeChunkerOrReason } from "../support/native-chunker.js";
import { newWorkspace } from "./content-store-suite.js";

/**
 * Finding 4 of issue 17: a file whose read never returns (here a FUSE file; `truncate -s 4E` on
 * XFS where available) made a backup that never ended and held one of the archive slots for good,
 * so other tenants' backups waited forever. The deadline abandons it: the previous backup stays
 * and restores byte-identical, and the slot serves the next backup.
 */

const canFuse = fuseAvailable();
if (!canFuse) {
  console.warn(
    "[endless backup] skipped: needs root and FUSE (/dev/fuse) to mount an endless file",
  );
}

const work = useWorkDir("wsd-endless-");
let mounted: EndlessMount | undefined;
afterEach(async () => {
  await mounted?.unmount();
  mounted = undefined;
});

describe.skipIf(!canFuse)("a backup of a file that never ends", () => {
  it("hits the deadline; the previous backup restores byte-identical and the slot is free", async () => {
    const objects = new LocalDirectoryObjectStore(work.join("store"));
    const ws = newWorkspace();
    const src = work.join("src");
    buildFullTree(src, { largeBytes: 300_000 });
    // the last good backup, and what it restores to
    await new ArchiveContentStore(objects).backup(ws, src);
    const manifestFile = path.join(objects.root, backupPrefix(ws), "manifest.json");
    const goodManifest = readFileSync(manifestFile);
    const good = work.join("good");
    await new ArchiveContentStore(objects).restoreBackup(ws, good);

    mkdirSync(path.join(src, "mnt"));
    mounted = await mountEndlessFile(path.join(src, "mnt"), "endless.bin", 16 * 1024 * 1024);
    // one archive at a time, as a busy node would have it: the endless one holds the only slot
    const store = new ArchiveContentStore(objects, {
      maxConcurrentArchives: 1,
      deadline: { baseMs: 4000, msPerGiB: 0 },
    });
    const endless = store.backup(ws, src);
    const otherTenant = newWorkspace();
    const other = store.backup(otherTenant, good);

    const err = await endless.then(
      () => undefined,
      (e: unknown) => e,
    );
    expect(err).toBeInstanceOf(ArchiveDeadlineError);
    expect(err).toMatchObject({ kind: "deadline-exceeded" });
    // the other tenant's backup got the slot and completed
    await expect(other).resolves.toMatchObject({ files: expect.any(Number) });

    expect(readFileSync(manifestFile)).toEqual(goodManifest);
    const out = work.join("out");
    await store.restoreBackup(ws, out);
    expectSameTree(out, good);
  });
});

const chunker = nativeChunkerOrReason();
if (canFuse && !("path" in chunker)) {
  console.warn(`[endless backup] the native chunker's walk not tested: ${chunker.reason}`);
}

describe.skipIf(!canFuse || !("path" in chunker))(
  "a chunked backup of a file that never ends",
  () => {
    it("the native chunker's walk hits the deadline too, and the previous backup stays", async () => {
      const objects = new LocalDirectoryObjectStore(work.join("store"));
      const ws = newWorkspace();
      const src = work.join("src");
      buildFullTree(src, { largeBytes: 300_000 });
      const chunkerPath = "path" in chunker ? chunker.path : "";
      const store = new FormatContentStore(objects, {
        format: "chunked",
        chunkerPath,
        maxConcurrentArchives: 1,
        deadline: { baseMs: 4000, msPerGiB: 0 },
      });
      await store.backup(ws, src);
      const good = work.join("good");
      await store.restoreBackup(ws, good);
      mkdirSync(path.join(src, "mnt"));
      mounted = await mountEndlessFile(path.join(src, "mnt"), "endless.bin", 16 * 1024 * 1024);
      const err = await store.backup(ws, src).then(
        () => undefined,
        (e: unknown) => e,
      );
      expect(err).toBeInstanceOf(ArchiveDeadlineError);
      expect(err).toMatchObject({ kind: "deadline-exceeded" });
      const out = work.join("out");
      await store.restoreBackup(ws, out);
      expectSameTree(out, good);
    });
  },
);
