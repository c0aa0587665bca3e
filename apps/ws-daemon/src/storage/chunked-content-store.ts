import {
  type ArchiveManifest,
  DEFAULT_ARCHIVE_LIMITS,
  DEFAULT_ZSTD_LEVEL,
  type PieceOptions,
} from "../archive/index.js";
import {
  type Clock,
  ContentCorruptError,
  ContentNotFoundError,
  KeyedSerializer,
  type Log,
  silentLog,
  systemClock,
} from "../platform/index.js";
import {
  ArchiveContentStore,
  type ArchiveContentStoreOptions,
  DEFAULT_MAX_CONCURRENT_ARCHIVES,
  DEFAULT_SWEEP_GRACE_MS,
  type SweepReport,
} from "./archive-content-store.js";
import { ChunkCatalog, readChunkIndex } from "./chunk-catalog.js";
import { type ChunkSweepReport, collectChunks } from "./chunk-gc.js";
import {
  type DedupScope,
  isBackupIndexKey,
  isPackKeyOf,
  newBackupIndexKey,
  scopePrefix,
  scopeWorkspaces,
  snapshotIndexKey,
} from "./chunk-keys.js";
import { type ChunkedArchiveStats, writeChunkedArchive } from "./chunked-archive.js";
import {
  type AnyManifest,
  type ChunkedManifest,
  encodeChunkedManifest,
  parseAnyManifest,
} from "./chunked-manifest.js";
import { restoreChunkIndex } from "./chunked-restore.js";
import type {
  ArchiveOptions,
  ArchiveStats,
  ContentStore,
  UploadResult,
  WorkspaceRef,
} from "./content-store.js";
import {
  BACKUP_URL_SCHEME,
  backupManifestKey,
  backupPrefix,
  backupUrl,
  isBackupDataKey,
  newSnapshotLocation,
  parseSnapshotUrl,
  snapshotUrl,
  workspacePrefix,
} from "./object-keys.js";
import { getBytesIfExists, type ObjectStore, putBytes } from "./object-store.js";
import { restoreDeadline } from "./restore-deadline.js";

/** What new backups and snapshots are written as; both are always readable. */
export type StorageFormat = "tar-zstd" | "chunked";

export interface ContentStoreOptions extends ArchiveContentStoreOptions {
  /** Default "tar-zstd": one tar.zst object per archive. */
  format?: StorageFormat;
  /** Chunked only: whose archives share chunks. Default "owner". */
  dedupScope?: DedupScope;
  /** Chunked only: decompressed bytes per pack. Default 16 MiB. */
  packTargetBytes?: number;
  /**
   * Chunked only: a backup stores again the chunks of packs whose live share (bytes some
   * published index names) is below this, so mostly dead packs stop being named and the sweep
   * deletes them. 0 = never. Default 0.5.
   */
  repackBelow?: number;
  /**
   * Chunked only: the native chunker (native/wsd-chunker.c), which writes framed packs; unset:
   * the JavaScript chunker (unframed packs, a version-1 index).
   */
  chunkerPath?: string | undefined;
  /**
   * Where the native chunker's private pack directories are made. Default: the store's staging
   * directory (a local store: packs are renamed into place), else the process's scratch directory.
   */
  chunkerWorkDir?: string | undefined;
  /**
   * With the native chunker: it walks the tree itself (default). False: the JavaScript walk
   * writes the stream into a FIFO it reads (the same stream; kept for comparison).
   */
  nativeWalk?: boolean | undefined;
  /** The unchunk helper for restores (see ChunkedRestoreOptions); default: found if built. */
  unchunkHelper?: string | false | undefined;
  /** Told of every chunked backup or snapshot that was published. */
  onChunkedArchive?: (operation: "backup" | "snapshot", stats: ChunkedArchiveStats) => void;
  /** Chunked only: which file bodies the skip cache tracks (file-pieces.ts defaults otherwise). */
  pieces?: Omit<PieceOptions, "reusable"> | undefined;
}

export interface StoreSweepReport extends SweepReport, ChunkSweepReport {}

