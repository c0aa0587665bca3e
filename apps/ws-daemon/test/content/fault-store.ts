import type {
  ArchiveOptions,
  ArchiveStats,
  ContentStore,
  UploadResult,
  WorkspaceRef,
} from "../../src/storage/content-store.js";

type Op = "backup" | "snapshot" | "restoreBackup" | "restoreSnapshot";

/**
 * Wraps a real store and lets a test make chosen operations fail or wait; everything else
 * passes through unchanged. Only for fault injection.
 */
export class FaultStore implements ContentStore {
  readonly failures = new Map<Op, Error>();
  readonly gates = new Map<Op, Promise<void>>();
  readonly calls: { op: Op; at: "start" | "end" }[] = [];
  /** Emulates a store that names snapshots before uploading (ArchiveOptions.onSnapshotUrl). */
  earlySnapshotUrl: string | undefined;

  constructor(private readonly inner: ContentStore) {}

  private async around<T>(op: Op, run: () => Promise<T>): Promise<T> {
    this.calls.push({ op, at: "start" });
    try {
      const gate = this.gates.get(op);
      if (gate) await gate;
      const failure = this.failures.get(op);
      if (failure) throw failure;
      return await run();
    } finally {
      this.calls.push({ op, at: "end" });
    }
  }

  backup(ws: WorkspaceRef, dir: string, options?: ArchiveOptions): Promise<UploadResult> {
    return this.around("backup", () => this.inner.backup(ws, dir, options));
  }
  snapshot(ws: WorkspaceRef, dir: string, options?: ArchiveOptions): Promise<UploadResult> {
    if (this.earlySnapshotUrl) options?.onSnapshotUrl?.(this.earlySnapshotUrl);
    return this.around("snapshot", () => this.inner.snapshot(ws, dir, options));
  }
  restoreBackup(
    ws: WorkspaceRef,
    targetDir: string,
    options?: ArchiveOptions,
  ): Promise<ArchiveStats> {
    return this.around("restoreBackup", () => this.inner.restoreBackup(ws, targetDir, options));
  }
  restoreSnapshot(url: string, targetDir: string, options?: ArchiveOptions): Promise<ArchiveStats> {
    return this.around("restoreSnapshot", () =>
      this.inner.restoreSnapshot(url, targetDir, options),
    );
  }
  hasBackup(ws: WorkspaceRef): Promise<boolean> {
    return this.inner.hasBackup(ws);
  }
}
