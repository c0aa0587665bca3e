import {
  type ArchiveDeadline,
  type ArchiveManifest,
  DEFAULT_ZSTD_LEVEL,
  type ExtractResult,
  encodeManifest,
  extractArchive,
  MANIFEST_FORMAT_VERSION,
  parseManifest,
  type RestorePolicy,
  type SomeArchiveLimits,
} from "../archive/index.js";
import {
  type Clock,
  ContentCorruptError,
  ContentNotFoundError,
  InvalidContentUrlError,
  KeyedSerializer,
  type Log,
  silentLog,
  systemClock,
} from "../platform/index.js";
import { openArchiveObject, writeArchiveObject } from "./archive-objects.js";
import type {
  ArchiveOptions,
  ArchiveStats,
  ContentStore,
  UploadResult,
  WorkspaceRef,
} from "./content-store.js";
import {
  archiveDataOf,
  BACKUP_URL_SCHEME,
  backupManifestKey,
  backupPrefix,
  backupUrl,
  isBackupDataKey,
  newBackupDataKey,
  newSnapshotLocation,
  parseSnapshotUrl,
  SNAPSHOT_URL_SCHEME,
  snapshotUrl,
  workspacePrefix,
} from "./object-keys.js";
import { getBytesIfExists, type ObjectStore, putBytes } from "./object-store.js";

export interface ArchiveContentStoreOptions {
  /** zstd level for new archives (1..19). */
  zstdLevel?: number;
  /** The zstd executable; "zstd" from PATH by default. */
  zstdPath?: string;
  /**
   * Backups and snapshots running at once across workspaces (the daemon's
   * limits.maxConcurrentArchives); one workspace's run one after the other anyway.
   * Default DEFAULT_MAX_CONCURRENT_ARCHIVES.
   */
  maxConcurrentArchives?: number;
  clock?: Clock;
  /**
   * What an archive may hold, applied alike when archiving and when restoring: a tree a restore
   * would refuse is refused by its backup, which then leaves the previous backup current.
   */
  limits?: SomeArchiveLimits;
  /** How long a backup or snapshot may run before it is abandoned (the previous one stays). */
  deadline?: ArchiveDeadline;
  /** How restores treat symlinks, ownership and set-id bits. */
  restore?: RestorePolicy;
  /**
   * Backup data objects without a manifest are deleted by the next backup once older than this
   * (ms). Default DEFAULT_SWEEP_GRACE_MS (24 h): S3 dates a multipart object by the start of its
   * upload, so a shorter grace could take the data of a long upload by another daemon that has
   * not written its manifest yet.
   */
  orphanGraceMs?: number;
  /** Receives problems that do not fail the operation (e.g. garbage collection errors). */
  log?: Log;
}

export interface SweepReport {
  /** Temp files or multipart uploads removed. */
  incomplete: number;
  /** Archive data objects removed because no manifest names them. */
  orphans: number;
}

/** Default age before the janitor removes leftovers: a day, far beyond any upload's duration. */
export const DEFAULT_SWEEP_GRACE_MS = 24 * 60 * 60 * 1000;
export const DEFAULT_MAX_CONCURRENT_ARCHIVES = 2;
const WORKSPACES_ROOT = "workspaces/";

/**
 * ContentStore on top of any ObjectStore, with a crash-safe commit protocol:
 *  1. stream tar|zstd of the directory to a data key unique to this attempt;
 *  2. verify: the store's size equals the bytes streamed, sha256 of exactly those bytes recorded;
 *  3. write the manifest (naming the data key, its size and sha256) LAST — the commit point;
 *  4. only then delete the data object of the previous backup (and stale leftovers).
 * A crash or error before 3 leaves the previous manifest and its data untouched. Readers trust a
 * manifest only together with data matching its size and sha256, verified while streaming the
 * restore and before it reports success.
 */
export class ArchiveContentStore implements ContentStore {
  private readonly serializer: KeyedSerializer;
  private readonly clock: Clock;
  private readonly log: Log;

  constructor(
    readonly objects: ObjectStore,
    private readonly options: ArchiveContentStoreOptions = {},
  ) {
    this.serializer = new KeyedSerializer({
      maxConcurrent: options.maxConcurrentArchives ?? DEFAULT_MAX_CONCURRENT_ARCHIVES,
    });
    this.clock = options.clock ?? systemClock;
    this.log = options.log ?? silentLog;
  }

  async backup(ws: WorkspaceRef, dir: string, options: ArchiveOptions = {}): Promise<UploadResult> {
    return this.archiving(ws, options, async (started) => {
      const manifestKey = backupManifestKey(ws);
      const previous = await this.readManifest(manifestKey).catch((err: unknown) => {
        this.log("warn", `previous backup manifest ${manifestKey} unreadable; replacing it`, {
          err,
        });
        return undefined;
      });
      const dataKey = newBackupDataKey(ws, started);
      const manifest = await this.commit(ws, dir, { dataKey, manifestKey }, options);
      await this.collectGarbage(ws, manifest.dataKey, previous?.dataKey);
      return this.uploaded(backupUrl(ws), manifest, started);
    });
  }

