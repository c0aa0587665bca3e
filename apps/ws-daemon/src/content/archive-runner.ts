import type { Clock } from "../platform/index.js";
import { entryCount, measureTree, Semaphore } from "../platform/index.js";
import type { ArchiveOptions, ContentStore, WorkspaceRef } from "../storage/index.js";
import { toContentError } from "./content-error.js";
import type { OperationTracker } from "./operation-progress.js";
import type { ArchiveOperation } from "./ports.js";
import type { SafeHooks } from "./safe-hooks.js";
import { type ArchiveRecord, isoNow } from "./workspace-record.js";

/**
 * Uploads (backup or snapshot) through the store with a daemon-wide concurrency bound, reporting
 * queue wait and outcome to the hooks. Per-workspace ordering is the caller's job.
 */
export class ArchiveRunner {
  private readonly slots: Semaphore;

  constructor(
    private readonly store: ContentStore,
    maxConcurrent: number,
    private readonly clock: Clock,
    private readonly hooks: SafeHooks,
    /** Aborts every upload (daemon shutdown); the store leaves the previous backup intact. */
    private readonly signal: AbortSignal,
  ) {
    this.slots = new Semaphore(maxConcurrent, () => clock.now());
  }

  run(
    operation: ArchiveOperation,
    ws: WorkspaceRef,
    dir: string,
    onSnapshotUrl?: (url: string) => void,
    tracker?: OperationTracker,
  ): Promise<ArchiveRecord> {
    return this.slots.run(
      async () => {
        const started = this.clock.now();
        if (tracker) tracker.phase("archiving", await archiveTotals(dir));
        const options: ArchiveOptions = {
          signal: this.signal,
          ...(onSnapshotUrl ? { onSnapshotUrl } : {}),
          ...(tracker ? { onProgress: tracker.onArchiveProgress } : {}),
        };
        try {
          const r =
            operation === "backup"
              ? await this.store.backup(ws, dir, options)
              : await this.store.snapshot(ws, dir, options);
          const durationMs = this.clock.now() - started;
          this.hooks.call((h) =>
            h.onArchiveFinished?.(operation, { ok: true, durationMs, bytes: r.bytes }),
          );
          const finishedAt = isoNow(this.clock);
          return { url: r.url, bytes: r.bytes, files: r.files, durationMs, finishedAt };
        } catch (err) {
          const error = toContentError(err, `${operation} failed`);
          const durationMs = this.clock.now() - started;
          this.hooks.call((h) =>
            h.onArchiveFinished?.(operation, { ok: false, durationMs, kind: error.kind }),
          );
          throw error;
        }
      },
      (waited) => this.hooks.call((h) => h.onArchiveQueueWait?.(operation, waited)),
    );
  }
}

/**
 * What an archive of `dir` will hold, for a progress bar: entries exactly, tar bytes estimated
 * (content plus a 512-byte header per entry and, on average, half a block of padding per file).
 * Only watchers see it, so a tree that cannot be read fully still archives (best effort).
 */
const archiveTotals = async (dir: string): Promise<{ bytesTotal: number; filesTotal: number }> => {
  const m = await measureTree(dir, { mode: "best-effort" });
  const entries = entryCount(m);
  return {
    bytesTotal: m.regularFileBytes + entries * 512 + m.regularFiles * 256,
    filesTotal: entries,
  };
};
