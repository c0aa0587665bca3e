import { existsSync, readdirSync, writeFileSync } from "node:fs";
import path from "node:path";
import { beforeEach, describe, expect, it } from "vitest";
import { type ArchiveManifest, encodeManifest, parseManifest } from "../../src/archive/index.js";
import {
  ContentCorruptError,
  ContentNotFoundError,
  InvalidContentUrlError,
  systemClock,
} from "../../src/platform/index.js";
import {
  ArchiveContentStore,
  type ObjectStore,
  type WorkspaceRef,
} from "../../src/storage/index.js";
import { backupPrefix, workspacePrefix } from "../../src/storage/object-keys.js";
import { getBytes, putBytes } from "../../src/storage/object-store.js";
import { buildFullTree, expectSameTree } from "../archive/tree-fixture.js";
import { useWorkDir } from "../archive/work-dir.js";
import { DataStoredHook, FailingPutStore } from "./object-store-faults.js";

export interface StoreFactory {
  /** A new ObjectStore instance on the shared backend (a second one acts like another daemon). */
  objects(): ObjectStore;
}

let seq = 0;
export const newWorkspace = (): WorkspaceRef => {
  seq++;
  const id = `${process.pid}-${seq}-${Math.random().toString(36).slice(2, 8)}`;
  return { id: `ws-${id}`, owner: `owner-${id}`, metaId: `meta-${id}` };
};

export async function listKeys(objects: ObjectStore, prefix: string): Promise<string[]> {
  const keys: string[] = [];
  for await (const o of objects.list(prefix)) keys.push(o.key);
  return keys.sort();
}

/** The workspace's current backup manifest; fails the test if there is none. */
export async function manifestOf(
  store: Pick<ArchiveContentStore, "readBackupManifest">,
  ws: WorkspaceRef,
): Promise<ArchiveManifest> {
  const manifest = await store.readBackupManifest(ws);
  if (!manifest) throw new Error(`workspace ${ws.id} has no backup manifest`);
  return manifest;
}

const TWO_DAYS_MS = 2 * 24 * 60 * 60 * 1000;