export const DEFAULT_PACK_TARGET_BYTES = 16 * 1024 * 1024;
export const DEFAULT_REPACK_BELOW = 0.5;

/**
 * The daemon's ContentStore: writes new archives in the configured format (the full tar.zst of
 * ArchiveContentStore, or chunked and deduplicated, docs/chunked-backups.md) and reads both,
 * deciding by each manifest's format version, so switching the setting loses nothing.
 */
export class FormatContentStore implements ContentStore {
  /** The full tar.zst format: writes when configured, reads its archives always. */
  readonly full: ArchiveContentStore;
  private readonly serializer: KeyedSerializer;
  private readonly catalog: ChunkCatalog;
  private readonly clock: Clock;
  private readonly log: Log;

  constructor(
    readonly objects: ObjectStore,
    private readonly options: ContentStoreOptions = {},
  ) {
    this.full = new ArchiveContentStore(objects, options);
    this.serializer = new KeyedSerializer({
      maxConcurrent: options.maxConcurrentArchives ?? DEFAULT_MAX_CONCURRENT_ARCHIVES,
    });
    this.clock = options.clock ?? systemClock;
    this.log = options.log ?? silentLog;
    this.catalog = new ChunkCatalog(objects, this.log);
  }

  get format(): StorageFormat {
    return this.options.format ?? "tar-zstd";
  }

  async backup(ws: WorkspaceRef, dir: string, options: ArchiveOptions = {}): Promise<UploadResult> {
    if (this.format !== "chunked") return this.full.backup(ws, dir, options);
    return this.archiving(ws, options, async (started) => {
      const manifestKey = backupManifestKey(ws);
      const previous = await this.readManifest(manifestKey).catch((err: unknown) => {
        this.log("warn", `previous backup manifest ${manifestKey} unreadable; replacing it`, {
          err,
        });
        return undefined;
      });
      const indexKey = newBackupIndexKey(backupPrefix(ws), started);
      // the skip cache: large files unchanged since the current backup are not read again
      const current =
        previous?.format === "chunked" &&
        isBackupIndexKey(backupPrefix(ws), previous.manifest.indexKey)
          ? previous.manifest
          : undefined;
      const manifest = await this.commitChunked(
        "backup",
        ws,
        dir,
        indexKey,
        manifestKey,
        options,
        current,
      );
      await this.dropReplaced(ws, previous, manifest.indexKey);
      return this.uploaded(backupUrl(ws), manifest, started);
    });
  }

  async snapshot(
    ws: WorkspaceRef,
    dir: string,
    options: ArchiveOptions = {},
  ): Promise<UploadResult> {
    if (this.format !== "chunked") return this.full.snapshot(ws, dir, options);
    return this.archiving(ws, options, async (started) => {
      const loc = newSnapshotLocation(ws, started);
      options.onSnapshotUrl?.(snapshotUrl(loc));
      const manifest = await this.commitChunked(
        "snapshot",
        ws,
        dir,
        snapshotIndexKey(loc.prefix),
        loc.manifestKey,
        options,
      );
      return this.uploaded(snapshotUrl(loc), manifest, started);
    });
  }

  async restoreBackup(
    ws: WorkspaceRef,
    targetDir: string,
    options: ArchiveOptions = {},
  ): Promise<ArchiveStats> {
    const manifestKey = backupManifestKey(ws);
    const any = await this.readManifest(manifestKey);
    if (!any) throw new ContentNotFoundError(`workspace ${ws.owner}/${ws.metaId} has no backup`);
    if (any.format === "tar-zstd") return this.full.restoreBackup(ws, targetDir, options);
    if (!isBackupIndexKey(backupPrefix(ws), any.manifest.indexKey)) {
      throw new ContentCorruptError(
        `manifest ${manifestKey} names foreign index ${any.manifest.indexKey}`,
      );
    }
    return this.restoreChunked(ws.owner, any.manifest, targetDir, options);
  }

