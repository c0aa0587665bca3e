import type {
  OperationKind,
  OperationOutcome,
  OperationProgressReport,
  WorkspaceState,
} from "../content/index.js";

/** A progress report with what the hub derives from the reports before it. */
export interface ProgressView extends OperationProgressReport {
  /** Over the last seconds of the phase; 0 until two reports are some time apart. */
  bytesPerSecond: number;
  /** Until the phase is done, when its bytes total and rate are known. */
  etaMs?: number;
  /** Since the operation was accepted. */
  elapsedMs: number;
}

/** What a watcher of one workspace receives, in the order it happened. `at` is the clock's ms. */
export type WatchEvent =
  | {
      type: "state";
      at: number;
      /** undefined: the workspace did not exist before (first init) or is gone (disposed). */
      from: WorkspaceState | undefined;
      to: WorkspaceState | undefined;
    }
  | { type: "started"; at: number; operation: OperationKind }
  | { type: "progress"; at: number; progress: ProgressView }
  | {
      type: "finished";
      at: number;
      operation: OperationKind;
      outcome: OperationOutcome;
      elapsedMs: number;
    };
