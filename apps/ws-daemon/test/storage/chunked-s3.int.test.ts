import { mkdirSync, writeFileSync } from "node:fs";
import path from "node:path";
import { describe, expect, it } from "vitest";
import { expectSameTree } from "../archive/tree-fixture.js";
import { useWorkDir } from "../archive/work-dir.js";
import { chunkedStore, defineChunkedStoreSuite, packsOf } from "./chunked-store-suite.js";
import { newWorkspace } from "./content-store-suite.js";
import { defineFramedRestoreSuite } from "./framed-restore-suite.js";
import { useMotoS3 } from "./moto-s3.js";

const moto = useMotoS3({ bucket: "wsd-chunked", partSize: 5 * 1024 * 1024 });

defineChunkedStoreSuite("S3 (moto_server)", () => ({ objects: () => moto.store() }));
defineFramedRestoreSuite("S3 (moto_server)", () => ({ objects: () => moto.store() }));

describe("two daemons backing up while a third collects garbage (S3)", () => {
  const work = useWorkDir("wsd-chunked-gc-");

  it("never deletes a pack a published index names", { timeout: 180_000 }, async () => {
    // short grace: packs of replaced backups become collectable within the test; writers then
    // may not publish after half of it (their lease would look dead to the collector)
    const graceMs = 4000;
    const owner = newWorkspace().owner;
    const writers = [0, 1].map((i) => ({
      ws: { ...newWorkspace(), owner },
      store: chunkedStore(moto.store(), { orphanGraceMs: graceMs }).store,
      src: work.join(`src-${i}`),
      backups: 0,
    }));
    const collector = chunkedStore(moto.store(), { orphanGraceMs: graceMs }).store;
    const objects = moto.store();
    for (const w of writers) {
      writeFileSync(path.join(makeDir(w.src), "shared.txt"), "common to both\n".repeat(50_000));
      await w.store.backup(w.ws, w.src);
    }
    const deadline = Date.now() + 16_000;
    let sweeps = 0;
    let collected = 0;
    const writing = writers.map(async (w, i) => {
      while (Date.now() < deadline) {
        // every round replaces one file with one of three contents both writers use: chunks
        // become garbage and are then reused (from the other writer's index) again and again
        writeFileSync(
          path.join(w.src, "changing.bin"),
          Buffer.alloc(300_000, ((w.backups + i) % 3) + 1),
        );
        try {
          await w.store.backup(w.ws, w.src);
          w.backups++;
        } catch (err) {
          // on a loaded machine a backup may run past half the grace: it is then refused and
          // the previous backup stays (the protocol's rule, not a failure of the collector)
          if (!/longer than its lease/.test(String(err))) throw err;
        }
        // a scope with a live lease is never swept (docs/chunked-backups.md): writers that never
        // pause would starve the collector, so they pause as workspaces between backups do
        await new Promise((r) => setTimeout(r, 700 + 300 * i));
      }
    });
    const collecting = (async () => {
      while (Date.now() < deadline) {
        const before = (await packsOf(objects, writers[0]?.ws ?? newWorkspace())).length;
        await collector.sweep(graceMs);
        const after = (await packsOf(objects, writers[0]?.ws ?? newWorkspace())).length;
        collected += Math.max(0, before - after);
        sweeps++;
        await new Promise((r) => setTimeout(r, 100));
      }
    })();
    await Promise.all([...writing, collecting]);
    // the test is only meaningful if the collector really deleted packs meanwhile
    expect(sweeps).toBeGreaterThan(3);
    expect(collected).toBeGreaterThan(0);
    for (const [i, w] of writers.entries()) {
      expect(w.backups).toBeGreaterThan(2);
      await collector.restoreBackup(w.ws, work.join(`out-${i}`));
      expectSameTree(work.join(`out-${i}`), w.src);
    }
  });
});

function makeDir(dir: string): string {
  mkdirSync(dir, { recursive: true });
  return dir;
}