  async restoreSnapshot(
    url: string,
    targetDir: string,
    options: ArchiveOptions = {},
  ): Promise<ArchiveStats> {
    // a backup URL is refused there: only the backup initializer of its workspace restores it
    if (url.startsWith(BACKUP_URL_SCHEME))
      return this.full.restoreSnapshot(url, targetDir, options);
    const loc = parseSnapshotUrl(url);
    const any = await this.readManifest(loc.manifestKey);
    if (!any) throw new ContentNotFoundError(`snapshot ${url} does not exist`);
    if (any.format === "tar-zstd") return this.full.restoreSnapshot(url, targetDir, options);
    if (any.manifest.indexKey !== snapshotIndexKey(loc.prefix)) {
      throw new ContentCorruptError(
        `snapshot manifest ${loc.manifestKey} names foreign index ${any.manifest.indexKey}`,
      );
    }
    const owner = loc.prefix.split("/")[1] ?? "";
    return this.restoreChunked(owner, any.manifest, targetDir, options);
  }

  async hasBackup(ws: WorkspaceRef): Promise<boolean> {
    const any = await this.readManifest(backupManifestKey(ws)).catch(() => undefined);
    if (!any) return false;
    if (any.format === "tar-zstd") return this.full.hasBackup(ws);
    const index = await this.objects.head(any.manifest.indexKey);
    return index !== undefined && index.size === any.manifest.indexSize;
  }

  /** The current backup's manifest when it is of the full format (ArchiveContentStore's view). */
  async readBackupManifest(ws: WorkspaceRef): Promise<ArchiveManifest | undefined> {
    return this.full.readBackupManifest(ws);
  }

  /** The current backup's manifest in either format, or undefined when there is none. */
  async readAnyBackupManifest(ws: WorkspaceRef): Promise<AnyManifest | undefined> {
    return this.readManifest(backupManifestKey(ws));
  }

  /**
   * The janitor: the full format's leftovers (ArchiveContentStore.sweep), then the chunked
   * format's unreferenced packs, indexes and dead leases (chunk-gc.ts), both past `graceMs`.
   */
  async sweep(graceMs = DEFAULT_SWEEP_GRACE_MS): Promise<StoreSweepReport> {
    const full = await this.full.sweep(graceMs);
    const chunks = await collectChunks(this.objects, this.catalog, {
      graceMs,
      now: () => this.clock.now(),
      log: this.log,
    });
    return { ...full, ...chunks };
  }

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

  private async commitChunked(
    operation: "backup" | "snapshot",
    ws: WorkspaceRef,
    dir: string,
    indexKey: string,
    manifestKey: string,
    options: ArchiveOptions,
    previous?: ChunkedManifest,
  ): Promise<ChunkedManifest> {
    const scope = this.options.dedupScope ?? "owner";
    const graceMs = this.options.orphanGraceMs ?? DEFAULT_SWEEP_GRACE_MS;
    const { manifest, stats, release } = await writeChunkedArchive(
      {
        objects: this.objects,
        catalog: this.catalog,
        scope: scopePrefix(scope, ws.owner),
        scopeWorkspaces: scopeWorkspaces(scope, ws.owner),
        packTargetBytes: this.options.packTargetBytes ?? DEFAULT_PACK_TARGET_BYTES,
        repackBelow: this.options.repackBelow ?? DEFAULT_REPACK_BELOW,
        zstdLevel: this.options.zstdLevel ?? DEFAULT_ZSTD_LEVEL,
        zstdPath: this.options.zstdPath,
        chunkerPath: this.options.chunkerPath,
        chunkerWorkDir: this.options.chunkerWorkDir,
        nativeWalk: this.options.nativeWalk,
        limits: this.options.limits,
        deadline: this.options.deadline,
        // half the grace: the sweep counts a lease as dead only past the whole grace
        leaseLifetimeMs: graceMs / 2,
        now: () => this.clock.now(),
        log: this.log,
        previous,
        pieces: this.options.pieces,
      },
      ws,
      dir,
      indexKey,
      options,
    );
    try {
      await putBytes(this.objects, manifestKey, encodeChunkedManifest(manifest), {
        contentType: "application/json",
      });
    } catch (err) {
      await this.objects.delete(indexKey).catch(() => {});
      await release();
      throw err;
    }
    await release();
    this.options.onChunkedArchive?.(operation, stats);
    this.log("info", `${operation} of ${dir} stored chunked`, { ...stats });
    return manifest;
  }

