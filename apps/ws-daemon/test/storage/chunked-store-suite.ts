import { execFileSync } from "node:child_process";
import { randomBytes } from "node:crypto";
import { existsSync, readdirSync, writeFileSync } from "node:fs";
import path from "node:path";
import { afterAll, beforeAll, beforeEach, describe, expect, it } from "vitest";
import {
  ContentCorruptError,
  ContentNotFoundError,
  systemClock,
} from "../../src/platform/index.js";
import {
  type ChunkedArchiveStats,
  type ContentStoreOptions,
  FormatContentStore,
  type ObjectStore,
  type WorkspaceRef,
} from "../../src/storage/index.js";
import { backupPrefix, workspacePrefix } from "../../src/storage/object-keys.js";
import { getBytes, putBytes } from "../../src/storage/object-store.js";
import { buildFullTree, expectSameTree } from "../archive/tree-fixture.js";
import { useWorkDir } from "../archive/work-dir.js";
import { listKeys, newWorkspace, type StoreFactory } from "./content-store-suite.js";
import { DataStoredHook, FailingPutStore } from "./object-store-faults.js";

export const TWO_DAYS_MS = 2 * 24 * 60 * 60 * 1000;

/** Options every chunkedStore() of the running suite gets (e.g. the native chunker). */
let suiteStoreOptions: ContentStoreOptions = {};

/** A chunked store with a small pack size (several packs from a small tree) and its stats. */
export function chunkedStore(objects: ObjectStore, options: ContentStoreOptions = {}) {
  const stats: ChunkedArchiveStats[] = [];
  const store = new FormatContentStore(objects, {
    format: "chunked",
    packTargetBytes: 1024 * 1024,
    onChunkedArchive: (_op, s) => stats.push(s),
    ...suiteStoreOptions,
    ...options,
  });
  return { store, stats };
}

/** The chunked manifest of the workspace's current backup (fails the test otherwise). */
export async function chunkedManifestOf(store: FormatContentStore, ws: WorkspaceRef) {
  const any = await store.readAnyBackupManifest(ws);
  if (any?.format !== "chunked") throw new Error(`workspace ${ws.id} has no chunked backup`);
  return any.manifest;
}

/**
 * A sweep clock under which `older` objects are past the grace and `newer` ones are not, judged by
 * the store's own times (no waiting for a real grace): now() stays put except for what the sweep
 * sleeps, which `sleep` adds. Needs `newer` stored at least a second after `older` (S3 keeps
 * seconds).
 */
export async function sweepClockBetween(objects: ObjectStore, older: string[], newer: string) {
  const times = new Map<string, number>();
  for await (const o of objects.list("")) times.set(o.key, o.lastModified.getTime());
  const oldest = Math.max(...older.map((k) => times.get(k) ?? Number.NaN));
  const newest = times.get(newer);
  if (newest === undefined || !(oldest < newest)) throw new Error("objects not in time order");
  const gap = newest - oldest;
  let slept = 0;
  const base = newest + gap / 2;
  return {
    // cutoff = now - grace = newest - gap / 4 + slept: between the two while slept < gap / 4
    graceMs: (3 * gap) / 4,
    now: () => base + slept,
    sleep: async (ms: number) => {
      slept += ms;
      await new Promise((r) => setTimeout(r, 10));
    },
    maxSleepMs: gap / 4,
  };
}

export const packsOf = async (objects: ObjectStore, ws: WorkspaceRef) =>
  listKeys(objects, `chunks/owners/${ws.owner}/packs/`);

type IndexJson = { packs: { key: string }[]; chunks: number[][] };

/**
 * The forged-pack attack on a framed pack (native chunker): the middle chunk's frame replaced by
 * a valid frame of its bytes with one bit flipped, the frames after it moved and the index's
 * frame offsets following (still valid zstd, frame by frame and whole, and a valid tar stream),
 * so only the chunk hashes can tell. Rewrites `index` in place; returns the forged pack.
 */
