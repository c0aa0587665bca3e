import type { WorkspaceRecord } from "./workspace-record.js";

export type RecoveryAction = "none" | "init-failed" | "back-to-available";

/**
 * Repairs a record loaded after a restart, in place. Returns what was done so the caller can
 * remove partial content and report. Nothing is ever left "in progress":
 * - setting-up: the init died with the daemon -> failed (its partial content must be removed);
 * - wrapping-up: the dispose did not complete -> available again, content kept, disposable;
 * - queued/running snapshots -> failed.
 */
export const recoverRecord = (
  record: WorkspaceRecord,
  nowIso: string,
): { action: RecoveryAction; changed: boolean } => {
  let action: RecoveryAction = "none";
  if (record.state === "setting-up") {
    record.state = "none";
    delete record.initResult;
    record.initFailure = {
      kind: "internal",
      message: "daemon restarted during initialization",
      failedAt: nowIso,
    };
    action = "init-failed";
  } else if (record.state === "wrapping-up") {
    record.state = "available";
    action = "back-to-available";
  }
  let changed = action !== "none";
  for (const snap of record.snapshots) {
    if (snap.state === "queued" || snap.state === "running") {
      snap.state = "failed";
      snap.finishedAt = nowIso;
      snap.error = {
        kind: "unavailable",
        message: "daemon restarted before the snapshot finished",
      };
      changed = true;
    }
  }
  if (changed) record.updatedAt = nowIso;
  return { action, changed };
};
