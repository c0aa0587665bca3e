import {
  ContentCorruptError,
  ContentNotFoundError,
  InvalidContentUrlError,
} from "../storage/content-store.js";

/**
 * Every failure the content module reports. The RPC layer maps the kind 1:1 onto a gRPC code
 * (e.g. "failed-precondition" -> FAILED_PRECONDITION); nothing here knows about gRPC.
 */
export type ContentErrorKind =
  | "invalid-argument"
  | "already-exists"
  | "not-found"
  | "failed-precondition"
  | "unauthenticated"
  | "permission-denied"
  | "data-loss"
  | "unavailable"
  | "cancelled"
  | "deadline-exceeded"
  | "internal";

export class ContentError extends Error {
  override name = "ContentError";
  constructor(
    readonly kind: ContentErrorKind,
    message: string,
    options?: { cause?: unknown },
  ) {
    super(message, options);
  }
}

export const isContentError = (err: unknown): err is ContentError => err instanceof ContentError;

/** The git module's error, recognised structurally so this module does not depend on its file layout. */
interface GitErrorLike {
  name: string;
  kind: string;
  message: string;
}

const isGitErrorLike = (err: unknown): err is GitErrorLike =>
  err instanceof Error &&
  err.name === "GitError" &&
  typeof (err as unknown as { kind?: unknown }).kind === "string";

const gitKindToContentKind: Record<string, ContentErrorKind> = {
  auth: "unauthenticated",
  "not-found": "not-found",
  target: "failed-precondition",
  "invalid-argument": "invalid-argument",
};

const isAbortError = (err: unknown): boolean =>
  err instanceof Error && (err.name === "AbortError" || err.name === "TimeoutError");

/** The error that an aborted signal stands for: a deadline or a cancellation. */
export const abortReasonToError = (signal: AbortSignal, what: string): ContentError => {
  const reason: unknown = signal.reason;
  if (reason instanceof ContentError) return reason;
  if (reason instanceof Error && reason.name === "TimeoutError") {
    return new ContentError("deadline-exceeded", `${what}: deadline exceeded`, { cause: reason });
  }
  return new ContentError("cancelled", `${what}: cancelled`, { cause: reason });
};

/**
 * Turns whatever a dependency threw into a ContentError with a kind the caller can act on.
 * `context` prefixes the message so the client learns which step failed.
 */
export const toContentError = (err: unknown, context: string): ContentError => {
  if (err instanceof ContentError) {
    return err.message.startsWith(context)
      ? err
      : new ContentError(err.kind, `${context}: ${err.message}`, { cause: err });
  }
  const message = err instanceof Error ? err.message : String(err);
  const wrap = (kind: ContentErrorKind) =>
    new ContentError(kind, `${context}: ${message}`, { cause: err });
  if (err instanceof ContentNotFoundError) return wrap("not-found");
  if (err instanceof ContentCorruptError) return wrap("data-loss");
  if (err instanceof InvalidContentUrlError) return wrap("invalid-argument");
  if (isGitErrorLike(err)) return wrap(gitKindToContentKind[err.kind] ?? "internal");
  if (isAbortError(err)) return wrap("cancelled");
  return wrap("internal");
};
