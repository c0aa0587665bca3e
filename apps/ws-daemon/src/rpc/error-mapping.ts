import { Code, ConnectError } from "@connectrpc/connect";

/**
 * Domain modules report failures as errors with a kebab-case `kind` (ContentError,
 * LinuxOpError, GitError after translation). This is the one place that turns a kind into a
 * gRPC status code.
 */
const kindToCode: Record<string, Code> = {
  "invalid-argument": Code.InvalidArgument,
  "already-exists": Code.AlreadyExists,
  "not-found": Code.NotFound,
  "failed-precondition": Code.FailedPrecondition,
  unauthenticated: Code.Unauthenticated,
  "permission-denied": Code.PermissionDenied,
  "data-loss": Code.DataLoss,
  unavailable: Code.Unavailable,
  cancelled: Code.Canceled,
  "deadline-exceeded": Code.DeadlineExceeded,
  "resource-exhausted": Code.ResourceExhausted,
  unimplemented: Code.Unimplemented,
  internal: Code.Internal,
};

export function codeForKind(kind: string): Code | undefined {
  return kindToCode[kind];
}

export function toConnectError(err: unknown): ConnectError {
  if (err instanceof ConnectError) return err;
  if (err instanceof Error) {
    const kind = (err as { kind?: unknown }).kind;
    const code = typeof kind === "string" ? codeForKind(kind) : undefined;
    if (code !== undefined) return new ConnectError(err.message, code, undefined, undefined, err);
    if (err.name === "AbortError")
      return new ConnectError(err.message, Code.Canceled, undefined, undefined, err);
    if (err.name === "TimeoutError")
      return new ConnectError(err.message, Code.DeadlineExceeded, undefined, undefined, err);
    return new ConnectError(err.message, Code.Internal, undefined, undefined, err);
  }
  return new ConnectError(String(err), Code.Internal);
}
