import { readdirSync } from "node:fs";
import path from "node:path";
import { expect } from "vitest";
import { ArchiveContentStore, LocalDirectoryObjectStore } from "../../src/storage/index.js";
import { backupPrefix } from "../../src/storage/object-keys.js";
import { buildFullTree, expectSameTree } from "../archive/tree-fixture.js";
import { newWorkspace } from "./content-store-suite.js";

/** Every file below `dir`, temp files (".tmp-…") included. */
function filesUnder(dir: string): string[] {
  return (readdirSync(dir, { recursive: true }) as string[]).sort();
}

/**
 * Backs up a tree (in `scratch`) to the local store at `storeRoot`, then backs it up again through
 * the store `failing(src)` returns, which must fail: that attempt must leave the previous backup
 * restorable and not a file more (no temp file) behind. Resolves with the failure.
 */
export async function backupThenFail(
  scratch: string,
  storeRoot: string,
  failing: (src: string) => ArchiveContentStore,
): Promise<unknown> {
  const objects = new LocalDirectoryObjectStore(storeRoot);
  const ws = newWorkspace();
  const src = path.join(scratch, `src-${ws.id}`);
  buildFullTree(src, { largeBytes: 200_000 });
  const good = new ArchiveContentStore(objects);
  await good.backup(ws, src);
  const before = filesUnder(path.join(storeRoot, backupPrefix(ws)));
  const copy = path.join(scratch, `copy-${ws.id}`);
  await good.restoreBackup(ws, copy);

  const err = await failing(src)
    .backup(ws, src)
    .then(
      () => undefined,
      (e: unknown) => e,
    );
  expect(err).toBeInstanceOf(Error);
  expect(filesUnder(path.join(storeRoot, backupPrefix(ws)))).toEqual(before);
  const out = path.join(scratch, `out-${ws.id}`);
  await good.restoreBackup(ws, out);
  expectSameTree(out, copy);
  return err;
}