  async snapshot(
    ws: WorkspaceRef,
    dir: string,
    options: ArchiveOptions = {},
  ): Promise<UploadResult> {
    return this.archiving(ws, options, async (started) => {
      const loc = newSnapshotLocation(ws, started);
      // The name is fixed before the upload, so a caller that returns immediately can hand out
      // the URL; restoring it fails with NOT_FOUND until the manifest is written.
      options.onSnapshotUrl?.(snapshotUrl(loc));
      const manifest = await this.commit(ws, dir, loc, options);
      return this.uploaded(snapshotUrl(loc), manifest, started);
    });
  }

  async restoreBackup(
    ws: WorkspaceRef,
    targetDir: string,
    options: ArchiveOptions = {},
  ): Promise<ArchiveStats> {
    const manifestKey = backupManifestKey(ws);
    const manifest = await this.readManifest(manifestKey);
    if (!manifest)
      throw new ContentNotFoundError(`workspace ${ws.owner}/${ws.metaId} has no backup`);
    if (!manifest.dataKey.startsWith(backupPrefix(ws)) || !isBackupDataKey(manifest.dataKey)) {
      throw new ContentCorruptError(
        `manifest ${manifestKey} names foreign data ${manifest.dataKey}`,
      );
    }
    return this.restore(manifest, targetDir, options);
  }

  async restoreSnapshot(
    url: string,
    targetDir: string,
    options: ArchiveOptions = {},
  ): Promise<ArchiveStats> {
    // Backup ids (owner/metaId) are no secret: a backup is restored only by the backup
    // initializer, for the workspace it belongs to, never through a URL a caller names.
    if (url.startsWith(BACKUP_URL_SCHEME)) {
      throw new InvalidContentUrlError(
        `${JSON.stringify(url)} is a backup URL: only the backup initializer of that workspace restores a backup; a snapshot initializer takes ${SNAPSHOT_URL_SCHEME} URLs`,
      );
    }
    const loc = parseSnapshotUrl(url);
    const manifest = await this.readManifest(loc.manifestKey);
    if (!manifest) throw new ContentNotFoundError(`snapshot ${url} does not exist`);
    if (manifest.dataKey !== loc.dataKey) {
      throw new ContentCorruptError(
        `snapshot manifest ${loc.manifestKey} names foreign data ${manifest.dataKey}`,
      );
    }
    return this.restore(manifest, targetDir, options);
  }

  async hasBackup(ws: WorkspaceRef): Promise<boolean> {
    const manifest = await this.readManifest(backupManifestKey(ws)).catch(() => undefined);
    if (!manifest) return false;
    const data = await this.objects.head(manifest.dataKey);
    return data !== undefined && data.size === manifest.size;
  }

  /**
   * The janitor: removes incomplete writes (temp files, multipart uploads) and archive data that
   * no manifest names (replaced backups whose collection failed, attempts cut by a crash) once
   * older than `graceMs` — far longer than an upload runs, so another daemon's upload in flight
   * is never touched. A workspace whose manifest cannot be read keeps all its data.
   */
  async sweep(graceMs = DEFAULT_SWEEP_GRACE_MS): Promise<SweepReport> {
    const cutoff = this.clock.now() - graceMs;
    const incomplete =
      (await this.objects.sweepIncomplete?.(WORKSPACES_ROOT, new Date(cutoff))) ?? 0;
    // Decided one object at a time while listing, so memory stays flat however large the store:
    // a workspace's keys come one after the other, so a small cache of manifests saves most reads.
    const namedBy = new Map<string, string | null>();
    const namedData = async (manifestKey: string): Promise<string | null> => {
      const manifest = await this.readManifest(manifestKey);
      return manifest?.dataKey ?? null;
    };
    let orphans = 0;
    for await (const o of this.objects.list(WORKSPACES_ROOT)) {
      const data = archiveDataOf(o.key);
      if (!data || o.lastModified.getTime() >= cutoff) continue;
      try {
        if (!namedBy.has(data.manifestKey)) {
          if (namedBy.size >= 256) namedBy.clear();
          namedBy.set(data.manifestKey, await namedData(data.manifestKey));
        }
        if (namedBy.get(data.manifestKey) === o.key) continue;
        // decided again under the workspace's lock, from a fresh read: a backup of it on this
        // daemon may have just published this very object
        const removed = await this.serializer.run(data.workspacePrefix, async () => {
          if ((await namedData(data.manifestKey)) === o.key) return false;
          await this.objects.delete(o.key);
          return true;
        });
        if (removed) orphans++;
        namedBy.delete(data.manifestKey);
      } catch (err) {
        this.log("warn", `janitor keeps ${o.key}: its manifest cannot be read`, { err });
      }
    }
    return { incomplete, orphans };
  }

  /** The current backup's manifest, or undefined when there is none. */
  async readBackupManifest(ws: WorkspaceRef): Promise<ArchiveManifest | undefined> {
    return this.readManifest(backupManifestKey(ws));
  }

