import { errorMessage, type Log, type ProcessRunner } from "../platform/index.js";
import { QuotaError } from "./quota-error.js";

/**
 * Storage quota of a workspace's content directory (`storage_quota_bytes`).
 *
 * The lifecycle is: prepare (lenient, before the initializer writes content: restoring a backup
 * that was legal before must never fail on the quota) -> enforce (hard, once AVAILABLE) ->
 * release (on dispose, right before the content is deleted). `recover` re-establishes the limits
 * of existing workspaces after a daemon restart.
 */

export type QuotaMethod = "xfs-project" | "loop-image" | "none";

/** lenient: generous limit while content is initialized/restored; hard: the quota itself. */
export type QuotaPhase = "lenient" | "hard";

export interface PrepareQuotaOptions {
  /**
   * Default true. False applies the hard limit at once (for callers that know the content
   * cannot exceed the quota while being initialized).
   */
  lenient?: boolean;
  /** Bytes of content about to be restored, when known; the lenient limit is at least this much more. */
  sizeHint?: number;
}

export interface QuotaStatus {
  method: QuotaMethod;
  phase: QuotaPhase;
  quotaBytes: number;
  /** What the mechanism really allows now (>= quotaBytes; 0 = unlimited). */
  limitBytes: number;
}

export interface QuotaUsage {
  usedBytes: number;
  /** 0 = unlimited. */
  limitBytes: number;
  phase: QuotaPhase;
}

export interface QuotaWorkspaceRef {
  workspaceId: string;
  contentDir: string;
}

export interface QuotaRecoveryReport {
  /** Limits re-established (or found intact). */
  recovered: string[];
  /** Workspaces listed without a quota record (no quota or created without enforcement). */
  withoutQuota: string[];
  failed: { workspaceId: string; error: string }[];
  /** Quota records (and images) of workspaces that were not listed: release them or keep them. */
  orphans: string[];
}

/** enforce() on a workspace nothing was prepared for: fine for a quota of 0, an error otherwise. */
export function enforceUnprepared(
  method: QuotaMethod,
  workspaceId: string,
  quotaBytes: number,
): QuotaStatus {
  if (quotaBytes === 0) return { method, phase: "hard", quotaBytes: 0, limitBytes: 0 };
  throw new QuotaError("invalid-argument", `enforce before prepare for ${workspaceId}`);
}

/**
 * The loop of every enforcer's recover(): `repairOne` re-establishes one workspace's limit and says
 * whether it had a quota at all; a failure is reported for that workspace without stopping the
 * others, and records of workspaces that were not listed come back as orphans.
 */
export async function recoverEach(
  workspaces: readonly QuotaWorkspaceRef[],
  repairOne: (ref: QuotaWorkspaceRef) => Promise<boolean>,
  recordedIds: () => Promise<string[]>,
  onFailure?: (workspaceId: string, err: unknown) => void,
): Promise<QuotaRecoveryReport> {
  const report: QuotaRecoveryReport = { recovered: [], withoutQuota: [], failed: [], orphans: [] };
  const listed = new Set<string>();
  for (const ref of workspaces) {
    listed.add(ref.workspaceId);
    try {
      checkWorkspaceId(ref.workspaceId);
      ((await repairOne(ref)) ? report.recovered : report.withoutQuota).push(ref.workspaceId);
    } catch (err) {
      report.failed.push({
        workspaceId: ref.workspaceId,
        error: errorMessage(err),
      });
      onFailure?.(ref.workspaceId, err);
    }
  }
  for (const id of await recordedIds()) if (!listed.has(id)) report.orphans.push(id);
  return report;
}

export interface QuotaEnforcer {
  readonly method: QuotaMethod;
  /** Why this method was chosen (for the startup log). */
  readonly reason: string;
  /**
   * Before the initializer writes: `contentDir` must be absent or empty; afterwards it exists and
   * writes are allowed up to the lenient limit. quotaBytes 0 = no quota (a no-op). Idempotent.
   */
  prepare(
    workspaceId: string,
    contentDir: string,
    quotaBytes: number,
    options?: PrepareQuotaOptions,
  ): Promise<QuotaStatus>;
  /** Once AVAILABLE: writes beyond the quota fail with ENOSPC/EDQUOT. Idempotent. */
  enforce(workspaceId: string, contentDir: string, quotaBytes: number): Promise<QuotaStatus>;
  /**
   * On dispose, right before the content is deleted: removes limits, unmounts and deletes the
   * image. For "loop-image" the content lives inside the image, so this DESTROYS the content:
   * never call it for content that must be kept (e.g. after a failed final backup).
   * The (then empty) contentDir itself is left for the caller to remove. Idempotent.
   */
  release(workspaceId: string, contentDir: string): Promise<void>;
  /** At startup, for every known workspace: mounts images / re-applies limits. Never throws per workspace. */
  recover(workspaces: readonly QuotaWorkspaceRef[]): Promise<QuotaRecoveryReport>;
  usage(workspaceId: string, contentDir: string): Promise<QuotaUsage | undefined>;
}

/** Same charset as workspace ids in src/content: they become file names here too. */
const SAFE_ID = /^[A-Za-z0-9_-][A-Za-z0-9._-]{0,127}$/;

export const checkWorkspaceId = (id: string): string => {
  if (!SAFE_ID.test(id)) {
    throw new QuotaError("invalid-argument", `invalid workspace id ${JSON.stringify(id)}`);
  }
  return id;
};

export const checkQuotaBytes = (quotaBytes: number): number => {
  if (!Number.isSafeInteger(quotaBytes) || quotaBytes < 0) {
    throw new QuotaError("invalid-argument", "quotaBytes must be a non-negative integer");
  }
  return quotaBytes;
};

/**
 * The lenient limit: twice the quota, and at least twice the content being restored. Restored
 * content can take more blocks than on the filesystem it came from (other block/inode sizes), and
 * a git clone briefly holds pack files next to the checkout.
 */
export const lenientLimitBytes = (
  quotaBytes: number,
  sizeHint: number | undefined,
  factor: number,
): number => Math.ceil(Math.max(quotaBytes, sizeHint ?? 0) * factor);

/** What both real enforcers are built from. */
export interface QuotaEnforcerOptions {
  workingArea: string;
  runner: ProcessRunner;
  log?: Log;
  /** Lenient limit = max(quota, sizeHint) * factor. Default 2. */
  lenientFactor?: number;
  /** Overrides the enforcer's own description of itself. */
  reason?: string;
}

/** The caller's log, made harmless: logging must never break quota handling. */
export const guardedLog =
  (log: Log | undefined): Log =>
  (level, message, fields) => {
    try {
      log?.(level, message, fields);
    } catch {
      // a broken logger loses this line, not the quota operation
    }
  };
