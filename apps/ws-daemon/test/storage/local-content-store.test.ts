import { mkdtempSync, readdirSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { Readable } from "node:stream";
import { afterAll, describe, expect, it } from "vitest";
import { LocalDirectoryObjectStore } from "../../src/storage/local-object-store.js";
import {
  getBytes,
  InvalidObjectKeyError,
  ObjectNotFoundError,
} from "../../src/storage/object-store.js";
import { defineContentStoreSuite, listKeys } from "./content-store-suite.js";

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

  it("refuses keys that could leave the root", async () => {
    const store = new LocalDirectoryObjectStore(path.join(root, "keys"));
    for (const key of ["../x", "a/../../x", "/etc/passwd", "a//b", ".hidden", "a/./b", ""]) {
      await expect(store.head(key), key).rejects.toBeInstanceOf(InvalidObjectKeyError);
    }
  });
});
