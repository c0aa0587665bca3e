/**
 * The one error model of the daemon. Every domain error extends DomainError and names a
 * StatusKind; the RPC layer maps each kind onto exactly one gRPC code (rpc/error-mapping.ts holds
 * an exhaustive Record<StatusKind, Code>, so adding a kind without a code does not compile).
 * Nothing here knows about gRPC.
 */
export type StatusKind =
  | "invalid-argument"
  | "not-found"
  | "already-exists"
  | "failed-precondition"
  | "permission-denied"
  | "unauthenticated"
  | "resource-exhausted"
  | "data-loss"
  | "unavailable"
  | "cancelled"
  | "deadline-exceeded"
  | "unimplemented"
  | "internal";

export interface DomainErrorOptions {
  cause?: unknown;
}

export class DomainError extends Error {
  override name = "DomainError";
  constructor(
    readonly kind: StatusKind,
    message: string,
    options?: DomainErrorOptions,
  ) {
    super(message, options);
  }
}

export const isDomainError = (err: unknown): err is DomainError => err instanceof DomainError;

/** The named backup or snapshot does not exist. */
export class ContentNotFoundError extends DomainError {
  override name = "ContentNotFoundError";
  constructor(message: string, options?: DomainErrorOptions) {
    super("not-found", message, options);
  }
}

/** Stored content exists but fails verification: checksum, size, hostile entries. */
export class ContentCorruptError extends DomainError {
  override name = "ContentCorruptError";
  constructor(message: string, options?: DomainErrorOptions) {
    super("data-loss", message, options);
  }
}

/** A snapshot or backup URL that the store cannot interpret. */
export class InvalidContentUrlError extends DomainError {
  override name = "InvalidContentUrlError";
  constructor(message: string, options?: DomainErrorOptions) {
    super("invalid-argument", message, options);
  }
}

/** The message of anything thrown, for logs and error texts. */
export const errorMessage = (err: unknown): string =>
  err instanceof Error ? err.message : String(err);

/** An AbortSignal's reason as thrown by Node (AbortError) or AbortSignal.timeout (TimeoutError). */
export const isAbortError = (err: unknown): boolean =>
  err instanceof Error && (err.name === "AbortError" || err.name === "TimeoutError");

/** The errno code of a Node system error ("ENOENT", ...), if it is one. */
export const errnoCode = (err: unknown): string | undefined => {
  const code = (err as { code?: unknown } | null | undefined)?.code;
  return typeof code === "string" ? code : undefined;
};
