import type { Clock } from "../platform/index.js";
import { Semaphore } from "../platform/index.js";
import type { ArchiveOptions, ContentStore, WorkspaceRef } from "../storage/index.js";
import { toContentError } from "./content-error.js";
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
  ): Promise<ArchiveRecord> {
    return this.slots.run(
      async () => {
        const started = this.clock.now();
        const options: ArchiveOptions = {
          signal: this.signal,
          ...(onSnapshotUrl ? { onSnapshotUrl } : {}),
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
