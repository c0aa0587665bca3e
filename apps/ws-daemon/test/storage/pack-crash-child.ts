/**
 * Child process for the crash test of published packs: one chunked backup with the native
 * chunker on a local store, which stops for good right after its first pack was renamed into
 * the store (before any index names it) and says "published <key>", so the parent can SIGKILL
 * it exactly between the rename and the index's publication.
 * argv: storeRoot chunkerPath dir owner metaId
 */

import { FormatContentStore, LocalDirectoryObjectStore } from "../../src/storage/index.js";
import type { PutOptions } from "../../src/storage/object-store.js";

const [root, chunkerPath, dir, owner, metaId] = process.argv.slice(2) as [
  string,
  string,
  string,
  string,
  string,
];

class StopsAfterFirstPack extends LocalDirectoryObjectStore {
  override async putFile(key: string, file: string, options?: PutOptions) {
    const done = await super.putFile(key, file, options);
    process.stdout.write(`published ${key}\n`);
    return new Promise<typeof done>(() => {});
  }
}

const store = new FormatContentStore(new StopsAfterFirstPack(root), {
  format: "chunked",
  packTargetBytes: 1024 * 1024,
  chunkerPath,
});
process.stdout.write(`staging ${await new LocalDirectoryObjectStore(root).files.staging?.()}\n`);
await store.backup({ id: "child", owner, metaId }, dir);
process.stdout.write("done\n");