  /** Best effort after the commit: the replaced backup's own objects (packs go by the sweep). */
  private async dropReplaced(
    ws: WorkspaceRef,
    previous: AnyManifest | undefined,
    current: string,
  ): Promise<void> {
    const prefix = backupPrefix(ws);
    const key =
      previous?.format === "chunked" ? previous.manifest.indexKey : previous?.manifest.dataKey;
    const ours =
      previous?.format === "chunked"
        ? isBackupIndexKey(prefix, key ?? "")
        : isBackupDataKey(key ?? "");
    if (!key || key === current || !key.startsWith(prefix) || !ours) return;
    await this.objects
      .delete(key)
      .catch((err: unknown) => this.log("warn", `cannot delete replaced ${key}`, { err }));
  }

  private async restoreChunked(
    owner: string,
    manifest: ChunkedManifest,
    targetDir: string,
    options: ArchiveOptions,
  ): Promise<ArchiveStats> {
    // the archive deadline holds for restores too: a store that stops answering must not hold
    // the workspace's initialization (and a slot) forever
    const deadline = restoreDeadline(
      this.options.deadline,
      // the manifest's word, bounded by what a restore accepts at all
      Math.min(
        manifest.uncompressedSize,
        this.options.limits?.maxTotalBytes ?? DEFAULT_ARCHIVE_LIMITS.maxTotalBytes,
      ),
      this.clock,
      options.signal,
    );
    try {
      return await this.restoreChunkedInTime(owner, manifest, targetDir, {
        ...options,
        signal: deadline.signal,
      });
    } finally {
      deadline.stop();
    }
  }

  private async restoreChunkedInTime(
    owner: string,
    manifest: ChunkedManifest,
    targetDir: string,
    options: ArchiveOptions,
  ): Promise<ArchiveStats> {
    options.signal?.throwIfAborted();
    const started = this.clock.now();
    const scope = manifest.scope;
    if (scope !== scopePrefix("owner", owner) && scope !== scopePrefix("store", owner)) {
      throw new ContentCorruptError(`manifest names chunks of a foreign scope ${scope}`);
    }
    const index = await readChunkIndex(this.objects, manifest, options.signal);
    const foreign = index.packs.find((p) => !isPackKeyOf(scope, p.key));
    if (foreign) throw new ContentCorruptError(`index names a foreign pack ${foreign.key}`);
    let bytes = 0;
    let files = 0;
    let tarBytes = 0;
    const progress = () =>
      options.onProgress?.({
        bytes,
        files,
        tarBytes,
        tarBytesTotal: index.tarBytes,
        filesTotal: index.entries,
      });
    const result = await restoreChunkIndex(
      this.objects,
      index,
      targetDir,
      {
        ...this.options.restore,
        ...this.options.limits,
        idShift: options.idShift,
        signal: options.signal,
        onProgress: (p) => {
          files = p.files;
          tarBytes = p.tarBytes;
          progress();
        },
      },
      {
        signal: options.signal,
        zstdPath: this.options.zstdPath,
        unchunkHelper: this.options.unchunkHelper,
        onPackLoaded: (n) => {
          bytes += n;
        },
      },
    );
    return { bytes, files: result.entries, durationMs: this.clock.now() - started };
  }

  private uploaded(url: string, manifest: ChunkedManifest, started: number): UploadResult {
    return {
      url,
      bytes: manifest.storedBytes,
      files: manifest.fileCount,
      durationMs: this.clock.now() - started,
    };
  }

  private async readManifest(key: string): Promise<AnyManifest | undefined> {
    const bytes = await getBytesIfExists(this.objects, key);
    return bytes && parseAnyManifest(bytes, key);
  }
}