  /**
   * Runs a backup or snapshot of `ws` once no other one of `ws` runs and fewer than
   * maxConcurrentArchives do in all; `archive` gets its start time.
   */
  private archiving(
    ws: WorkspaceRef,
    options: ArchiveOptions,
    archive: (started: number) => Promise<UploadResult>,
  ): Promise<UploadResult> {
    return this.serializer.run(workspacePrefix(ws), async () => {
      options.signal?.throwIfAborted();
      return archive(this.clock.now());
    });
  }

  /**
   * Steps 1-3 of the commit protocol: the archive goes to `dataKey`, is verified, and only then
   * its manifest is written — the commit point: once it is stored, the archive exists.
   */
  private async commit(
    ws: WorkspaceRef,
    dir: string,
    keys: { dataKey: string; manifestKey: string },
    options: ArchiveOptions,
  ): Promise<ArchiveManifest> {
    const manifest = await this.upload(ws, dir, keys.dataKey, options);
    await putBytes(this.objects, keys.manifestKey, encodeManifest(manifest), {
      contentType: "application/json",
    });
    return manifest;
  }

  private uploaded(url: string, manifest: ArchiveManifest, started: number): UploadResult {
    return {
      url,
      bytes: manifest.size,
      files: manifest.fileCount,
      durationMs: this.clock.now() - started,
    };
  }

  private async readManifest(key: string): Promise<ArchiveManifest | undefined> {
    const bytes = await getBytesIfExists(this.objects, key);
    return bytes && parseManifest(bytes, key);
  }

  private async upload(
    ws: WorkspaceRef,
    dir: string,
    dataKey: string,
    options: ArchiveOptions,
  ): Promise<ArchiveManifest> {
    const result = await writeArchiveObject(
      this.objects,
      dataKey,
      dir,
      {
        level: this.options.zstdLevel ?? DEFAULT_ZSTD_LEVEL,
        zstdPath: this.options.zstdPath,
        idShift: options.idShift,
        signal: options.signal,
        onProgress: options.onProgress,
        limits: this.options.limits,
        deadline: this.options.deadline,
      },
      this.log,
    );
    for (const w of result.warnings) this.log("warn", `archive of ${dir}: ${w}`);
    return {
      formatVersion: MANIFEST_FORMAT_VERSION,
      sha256: result.sha256,
      size: result.size,
      fileCount: result.fileCount,
      createdAt: new Date(this.clock.now()).toISOString(),
      sourceWorkspace: { id: ws.id, owner: ws.owner, metaId: ws.metaId },
      compression: "zstd",
      dataKey,
      uncompressedSize: result.uncompressedBytes,
    };
  }

  private async restore(
    manifest: ArchiveManifest,
    targetDir: string,
    options: ArchiveOptions,
  ): Promise<ArchiveStats> {
    options.signal?.throwIfAborted();
    const started = this.clock.now();
    const source = await openArchiveObject(this.objects, manifest.dataKey, options.signal);
    let result: ExtractResult;
    try {
      result = await extractArchive(source, targetDir, {
        ...this.options.restore,
        ...this.options.limits,
        expected: { sha256: manifest.sha256, size: manifest.size },
        zstdPath: this.options.zstdPath,
        idShift: options.idShift,
        signal: options.signal,
        onProgress: withManifestTotals(manifest, options.onProgress),
      });
    } finally {
      if ("file" in source) await source.file.close();
    }
    return { bytes: result.bytes, files: result.entries, durationMs: this.clock.now() - started };
  }

  /** Best effort: the new backup is already published, so failures here only leave garbage. */
  private async collectGarbage(
    ws: WorkspaceRef,
    current: string,
    previous: string | undefined,
  ): Promise<void> {
    const prefix = backupPrefix(ws);
    try {
      if (
        previous &&
        previous !== current &&
        previous.startsWith(prefix) &&
        isBackupDataKey(previous)
      ) {
        await this.objects.delete(previous);
      }
      const cutoff = this.clock.now() - (this.options.orphanGraceMs ?? DEFAULT_SWEEP_GRACE_MS);
      for await (const o of this.objects.list(`${prefix}data-`)) {
        // young leftovers may belong to an upload still running elsewhere; only old ones are safe
        if (o.key !== current && isBackupDataKey(o.key) && o.lastModified.getTime() < cutoff) {
          await this.objects.delete(o.key);
        }
      }
    } catch (err) {
      this.log("warn", `garbage collection under ${prefix} failed`, { err });
    }
  }
}

/** Restore progress measured against what the manifest says the archive holds. */
const withManifestTotals = (
  manifest: ArchiveManifest,
  onProgress: ArchiveOptions["onProgress"],
): ArchiveOptions["onProgress"] =>
  onProgress &&
  ((p) =>
    onProgress({
      ...p,
      filesTotal: manifest.fileCount,
      ...(manifest.uncompressedSize !== undefined
        ? { tarBytesTotal: manifest.uncompressedSize }
        : {}),
    }));
