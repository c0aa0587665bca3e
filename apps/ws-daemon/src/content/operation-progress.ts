import type { ArchiveProgress } from "../storage/index.js";
import type { ContentErrorKind } from "./content-error.js";
import type { SafeHooks } from "./safe-hooks.js";

/** The long-running things that happen to a workspace; a restore is an init in phase "restoring". */
export type OperationKind = "init" | "snapshot" | "backup" | "dispose";

export type OperationPhase =
  | "queued"
  | "preparing"
  | "cloning"
  | "restoring"
  | "downloading"
  | "archiving"
  | "git-status"
  | "deleting"
  | "finalizing";

/** Where an operation stands; totals are 0 when unknown (a clone has none). */
export interface OperationProgressReport {
  operation: OperationKind;
  phase: OperationPhase;
  /** The initializer running now (init only), e.g. "git" or "composite[1] backup". */
  initializer: string;
  detail: string;
  bytesDone: number;
  bytesTotal: number;
  filesDone: number;
  filesTotal: number;
}

export type OperationOutcome =
  | { ok: true; url?: string }
  | { ok: false; kind: ContentErrorKind; message: string };

/** What a phase change may say besides its name; counters start again from 0. */
export interface PhaseInfo {
  initializer?: string;
  detail?: string;
  bytesTotal?: number;
  filesTotal?: number;
}

export interface ProgressCounts {
  bytesDone: number;
  filesDone: number;
  bytesTotal?: number;
  filesTotal?: number;
}

/** The part of a tracker an initializer uses (initializer-runner.ts). */
export interface InitializerProgress {
  phase(phase: OperationPhase, info?: PhaseInfo): void;
  progress(counts: ProgressCounts): void;
  /** For ArchiveOptions.onProgress of the store. */
  readonly onArchiveProgress: (p: ArchiveProgress) => void;
}

/**
 * Reports one operation of one workspace to the hooks (onOperationStarted/Progress/Finished):
 * created when the operation is accepted (so a watcher that looks right after the call sees it),
 * finished exactly once. It holds the latest report so every progress event is complete.
 * Emitting is cheap and never throws; the callers (archive progress) already throttle.
 */
export class OperationTracker implements InitializerProgress {
  private report: OperationProgressReport;
  private finished = false;

  constructor(
    private readonly hooks: SafeHooks,
    readonly id: string,
    readonly operation: OperationKind,
  ) {
    this.report = {
      operation,
      phase: "queued",
      initializer: "",
      detail: "",
      bytesDone: 0,
      bytesTotal: 0,
      filesDone: 0,
      filesTotal: 0,
    };
    hooks.call((h) => h.onOperationStarted?.(id, operation));
    this.emit();
  }

  phase(phase: OperationPhase, info: PhaseInfo = {}): void {
    this.report = {
      ...this.report,
      phase,
      initializer: info.initializer ?? this.report.initializer,
      detail: info.detail ?? "",
      bytesDone: 0,
      filesDone: 0,
      bytesTotal: info.bytesTotal ?? 0,
      filesTotal: info.filesTotal ?? 0,
    };
    this.emit();
  }

  progress(counts: ProgressCounts): void {
    const bytesTotal = counts.bytesTotal ?? this.report.bytesTotal;
    const filesTotal = counts.filesTotal ?? this.report.filesTotal;
    this.report = {
      ...this.report,
      // Estimated totals (archives) must not be overtaken while the phase still runs.
      bytesDone: bytesTotal > 0 ? Math.min(counts.bytesDone, bytesTotal) : counts.bytesDone,
      filesDone: filesTotal > 0 ? Math.min(counts.filesDone, filesTotal) : counts.filesDone,
      bytesTotal,
      filesTotal,
    };
    this.emit();
  }

  /** The archive progress callback of the storage layer, mapped onto this tracker. */
  readonly onArchiveProgress = (p: ArchiveProgress): void => {
    this.progress({
      bytesDone: p.tarBytes ?? p.bytes,
      filesDone: p.files,
      ...(p.tarBytesTotal !== undefined ? { bytesTotal: p.tarBytesTotal } : {}),
      ...(p.filesTotal !== undefined ? { filesTotal: p.filesTotal } : {}),
    });
  };

  finish(outcome: OperationOutcome): void {
    if (this.finished) return;
    this.finished = true;
    this.hooks.call((h) => h.onOperationFinished?.(this.id, this.operation, outcome));
  }

  /** Finishes with the error's kind and message; returns the error for rethrowing. */
  fail<E extends { kind: ContentErrorKind; message: string }>(error: E): E {
    this.finish({ ok: false, kind: error.kind, message: error.message });
    return error;
  }

  private emit(): void {
    const report = { ...this.report };
    this.hooks.call((h) => h.onOperationProgress?.(this.id, report));
  }
}

/** "initializer" → "", "initializer.composite.1" → "composite[1]": a leaf's place in a composite. */
export const initializerLabel = (field: string, kind: string): string => {
  const path = field
    .replace(/^initializer\.?/, "")
    .replace(/(^|\.)composite\.(\d+)/g, "$1composite[$2]")
    .replace(/\./g, " ");
  return path === "" ? kind : `${path} ${kind}`;
};
