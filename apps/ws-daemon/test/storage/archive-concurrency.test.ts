import { describe, expect, it } from "vitest";
import { ArchiveContentStore, LocalDirectoryObjectStore } from "../../src/storage/index.js";
import { buildFullTree, expectSameTree } from "../archive/tree-fixture.js";
import { useWorkDir } from "../archive/work-dir.js";
import { newWorkspace } from "./content-store-suite.js";
import { CommitGate } from "./object-store-faults.js";

const work = useWorkDir("wsd-archive-limit-");

/**
 * Starts one more backup than `maxConcurrentArchives` allows, each of its own workspace, on a
 * local store whose data commits wait at a gate: `limit` of them must have written their archive
 * and wait there together, while the last has not even begun.
 */
async function oneMoreThan(limit: number): Promise<void> {
  const src = work.join("src");
  buildFullTree(src, { largeBytes: 50_000 });
  const gate = new CommitGate(new LocalDirectoryObjectStore(work.join("store")));
  const store = new ArchiveContentStore(gate, { maxConcurrentArchives: limit });
  const last = newWorkspace();
  const workspaces = [...Array.from({ length: limit }, newWorkspace), last];
  const backups = workspaces.map((ws) => store.backup(ws, src));

  // (a store allowing fewer than `limit` never gets here: the test times out)
  await gate.holding(limit);
  expect(gate.began).toHaveLength(limit);

  gate.release();
  await Promise.all(backups);
  expect(gate.began).toHaveLength(limit + 1);
  expect(gate.mostAtOnce).toBe(limit);
  await store.restoreBackup(last, work.join("out"));
  expectSameTree(work.join("out"), src);
}

describe("maxConcurrentArchives bounds the archives running at once", () => {
  it("runs 3 real archives together when the limit is 3", { timeout: 30_000 }, async () => {
    await oneMoreThan(3);
  });

  it("runs only 2 together when the limit is 2", { timeout: 30_000 }, async () => {
    await oneMoreThan(2);
  });
});
