import { mkdirSync, mkdtempSync, readdirSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { ArchiveLimitError } from "../../src/archive/index.js";
import { LocalDirectoryObjectStore } from "../../src/storage/index.js";
import { chunkedStore, defineChunkedStoreSuite } from "./chunked-store-suite.js";
import { listKeys, newWorkspace } from "./content-store-suite.js";
import { defineFramedRestoreSuite } from "./framed-restore-suite.js";

const root = mkdtempSync(path.join(tmpdir(), "wsd-chunked-store-"));
afterAll(() => rmSync(root, { recursive: true, force: true }));

defineChunkedStoreSuite("a local directory", () => ({
  objects: () => new LocalDirectoryObjectStore(root),
}));

describe("chunked backups of trees beyond the limits", () => {
  it("are refused while walking, leave nothing behind and keep the previous backup", async () => {
    const objects = new LocalDirectoryObjectStore(path.join(root, "limits"));
    const src = path.join(root, "limits-src");
    mkdirSync(src, { recursive: true });
    writeFileSync(path.join(src, "a.txt"), "a\n");
    const { store } = chunkedStore(objects, { limits: { maxEntries: 4 } });
    const ws = newWorkspace();
    await store.backup(ws, src);
    const before = await listKeys(objects, "");
    for (let i = 0; i < 10; i++) writeFileSync(path.join(src, `more-${i}.txt`), "x".repeat(i));
    await expect(store.backup(ws, src)).rejects.toBeInstanceOf(ArchiveLimitError);
    expect(await listKeys(objects, "")).toEqual(before);
    const out = path.join(root, "limits-out");
    await store.restoreBackup(ws, out);
    expect(readdirSync(out)).toEqual(["a.txt"]);
  });
});

defineFramedRestoreSuite("a local directory", () => ({
  objects: () => new LocalDirectoryObjectStore(path.join(root, "framed")),
}));
