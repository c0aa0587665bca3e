import { DomainError, type DomainErrorOptions, type StatusKind } from "../platform/index.js";

/**
 * unavailable: the requested mechanism cannot work on this machine/working area;
 * invalid-argument: bad input (id, quota, non-empty content dir);
 * failed: a command or file operation failed (an internal error).
 */
export type QuotaErrorKind = "unavailable" | "invalid-argument" | "failed";

const kindOfQuotaFailure: Record<QuotaErrorKind, StatusKind> = {
  unavailable: "failed-precondition",
  "invalid-argument": "invalid-argument",
  failed: "internal",
};

export class QuotaError extends DomainError {
  override name = "QuotaError";
  constructor(
    readonly failure: QuotaErrorKind,
    message: string,
    options?: DomainErrorOptions,
  ) {
    super(kindOfQuotaFailure[failure], message, options);
  }
}

/** True for the errors a write gets when a quota stops it (XFS project quota answers ENOSPC). */
export const isQuotaExceededError = (err: unknown): boolean => {
  const code = (err as { code?: unknown } | null)?.code;
  return code === "ENOSPC" || code === "EDQUOT";
};

/** The error of a failed quota tool (mkfs.ext4, xfs_quota, mount, ...): give it to runChecked. */
export const toQuotaFailure = (message: string, cause?: unknown): QuotaError =>
  new QuotaError("failed", message, cause === undefined ? undefined : { cause });
