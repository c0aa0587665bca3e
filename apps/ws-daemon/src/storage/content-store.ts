/**
 * The contract between workspace content lifecycle and archive storage. The content module only
 * knows this interface; implementations live beside it (local directory, S3).
 */

export interface WorkspaceRef {
  /** The daemon-level workspace (instance) id. */
  id: string;
  /** Owner from WorkspaceMetadata; part of the stable object key. */
  owner: string;
  /** meta_id from WorkspaceMetadata: the workspace a backup belongs to across instances. */
  metaId: string;
}

export interface ArchiveStats {
  /** Bytes of the compressed archive. */
  bytes: number;
  /** Number of entries (files, dirs, links). */
  files: number;
  durationMs: number;
}

export interface ArchiveProgress {
  /** Compressed bytes so far. */
  bytes: number;
  /** Entries so far. */
  files: number;
  /** Uncompressed tar bytes written (archive) or unpacked (restore) so far. */
  tarBytes?: number;
  /** Restore only: the archive's uncompressed tar bytes, from its manifest (when recorded). */
  tarBytesTotal?: number;
  /** Restore only: the archive's entries, from its manifest. */
  filesTotal?: number;
}

export interface ArchiveOptions {
  signal?: AbortSignal;
  onProgress?: (p: ArchiveProgress) => void;
  /**
   * Maps ids between the host (on disk) and the container view stored in archives:
   * stored = onDisk - idShift on archive, onDisk = stored + idShift on restore. 0 = no shift.
   */
  idShift?: number;
  /** Snapshots only: called with the snapshot's URL as soon as it is named, before the upload. */
  onSnapshotUrl?: (url: string) => void;
}

export interface UploadResult extends ArchiveStats {
  /**
   * Of a snapshot: a URL that restoreSnapshot on any daemon sharing the store accepts. Of a
   * backup: its name, for reports; only restoreBackup of the same workspace restores it.
   */
  url: string;
}

export interface ContentStore {
  /** Archive `dir` as the workspace's backup; the previous backup is replaced only once the new one is complete. */
  backup(ws: WorkspaceRef, dir: string, options?: ArchiveOptions): Promise<UploadResult>;
  /** Archive `dir` as a new, immutable snapshot. */
  snapshot(ws: WorkspaceRef, dir: string, options?: ArchiveOptions): Promise<UploadResult>;
  /** Restore the workspace's (by owner + metaId) latest backup into the empty directory `targetDir`. */
  restoreBackup(
    ws: WorkspaceRef,
    targetDir: string,
    options?: ArchiveOptions,
  ): Promise<ArchiveStats>;
  /** Restore a snapshot named by a URL returned from `snapshot`; backup URLs are refused. */
  restoreSnapshot(url: string, targetDir: string, options?: ArchiveOptions): Promise<ArchiveStats>;
  /** Whether the workspace has a complete backup. */
  hasBackup(ws: WorkspaceRef): Promise<boolean>;
}