function forgeFramedPack(stored: Buffer, index: IndexJson, victim: string): Buffer {
  const pack = index.packs.findIndex((p) => p.key === victim);
  const mine = index.chunks.filter((c) => c[0] === pack);
  const offsets = [...new Set(mine.map((c) => c[4] as number))].sort((a, b) => a - b);
  const target = offsets[Math.floor(offsets.length / 2)];
  const moved = new Map<number, [number, number]>();
  const frames: Buffer[] = [];
  let at = 0;
  for (const offset of offsets) {
    const length = mine.find((c) => c[4] === offset)?.[5] as number;
    let frame = stored.subarray(offset, offset + length);
    if (offset === target) {
      const raw = execFileSync("zstd", ["-d", "-c", "-q"], { input: frame, maxBuffer: 1 << 26 });
      const mid = Math.floor(raw.length / 2);
      raw.writeUInt8(raw.readUInt8(mid) ^ 0x01, mid);
      frame = execFileSync("zstd", ["-c", "-q", "-1"], { input: raw, maxBuffer: 1 << 26 });
    }
    moved.set(offset, [at, frame.length]);
    frames.push(frame);
    at += frame.length;
  }
  for (const c of mine) {
    const [offset, length] = moved.get(c[4] as number) ?? [0, 0];
    c[4] = offset;
    c[5] = length;
  }
  return Buffer.concat(frames);
}

