import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { afterAll } from "vitest";
import { LocalDirectoryObjectStore } from "../../src/storage/index.js";
import { defineChunkedStoreSuite } from "./chunked-store-suite.js";

const root = mkdtempSync(path.join(tmpdir(), "wsd-chunked-store-"));
afterAll(() => rmSync(root, { recursive: true, force: true }));

defineChunkedStoreSuite("a local directory", () => ({
  objects: () => new LocalDirectoryObjectStore(root),
}));
