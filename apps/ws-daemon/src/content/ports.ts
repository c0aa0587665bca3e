/**
 * What the content module needs from the outside, as small interfaces. The daemon wires the real
 * implementations (src/git GitClient, src/storage ContentStore, the platform's guardedFetch,
 * systemClock).
 */
import type { GitCheckoutSpec, GitStatusOptions, GitStatusSummary } from "../git/index.js";
import type { Log } from "../platform/index.js";
import type { ContentErrorKind } from "./content-error.js";
import type {
  OperationKind,
  OperationOutcome,
  OperationProgressReport,
} from "./operation-progress.js";
import type { InitializerStats, WorkspaceState } from "./workspace-record.js";

export type { GitCheckoutSpec, GitStatusSummary };

/** The part of src/git's GitClient this module uses. */
export interface ContentGit {
  clone(spec: GitCheckoutSpec, signal?: AbortSignal): Promise<unknown>;
  /** For prebuilds: the checkout exists (from the snapshot); move it to the spec's target. */
  bringToTarget(spec: GitCheckoutSpec, signal?: AbortSignal): Promise<unknown>;
  status(dir: string, options?: GitStatusOptions): Promise<GitStatusSummary | undefined | null>;
}

export type FetchLike = (url: string, init: { signal?: AbortSignal }) => Promise<Response>;

export type ArchiveOperation = "backup" | "snapshot";

/** Observability hooks; all optional and must not throw (exceptions are swallowed). */
export interface ContentHooks {
  /** A caught error arrives in the `err` field. */
  log?: Log;
  onStateChange?(
    id: string,
    from: WorkspaceState | undefined,
    to: WorkspaceState | undefined,
  ): void;
  /** Once per initializer (leaf and composite) of a successful init. */
  onInitializerFinished?(id: string, stats: InitializerStats): void;
  onInitFinished?(
    id: string,
    outcome:
      | { ok: true; durationMs: number }
      | { ok: false; durationMs: number; kind: ContentErrorKind },
  ): void;
  /** Time an init waited for a free slot of maxConcurrentInits. */
  onInitQueueWait?(id: string, waitedMs: number): void;
  /** Time a backup/snapshot waited for a free slot of maxConcurrentArchives. */
  onArchiveQueueWait?(operation: ArchiveOperation, waitedMs: number): void;
  onArchiveFinished?(
    operation: ArchiveOperation,
    outcome:
      | { ok: true; durationMs: number; bytes: number }
      | { ok: false; durationMs: number; kind: ContentErrorKind },
  ): void;
  /**
   * An operation was accepted (init, snapshot, backup, dispose), before it waits for its turn;
   * then progress reports (at most every ~200 ms from archives), then exactly one finish.
   */
  onOperationStarted?(id: string, operation: OperationKind): void;
  onOperationProgress?(id: string, report: OperationProgressReport): void;
  onOperationFinished?(id: string, operation: OperationKind, outcome: OperationOutcome): void;
  /** Called when a workspace is gone for good (e.g. to remove its IWS socket directory). */
  onDisposed?(id: string): Promise<void> | void;
}