export function defineChunkedStoreSuite(
  name: string,
  factory: () => StoreFactory,
  storeOptions: ContentStoreOptions = {},
): void {
  describe(`chunked FormatContentStore on ${name}`, () => {
    beforeAll(() => {
      suiteStoreOptions = storeOptions;
    });
    afterAll(() => {
      suiteStoreOptions = {};
    });
    const work = useWorkDir("wsd-chunked-");
    let src: string;
    beforeEach(() => {
      src = work.join("src");
      buildFullTree(src, { largeBytes: 6_000_000 });
    });
    const dir = (n: string) => work.join(n);

    it("backs up and restores a tree exactly, and stores only what changed the next time", async () => {
      const objects = factory().objects();
      const { store, stats } = chunkedStore(objects);
      const ws = newWorkspace();
      expect(await store.hasBackup(ws)).toBe(false);
      const first = await store.backup(ws, src);
      expect(await store.hasBackup(ws)).toBe(true);
      const manifest = await chunkedManifestOf(store, ws);
      expect(manifest).toMatchObject({
        formatVersion: 2,
        format: "chunked",
        fileCount: first.files,
      });
      expect(first.bytes).toBe(manifest.storedBytes);
      await store.restoreBackup(ws, dir("out"));
      expectSameTree(dir("out"), src);
      const packs = await packsOf(objects, ws);
      expect(packs.length).toBeGreaterThan(1);

      // unchanged: nothing new but the index
      const again = await store.backup(ws, src);
      expect(stats[1]).toMatchObject({ newChunks: 0, newBytes: 0 });
      expect(again.bytes).toBeLessThan(4096);
      expect(await packsOf(objects, ws)).toEqual(packs);
      // a snapshot of the same owner's other workspace reuses the chunks too
      const sibling = { ...newWorkspace(), owner: ws.owner };
      const snap = await store.snapshot(sibling, src);
      expect(stats[2]).toMatchObject({ newChunks: 0 });
      // one changed small file: at most a couple of chunks around it are new
      writeFileSync(path.join(src, "README.md"), "# changed\n");
      await store.backup(ws, src);
      expect(stats[3]?.newChunks).toBeLessThanOrEqual(2);
      expect(stats[3]?.newBytes).toBeLessThan((stats[0]?.newBytes ?? 0) / 2);
      // only the current index of the backup stays beside its manifest
      const current = await chunkedManifestOf(store, ws);
      expect(await listKeys(objects, backupPrefix(ws))).toEqual(
        [current.indexKey, `${backupPrefix(ws)}manifest.json`].sort(),
      );
      await store.restoreBackup(ws, dir("out2"));
      expectSameTree(dir("out2"), src);
      // another instance restores the snapshot (taken before the change)
      const other = chunkedStore(factory().objects()).store;
      await other.restoreSnapshot(snap.url, dir("snap"));
      expect(readdirSync(dir("snap")).length).toBeGreaterThan(0);
      // no leases left behind
      expect(await listKeys(objects, `chunks/owners/${ws.owner}/leases/`)).toEqual([]);
    });

    it("restores a backup written in the full format after switching, and replaces it", async () => {
      const objects = factory().objects();
      const full = new FormatContentStore(objects);
      const ws = newWorkspace();
      await full.backup(ws, src);
      const old = await full.readBackupManifest(ws);
      const { store } = chunkedStore(objects);
      await store.restoreBackup(ws, dir("old"));
      expectSameTree(dir("old"), src);
      expect(await store.hasBackup(ws)).toBe(true);
      await store.backup(ws, src);
      // the full archive's data went with its manifest
      expect(old && (await objects.head(old.dataKey))).toBeUndefined();
      // and a daemon switched back still reads the chunked backup
      await full.restoreBackup(ws, dir("back"));
      expectSameTree(dir("back"), src);
      expect(await full.hasBackup(ws)).toBe(true);
    });

    it("refuses a chunk that does not match its hash and leaves the target empty", async () => {
      const objects = factory().objects();
      const { store } = chunkedStore(objects);
      const ws = newWorkspace();
      await store.backup(ws, src);
      const packs = await packsOf(objects, ws);
      // the attack: a pack whose content (in the middle of the large file's data) was changed and
      // compressed again: a valid zstd stream and a valid tar stream, so only the chunk hashes
      // can tell
      const unpack = async (key: string) =>
        execFileSync("zstd", ["-d", "-c", "-q"], {
          input: await getBytes(objects, key),
          maxBuffer: 1 << 26,
        });
      let victim = packs[0] as string;
      let raw = await unpack(victim);
      for (const key of packs) {
        const candidate = await unpack(key);
        if (candidate.length > raw.length) [victim, raw] = [key, candidate];
      }
      const manifest = await chunkedManifestOf(store, ws);
      const index = JSON.parse((await getBytes(objects, manifest.indexKey)).toString());
      const framed = index.packs.find((p: { key: string }) => p.key === victim)?.framed === true;
      const forged = framed
        ? forgeFramedPack(await getBytes(objects, victim), index, victim)
        : (() => {
            const at = Math.floor(raw.length / 2);
            raw.writeUInt8(raw.readUInt8(at) ^ 0x01, at);
            return execFileSync("zstd", ["-c", "-q", "-1"], { input: raw, maxBuffer: 1 << 26 });
          })();
      await putBytes(objects, victim, forged);
      for (const p of index.packs) if (p.key === victim) p.size = forged.length;
      const indexBytes = Buffer.from(JSON.stringify(index));
      await putBytes(objects, manifest.indexKey, indexBytes);
      await putBytes(
        objects,
        `${backupPrefix(ws)}manifest.json`,
        Buffer.from(
          JSON.stringify({
            ...manifest,
            indexSize: indexBytes.length,
            indexSha256: (await import("node:crypto"))
              .createHash("sha256")
              .update(indexBytes)
              .digest("hex"),
          }),
        ),
      );
      const restore = store.restoreBackup(ws, dir("out"));
      await expect(restore).rejects.toBeInstanceOf(ContentCorruptError);
      await expect(restore).rejects.toThrow(/does not match its hash/);
      expect(readdirSync(dir("out"))).toEqual([]);

      // a pack that is not zstd at all, and one that is gone
      await putBytes(objects, victim, Buffer.alloc(forged.length, 7));
      await expect(store.restoreBackup(ws, dir("out2"))).rejects.toBeInstanceOf(
        ContentCorruptError,
      );
      expect(readdirSync(dir("out2"))).toEqual([]);
      await objects.delete(victim);
      await expect(store.restoreBackup(ws, dir("out3"))).rejects.toThrow(/which is missing/);
    });

    it("refuses an index naming packs of another owner", async () => {
      const objects = factory().objects();
      const { store } = chunkedStore(objects);
      const victim = newWorkspace();
      await store.backup(victim, src);
      const victimIndex = (await chunkedManifestOf(store, victim)).indexKey;
      const attacker = newWorkspace();
      await store.backup(attacker, src);
      const manifest = await chunkedManifestOf(store, attacker);
      // the attacker's manifest naming the victim's index (and scope) is refused
      await putBytes(
        objects,
        `${backupPrefix(attacker)}manifest.json`,
        Buffer.from(JSON.stringify({ ...manifest, indexKey: victimIndex })),
      );
      await expect(store.restoreBackup(attacker, dir("out"))).rejects.toThrow(/foreign index/);
      const index = JSON.parse((await getBytes(objects, manifest.indexKey)).toString());
      const victimPack = (await packsOf(objects, victim))[0] as string;
      index.packs[0].key = victimPack;
      const indexBytes = Buffer.from(JSON.stringify(index));
      await putBytes(objects, manifest.indexKey, indexBytes);
      const { createHash } = await import("node:crypto");
      await putBytes(
        objects,
        `${backupPrefix(attacker)}manifest.json`,
        Buffer.from(
          JSON.stringify({
            ...manifest,
            indexSize: indexBytes.length,
            indexSha256: createHash("sha256").update(indexBytes).digest("hex"),
          }),
        ),
      );
      await expect(store.restoreBackup(attacker, dir("out2"))).rejects.toThrow(/foreign pack/);
      await putBytes(
        objects,
        `${backupPrefix(attacker)}manifest.json`,
        Buffer.from(JSON.stringify({ ...manifest, scope: `chunks/owners/${victim.owner}/` })),
      );
      await expect(store.restoreBackup(attacker, dir("out3"))).rejects.toThrow(/foreign scope/);
    });

    it("keeps the previous backup when a pack upload fails or the backup is aborted late", async () => {
      const objects = factory().objects();
      const { store: good } = chunkedStore(objects);
      const ws = newWorkspace();
      await good.backup(ws, src);
      const before = await getBytes(objects, `${backupPrefix(ws)}manifest.json`);
      const packs = await packsOf(objects, ws);
      // incompressible, so its pack passes the failing store's 100 kB: since large files are cut
      // off as pieces, no random bytes of data/large.bin share its chunk any more
      writeFileSync(path.join(src, "new-file"), randomBytes(600_000));
      const failing = chunkedStore(
        new FailingPutStore(objects, 100_000, (k) => k.endsWith(".pack")),
      ).store;
      await expect(failing.backup(ws, src)).rejects.toThrow(/injected failure/);
      const late = new AbortController();
      const hooked = chunkedStore(
        new DataStoredHook(objects, (key) => {
          if (key.includes("/index-")) late.abort(new Error("cancelled after the data"));
        }),
      ).store;
      await expect(hooked.backup(ws, src, { signal: late.signal })).rejects.toThrow(
        /^cancelled after the data$/,
      );
      const midway = new AbortController();
      await expect(
        good.backup(ws, src, {
          signal: midway.signal,
          onProgress: () => midway.abort(new Error("cancelled mid-stream")),
        }),
      ).rejects.toThrow(/cancelled mid-stream|aborted/i);
      expect(await getBytes(objects, `${backupPrefix(ws)}manifest.json`)).toEqual(before);
      expect(await packsOf(objects, ws)).toEqual(packs);
      expect((await listKeys(objects, backupPrefix(ws))).length).toBe(2);
      expect(await listKeys(objects, `chunks/owners/${ws.owner}/leases/`)).toEqual([]);
      await good.restoreBackup(ws, dir("out"));
      expect(existsSync(path.join(dir("out"), "new-file"))).toBe(false);
      await expect(
        good.restoreSnapshot(
          `wsd-snapshot:workspaces/${ws.owner}/${ws.metaId}/snapshots/20260101T000000000Z-0badc0de`,
          dir("none"),
        ),
      ).rejects.toBeInstanceOf(ContentNotFoundError);
    });

    it("the sweep deletes packs no published index names, never one that is named", async () => {
      const objects = factory().objects();
      const { store } = chunkedStore(objects);
      const ws = newWorkspace();
      await store.backup(ws, src);
      const firstPacks = await packsOf(objects, ws);
      const snap = await store.snapshot(ws, src);
      // replace the large file: its old chunks are then named only by the snapshot
      execFileSync("dd", [
        "if=/dev/urandom",
        `of=${path.join(src, "data", "large.bin")}`,
        "bs=1M",
        "count=6",
        "status=none",
      ]);
      await store.backup(ws, src);
      await store.backup(ws, src);
      const allPacks = await packsOf(objects, ws);
      const later = chunkedStore(objects, {
        clock: { ...systemClock, now: () => Date.now() + TWO_DAYS_MS },
      }).store;
      // the snapshot still names the first packs: nothing goes (the sweep covers the whole
      // store, other tests' leftovers included: judge by this owner's packs)
      await later.sweep();
      expect(await packsOf(objects, ws)).toEqual(allPacks);
      // once the snapshot is gone, the old large file's packs go, and only past the grace
      await objects.delete(
        `${workspacePrefix(ws)}/snapshots/${snap.url.split("/").pop()}/manifest.json`,
      );
      await store.sweep();
      expect(await packsOf(objects, ws)).toEqual(allPacks);
      const report = await later.sweep();
      expect(report.indexes).toBeGreaterThanOrEqual(1); // the snapshot's index
      expect(await listKeys(objects, `${workspacePrefix(ws)}/snapshots/`)).toEqual([]);
      const kept = await packsOf(objects, ws);
      expect(kept.length).toBeLessThan(allPacks.length);
      // exactly the packs the current backup names are left
      const current = await chunkedManifestOf(later, ws);
      const named: string[] = JSON.parse(
        (await getBytes(objects, current.indexKey)).toString(),
      ).packs.map((p: { key: string }) => p.key);
      expect(kept).toEqual([...new Set(named)].sort());
      expect(firstPacks.every((k) => allPacks.includes(k))).toBe(true);
      await later.restoreBackup(ws, dir("out"));
      expectSameTree(dir("out"), src);
    });

    it("the sweep waits for a writer whose lease came before its condemned list, and marks again before deleting", async () => {
      const objects = factory().objects();
      const { store } = chunkedStore(objects);
      const ws = newWorkspace();
      await store.backup(ws, src);
      const snap = await store.snapshot(ws, src);
      const snapManifest = `${workspacePrefix(ws)}/snapshots/${snap.url.split("/").pop()}/manifest.json`;
      const snapManifestBytes = await getBytes(objects, snapManifest);
      // make every pack unreferenced, old enough to go
      await objects.delete(`${backupPrefix(ws)}manifest.json`);
      await objects.delete(snapManifest);
      const packs = await packsOf(objects, ws);
      const { collectChunks } = await import("../../src/storage/chunk-gc.js");
      const { ChunkCatalog } = await import("../../src/storage/chunk-catalog.js");
      // a manifest published between the mark and the delete (another daemon's backup that
      // reused the packs) is seen by the second look
      const future = { ...systemClock, now: () => Date.now() + TWO_DAYS_MS };
      const racing = chunkedStore(objects, { clock: future }).store;
      const report = await collectChunks(objects, new ChunkCatalog(objects, () => {}), {
        graceMs: 24 * 60 * 60 * 1000,
        now: future.now,
        log: () => {},
        beforeRecheck: async () => {
          await putBytes(objects, snapManifest, snapManifestBytes);
        },
      });
      expect(await packsOf(objects, ws)).toEqual(packs);
      expect(report.scopesSkipped).toBe(0);
      await racing.restoreSnapshot(snap.url, dir("out"));
      expectSameTree(dir("out"), src);

      // a live lease of a writer that never ends (a writer somewhere, stored before the sweep's
      // condemned list) keeps everything: the sweep waits for it, then leaves the scope for later
      // (a deliberate change: it used to skip the scope at once, whatever the lease's age)
      await objects.delete(snapManifest);
      await new Promise((r) => setTimeout(r, 1100));
      const lease = `chunks/owners/${ws.owner}/leases/20990101T000000000Z-${"0".repeat(32)}`;
      await putBytes(objects, lease, Buffer.from("{}"));
      const clock = await sweepClockBetween(objects, packs, lease);
      const waitedFor: string[][] = [];
      const leased = await collectChunks(objects, new ChunkCatalog(objects, () => {}), {
        graceMs: clock.graceMs,
        now: clock.now,
        sleep: clock.sleep,
        pollMs: clock.maxSleepMs / 4,
        waitForWritersMs: clock.maxSleepMs / 2,
        log: () => {},
        onWaitForWriters: (leases) => waitedFor.push(leases),
      });
      expect(leased.scopesSkipped).toBeGreaterThan(0);
      expect(waitedFor).toEqual([[lease]]);
      expect(await packsOf(objects, ws)).toEqual(packs);
      // no condemned list stays behind
      expect(await listKeys(objects, `chunks/owners/${ws.owner}/condemned/`)).toEqual([]);
      await objects.delete(lease);
    });
  });
}
