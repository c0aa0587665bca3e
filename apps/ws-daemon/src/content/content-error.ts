import {
  DomainError,
  type DomainErrorOptions,
  errorMessage,
  isAbortError,
  type StatusKind,
} from "../platform/index.js";

/** Kept as a name for the content module's failure kinds: the platform's StatusKind. */
export type ContentErrorKind = StatusKind;

/** A failure of the content lifecycle; the kind becomes the gRPC code (rpc/error-mapping.ts). */
export class ContentError extends DomainError {
  override name = "ContentError";
  constructor(kind: StatusKind, message: string, options?: DomainErrorOptions) {
    super(kind, message, options);
  }
}

export const isContentError = (err: unknown): err is ContentError => err instanceof ContentError;

/**
 * Turns whatever a dependency threw into a ContentError with a kind the caller can act on: a
 * DomainError keeps its kind, an abort becomes "cancelled", anything else "internal".
 * `context` prefixes the message so the client learns which step failed.
 */
export const toContentError = (err: unknown, context: string): ContentError => {
  if (err instanceof ContentError && err.message.startsWith(context)) return err;
  const kind: StatusKind =
    err instanceof DomainError ? err.kind : isAbortError(err) ? "cancelled" : "internal";
  return new ContentError(kind, `${context}: ${errorMessage(err)}`, { cause: err });
};
