import { randomBytes } from "node:crypto";
import { cpSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { ChunkCatalog } from "../../src/storage/chunk-catalog.js";
import { collectChunks } from "../../src/storage/chunk-gc.js";
import { LocalDirectoryObjectStore, type ObjectStore } from "../../src/storage/index.js";
import { backupPrefix } from "../../src/storage/object-keys.js";
import { expectSameTree } from "../archive/tree-fixture.js";
import { chunkedStore, packsOf, sweepClockBetween } from "./chunked-store-suite.js";
import { listKeys, newWorkspace } from "./content-store-suite.js";
import { HeldPutStore } from "./object-store-faults.js";

const root = mkdtempSync(path.join(tmpdir(), "wsd-chunked-gc-"));
afterAll(() => rmSync(root, { recursive: true, force: true }));
let dirs = 0;
const freshDir = (name: string) => {
  const dir = path.join(root, `${name}-${dirs++}`);
  mkdirSync(dir, { recursive: true });
  return dir;
};
const quiet = () => {};

async function storedBytes(objects: ObjectStore, prefix: string): Promise<number> {
  let bytes = 0;
  for await (const o of objects.list(prefix)) bytes += o.size;
  return bytes;
}

describe("the chunk sweep against a writer that is about to publish", () => {
  // The attack on the collector: a writer has read the published indexes (and so will name an
  // old pack), the only published index naming that pack goes away, and the sweep lists its
  // candidates before the writer publishes. Driven step by step through a held put: no timing.
  it("keeps the packs the writer names (the wait for its lease, then the second look)", async () => {
    const objects = new LocalDirectoryObjectStore(freshDir("store"));
    const src = freshDir("src");
    for (let i = 0; i < 6; i++) writeFileSync(path.join(src, `f${i}`), randomBytes(400_000));
    const owner = newWorkspace().owner;
    const first = { ...newWorkspace(), owner };
    const second = { ...newWorkspace(), owner };
    await chunkedStore(objects).store.backup(first, src);
    const packs = await packsOf(objects, first);
    await new Promise((r) => setTimeout(r, 50)); // the lease comes strictly later than the packs
    // the writer: the same tree, so it names every pack of the first backup and stores none
    const held = new HeldPutStore(objects, (key) =>
      key.startsWith(`${backupPrefix(second)}index-`),
    );
    const writing = chunkedStore(held).store.backup(second, src);
    await held.reached;
    const [lease] = await listKeys(objects, `chunks/owners/${owner}/leases/`);
    if (!lease) throw new Error("the writer holds no lease");
    // the first workspace is deleted: now only the writer (not yet published) names the packs
    await objects.delete(`${backupPrefix(first)}manifest.json`);
    const clock = await sweepClockBetween(objects, packs, lease);
    let waited = 0;
    const report = await collectChunks(objects, new ChunkCatalog(objects, quiet), {
      graceMs: clock.graceMs,
      now: clock.now,
      sleep: clock.sleep,
      pollMs: clock.maxSleepMs / 100_000,
      waitForWritersMs: clock.maxSleepMs,
      log: quiet,
      // the writer goes on only once the sweep waits for it: without the wait, the sweep would
      // finish (and delete) first; without the second look, it would not see what was published
      onWaitForWriters: () => {
        waited++;
        held.release();
      },
    });
    held.release();
    await writing;
    expect(await packsOf(objects, second)).toEqual(packs);
    const out = freshDir("out");
    rmSync(out, { recursive: true });
    await chunkedStore(objects).store.restoreBackup(second, out);
    expectSameTree(out, src);
    expect(await listKeys(objects, `chunks/owners/${owner}/condemned/`)).toEqual([]);
    expect(waited).toBe(1);
    expect(report.scopesSkipped).toBe(0);
  });
});

describe("repack on write", () => {
  const MiB = 1024 * 1024;
  const FILES = 16;
  /** Backs up four workspaces once per changed file, replacing 7 of every 8 files in turn. */
  async function churn(repackBelow: number) {
    const objects = new LocalDirectoryObjectStore(freshDir("store"));
    const owner = newWorkspace().owner;
    const { store, stats } = chunkedStore(objects, { packTargetBytes: 4 * MiB, repackBelow });
    const workspaces = [0, 1, 2, 3].map(() => ({
      ws: { ...newWorkspace(), owner },
      src: freshDir("src"),
    }));
    for (const { src } of workspaces) {
      for (let i = 0; i < FILES; i++) writeFileSync(path.join(src, `f${i}`), randomBytes(MiB));
    }
    for (const { ws, src } of workspaces) await store.backup(ws, src);
    // files 0-6, 8-14: every first pack keeps about an eighth of its chunks live
    const changing = [...Array(FILES).keys()].filter((i) => i % 8 !== 7);
    for (const i of changing) {
      for (const { ws, src } of workspaces) {
        writeFileSync(path.join(src, `f${i}`), randomBytes(MiB));
        await store.backup(ws, src);
      }
      await store.sweep(0);
    }
    await store.sweep(0);
    for (const { ws, src } of workspaces) {
      const out = freshDir("out");
      rmSync(out, { recursive: true });
      await store.restoreBackup(ws, out);
      expectSameTree(out, src);
    }
    const live = workspaces.length * FILES * MiB;
    const stored = await storedBytes(objects, `chunks/owners/${owner}/packs/`);
    const repackedBytes = stats.reduce((n, s) => n + s.repackedBytes, 0);
    const repackedPacks = stats.reduce((n, s) => n + s.repackedPacks, 0);
    return { ratio: stored / live, repackedBytes, repackedPacks };
  }

  it("bounds the bytes stored after many changing backups, and every backup restores", {
    timeout: 240_000,
  }, async () => {
    const repacked = await churn(0.5);
    const kept = await churn(0);
    console.log(
      `stored/live after ${FILES - FILES / 8} rounds: repackBelow 0.5 → ${repacked.ratio.toFixed(2)} (${repacked.repackedPacks} packs left, ${(repacked.repackedBytes / MiB).toFixed(1)} MiB stored again), repackBelow 0 → ${kept.ratio.toFixed(2)}`,
    );
    expect(repacked.repackedPacks).toBeGreaterThan(0);
    expect(kept.repackedBytes).toBe(0);
    // measured 1.36-1.53 against 1.72-2.11 (6 runs each, 2-4 workspaces); packs at least half
    // live when named would allow up to about 2
    expect(repacked.ratio).toBeLessThanOrEqual(1.7);
    expect(kept.ratio).toBeGreaterThan(repacked.ratio + 0.15);
  });
});

describe("the chunk sweep of a scope that is never without a writer", () => {
  it("collects garbage past the grace while overlapping backups run, and every backup restores", {
    timeout: 180_000,
  }, async () => {
    const objects = new LocalDirectoryObjectStore(freshDir("store"));
    const graceMs = 3000;
    const owner = newWorkspace().owner;
    const base = freshDir("base");
    for (let i = 0; i < 4; i++) writeFileSync(path.join(base, `f${i}`), randomBytes(300_000));
    const writers = [0, 1, 2].map((i) => {
      const src = freshDir(`src-${i}`);
      cpSync(base, src, { recursive: true });
      return {
        ws: { ...newWorkspace(), owner },
        src,
        store: chunkedStore(objects, { orphanGraceMs: graceMs }).store,
        published: 0,
        refused: 0,
      };
    });
    for (const w of writers) await w.store.backup(w.ws, w.src);
    const leases = `chunks/owners/${owner}/leases/`;
    let writing = true;
    // three writers without pause: some lease is (nearly) always live; the old collector
    // skipped such a scope every time
    const loops = writers.map(async (w, i) => {
      let round = 0;
      while (writing) {
        writeFileSync(path.join(w.src, `changing-${i}`), randomBytes(200_000 + round++));
        try {
          await w.store.backup(w.ws, w.src);
          w.published++;
        } catch (err) {
          // a backup slower than half the grace is refused (the previous one stays)
          if (!/longer than its lease/.test(String(err))) throw err;
          w.refused++;
        }
      }
    });
    const sweeper = chunkedStore(objects).store;
    let collectedWhileBusy = 0;
    let sweeps = 0;
    const until = Date.now() + 15_000;
    while (Date.now() < until || sweeps < 12) {
      const busy = (await listKeys(objects, leases)).length > 0;
      const report = await sweeper.sweep(graceMs);
      sweeps++;
      if (busy && report.packs > 0) collectedWhileBusy++;
    }
    writing = false;
    await Promise.all(loops);
    console.log(
      `sweeps ${sweeps}, collected while writers ran: ${collectedWhileBusy}, backups published ${writers.map((w) => w.published)} refused ${writers.map((w) => w.refused)}`,
    );
    // the previous rule (a live lease skips the scope) collected in 1 of 457 sweeps here, in a
    // moment between two backups
    expect(collectedWhileBusy).toBeGreaterThanOrEqual(3);
    for (const w of writers) {
      expect(w.published).toBeGreaterThan(2);
      const out = freshDir("out");
      rmSync(out, { recursive: true });
      await sweeper.restoreBackup(w.ws, out);
      expectSameTree(out, w.src);
    }
    // once quiet, a sweep leaves exactly the packs the published backups name
    await new Promise((r) => setTimeout(r, graceMs));
    await sweeper.sweep(graceMs);
    for (const w of writers) {
      const out = freshDir("out");
      rmSync(out, { recursive: true });
      await sweeper.restoreBackup(w.ws, out);
      expectSameTree(out, w.src);
    }
  });
});