export function defineContentStoreSuite(name: string, factory: () => StoreFactory): void {
  describe(`ArchiveContentStore on ${name}`, () => {
    const work = useWorkDir("wsd-store-");
    let src: string;
    beforeEach(() => {
      src = work.join("src");
      buildFullTree(src, { largeBytes: 1_500_000 });
    });
    const dir = (n: string) => work.join(n);
    /** A store on a new ObjectStore of the backend and a new workspace with one backup of src. */
    const backedUp = async () => {
      const objects = factory().objects();
      const store = new ArchiveContentStore(objects);
      const ws = newWorkspace();
      const result = await store.backup(ws, src);
      return { objects, store, ws, result, manifest: await manifestOf(store, ws) };
    };

    it("backs up and restores a tree exactly; the manifest describes the data", async () => {
      const objects = factory().objects();
      const store = new ArchiveContentStore(objects);
      const ws = newWorkspace();
      expect(await store.hasBackup(ws)).toBe(false);
      const res = await store.backup(ws, src);
      expect(await store.hasBackup(ws)).toBe(true);
      const manifest = await manifestOf(store, ws);
      expect(manifest).toMatchObject({
        formatVersion: 1,
        size: res.bytes,
        fileCount: res.files,
        compression: "zstd",
        sourceWorkspace: ws,
      });
      expect((await objects.head(manifest.dataKey))?.size).toBe(manifest.size);
      const stats = await store.restoreBackup(ws, dir("out"));
      expect(stats.files).toBe(res.files);
      expectSameTree(dir("out"), src);
    });

    it("replaces the previous backup only once complete and then collects its data", async () => {
      const { objects, store, ws, manifest: first } = await backedUp();
      writeFileSync(path.join(src, "README.md"), "# changed\n");
      await store.backup(ws, src);
      const second = await manifestOf(store, ws);
      expect(second.dataKey).not.toBe(first.dataKey);
      expect(await listKeys(objects, backupPrefix(ws))).toEqual(
        [second.dataKey, `${backupPrefix(ws)}manifest.json`].sort(),
      );
      await store.restoreBackup(ws, dir("out"));
      expectSameTree(dir("out"), src);
    });

    it("keeps the previous backup restorable when an upload fails mid-stream", async () => {
      const { objects, store: good, ws } = await backedUp();
      const before = await getBytes(objects, `${backupPrefix(ws)}manifest.json`);
      const snapshotOfGood = dir("good-copy");
      await good.restoreBackup(ws, snapshotOfGood);

      writeFileSync(path.join(src, "new-file"), "lost?\n");
      const failing = new ArchiveContentStore(
        new FailingPutStore(objects, 300_000, (k) => k.endsWith(".tar.zst")),
      );
      await expect(failing.backup(ws, src)).rejects.toThrow(/injected failure/);
      expect(await getBytes(objects, `${backupPrefix(ws)}manifest.json`)).toEqual(before);
      expect((await listKeys(objects, backupPrefix(ws))).length).toBe(2);

      const failingManifest = new ArchiveContentStore(
        new FailingPutStore(objects, -1, (k) => k.endsWith("manifest.json")),
      );
      await expect(failingManifest.backup(ws, src)).rejects.toThrow(/injected failure/);
      expect(await getBytes(objects, `${backupPrefix(ws)}manifest.json`)).toEqual(before);

      await good.restoreBackup(ws, dir("out"));
      expectSameTree(dir("out"), snapshotOfGood);
    });

    it("refuses a corrupted data object and leaves the target empty", async () => {
      const { objects, store, ws, manifest } = await backedUp();
      const data = await getBytes(objects, manifest.dataKey);
      // flip a byte near the end: most entries are restored before the damage shows
      const near = data.length - 100;
      data.writeUInt8(data.readUInt8(near) ^ 0x01, near);
      await putBytes(objects, manifest.dataKey, data);
      await expect(store.restoreBackup(ws, dir("out"))).rejects.toBeInstanceOf(ContentCorruptError);
      expect(readdirSync(dir("out"))).toEqual([]);

      // same size and a valid stream, but not the bytes the manifest names
      const { objects: objects2, store: other, ws: ws2, manifest: m2 } = await backedUp();
      await putBytes(
        objects2,
        `${backupPrefix(ws2)}manifest.json`,
        Buffer.from(JSON.stringify({ ...m2, sha256: "0".repeat(64) })),
      );
      await expect(other.restoreBackup(ws2, dir("out2"))).rejects.toThrow(
        /does not match its manifest/,
      );
      expect(readdirSync(dir("out2"))).toEqual([]);

      await objects2.delete(m2.dataKey);
      const missing = other.restoreBackup(ws2, dir("out3"));
      await expect(missing).rejects.toBeInstanceOf(ContentCorruptError);
      await expect(missing).rejects.toThrow(`manifest names data ${m2.dataKey}, which is missing`);
    });

    it("restores a snapshot taken by another store instance sharing the backend", async () => {
      const a = new ArchiveContentStore(factory().objects());
      const b = new ArchiveContentStore(factory().objects());
      const ws = newWorkspace();
      const snap = await a.snapshot(ws, src);
      // 128 random bits: the URL is the only capability a snapshot has (issue 10)
      expect(snap.url).toMatch(
        /^wsd-snapshot:workspaces\/[^/]+\/[^/]+\/snapshots\/\d{8}T\d{9}Z-[0-9a-f]{32}$/,
      );
      await b.restoreSnapshot(snap.url, dir("out"));
      expectSameTree(dir("out"), src);
      // a backup is restored by its workspace on the other instance too
      await a.backup(ws, src);
      await b.restoreBackup(ws, dir("out2"));
      expectSameTree(dir("out2"), src);
    });

    it("still restores a snapshot whose id has the old 32-bit form", async () => {
      const objects = factory().objects();
      const store = new ArchiveContentStore(objects);
      const ws = newWorkspace();
      const snap = await store.snapshot(ws, src);
      const newPrefix = snap.url.slice("wsd-snapshot:".length);
      // the same snapshot as an older daemon would have stored it: an id with 8 hex digits
      const oldPrefix = `${workspacePrefix(ws)}/snapshots/20251101T101010101Z-0badc0de`;
      const manifest = parseManifest(
        await getBytes(objects, `${newPrefix}/manifest.json`),
        "manifest",
      );
      await putBytes(
        objects,
        `${oldPrefix}/data.tar.zst`,
        await getBytes(objects, `${newPrefix}/data.tar.zst`),
      );
      await putBytes(
        objects,
        `${oldPrefix}/manifest.json`,
        encodeManifest({ ...manifest, dataKey: `${oldPrefix}/data.tar.zst` }),
      );
      await store.restoreSnapshot(`wsd-snapshot:${oldPrefix}`, dir("old-id"));
      expectSameTree(dir("old-id"), src);
    });

    it("refuses a backup URL as a snapshot: a backup is restored only for its own workspace", async () => {
      const { store, ws } = await backedUp();
      const url = `wsd-backup:workspaces/${ws.owner}/${ws.metaId}/backup/full`;
      const attempt = store.restoreSnapshot(url, dir("stolen"));
      await expect(attempt).rejects.toBeInstanceOf(InvalidContentUrlError);
      await expect(attempt).rejects.toThrow(/only the backup initializer of that workspace/);
      expect(existsSync(dir("stolen"))).toBe(false);
    });

    it("reports missing content as ContentNotFoundError and refuses malformed names", async () => {
      const store = new ArchiveContentStore(factory().objects());
      const ws = newWorkspace();
      await expect(store.restoreBackup(ws, dir("out"))).rejects.toBeInstanceOf(
        ContentNotFoundError,
      );
      await expect(
        store.restoreSnapshot(
          `wsd-snapshot:workspaces/${ws.owner}/${ws.metaId}/snapshots/20260101T000000000Z-0badc0de`,
          dir("out"),
        ),
      ).rejects.toBeInstanceOf(ContentNotFoundError);
      for (const url of [
        "s3://bucket/key",
        "wsd-snapshot:workspaces/../etc/snapshots/20260101T000000000Z-0badc0de",
        "wsd-snapshot:workspaces/a/b/snapshots/../../x",
        "wsd-snapshot:workspaces/a/b/snapshots/20260101T000000000Z-0badc0de/../../../x",
        "wsd-backup:workspaces/../b/backup/full",
      ]) {
        await expect(store.restoreSnapshot(url, dir("out")), url).rejects.toBeInstanceOf(
          InvalidContentUrlError,
        );
      }
      await expect(store.backup({ ...ws, owner: ".." }, src)).rejects.toBeInstanceOf(
        InvalidContentUrlError,
      );
      await expect(store.backup({ ...ws, metaId: "a/b" }, src)).rejects.toBeInstanceOf(
        InvalidContentUrlError,
      );
    });

    it("stops an aborted backup and restore without leaving data behind", async () => {
      const { objects, store, ws } = await backedUp();
      const keys = await listKeys(objects, backupPrefix(ws));
      const cancelled = new AbortController();
      cancelled.abort(new Error("cancelled before start"));
      await expect(store.backup(ws, src, { signal: cancelled.signal })).rejects.toThrow(
        /before start/,
      );
      // aborted from the first progress report: while data streams, or (a small tree on a quick
      // machine) once zstd has written it all, which is still before the commit point
      const midBackup = new AbortController();
      const onProgress = () => midBackup.abort(new Error("cancelled mid-stream"));
      await expect(store.backup(ws, src, { signal: midBackup.signal, onProgress })).rejects.toThrow(
        // S3 reports its own aborted upload
        /^cancelled mid-stream$|^Upload aborted\.$/,
      );
      expect(midBackup.signal.aborted).toBe(true);
      expect(await listKeys(objects, backupPrefix(ws))).toEqual(keys);

      await expect(
        store.restoreBackup(ws, dir("out"), { signal: cancelled.signal }),
      ).rejects.toThrow(/before start/);
      const midRestore = new AbortController();
      await expect(
        store.restoreBackup(ws, dir("out"), {
          signal: midRestore.signal,
          onProgress: () => midRestore.abort(new Error("cancelled mid-stream")),
        }),
      ).rejects.toThrow(/mid-stream/);
      expect(readdirSync(dir("out"))).toEqual([]);
      await store.restoreBackup(ws, dir("out"));
      expectSameTree(dir("out"), src);
    });

    it("honours an abort that arrives after the data is stored and before the commit point", async () => {
      const { objects, store, ws } = await backedUp();
      const keys = await listKeys(objects, backupPrefix(ws));
      const late = new AbortController();
      const hooked = new ArchiveContentStore(
        new DataStoredHook(objects, () => late.abort(new Error("cancelled after the data"))),
      );
      await expect(hooked.backup(ws, src, { signal: late.signal })).rejects.toThrow(
        /^cancelled after the data$/,
      );
      expect(await listKeys(objects, backupPrefix(ws))).toEqual(keys);
      await store.restoreBackup(ws, dir("out"));
      expectSameTree(dir("out"), src);

      const snapshotAbort = new AbortController();
      const hookedSnapshots = new ArchiveContentStore(
        new DataStoredHook(objects, () =>
          snapshotAbort.abort(new Error("cancelled after the data")),
        ),
      );
      await expect(
        hookedSnapshots.snapshot(ws, src, { signal: snapshotAbort.signal }),
      ).rejects.toThrow(/^cancelled after the data$/);
      expect(await listKeys(objects, `${workspacePrefix(ws)}/snapshots/`)).toEqual([]);
    });

    it("the janitor removes archive data no manifest names, once past the grace period", async () => {
      const { objects, store, ws } = await backedUp();
      const snap = await store.snapshot(ws, src);
      const strayBackup = `${backupPrefix(ws)}data-20200101T000000000Z-0badc0de.tar.zst`;
      const straySnapshot = `${workspacePrefix(ws)}/snapshots/20200101T000000000Z-0badc0de/data.tar.zst`;
      await putBytes(objects, strayBackup, Buffer.from("left behind by a crash"));
      await putBytes(objects, straySnapshot, Buffer.from("left behind by a crash"));
      const before = await listKeys(objects, `${workspacePrefix(ws)}/`);
      expect(before).toContain(strayBackup);

      // young leftovers may belong to an upload still running on another daemon
      expect((await store.sweep()).orphans).toBe(0);
      expect(await listKeys(objects, `${workspacePrefix(ws)}/`)).toEqual(before);

      const twoDaysLater = new ArchiveContentStore(objects, {
        clock: { ...systemClock, now: () => Date.now() + TWO_DAYS_MS },
      });
      expect((await twoDaysLater.sweep()).orphans).toBeGreaterThanOrEqual(2);
      expect(await listKeys(objects, `${workspacePrefix(ws)}/`)).toEqual(
        before.filter((k) => k !== strayBackup && k !== straySnapshot),
      );
      await twoDaysLater.restoreBackup(ws, dir("out"));
      expectSameTree(dir("out"), src);
      await twoDaysLater.restoreSnapshot(snap.url, dir("snap-out"));
      expectSameTree(dir("snap-out"), src);

      // a manifest that cannot be read protects every data object of its workspace
      const damaged = newWorkspace();
      const kept = `${backupPrefix(damaged)}data-20200101T000000000Z-00c0ffee.tar.zst`;
      await putBytes(objects, kept, Buffer.from("maybe the only copy"));
      await putBytes(objects, `${backupPrefix(damaged)}manifest.json`, Buffer.from("{torn"));
      const warnings: unknown[] = [];
      const warned = new ArchiveContentStore(objects, {
        clock: { ...systemClock, now: () => Date.now() + TWO_DAYS_MS },
        log: (level, message, fields) => warnings.push({ level, message, ...fields }),
      });
      await warned.sweep();
      expect(await listKeys(objects, backupPrefix(damaged))).toContain(kept);
      expect(warnings).toContainEqual({
        level: "warn",
        message: `janitor keeps ${kept}: its manifest cannot be read`,
        err: expect.any(ContentCorruptError),
      });
    });

    it("serializes concurrent backups of one workspace", async () => {
      const objects = factory().objects();
      const store = new ArchiveContentStore(objects);
      const ws = newWorkspace();
      await Promise.all([store.backup(ws, src), store.backup(ws, src), store.snapshot(ws, src)]);
      const manifest = await manifestOf(store, ws);
      expect(await listKeys(objects, backupPrefix(ws))).toEqual(
        [manifest.dataKey, `${backupPrefix(ws)}manifest.json`].sort(),
      );
      await store.restoreBackup(ws, dir("out"));
      expectSameTree(dir("out"), src);
    });
  });
}
