/**
 * Errors of the Linux domain. `kind` names the failure class so the RPC layer can map it to a
 * status code without this module knowing gRPC (invalid-argument -> INVALID_ARGUMENT, ...).
 */
export type LinuxErrorKind =
  | "invalid-argument"
  | "permission-denied"
  | "failed-precondition"
  | "not-found"
  | "already-exists"
  | "resource-exhausted"
  | "internal";

export class LinuxOpError extends Error {
  override readonly name = "LinuxOpError";
  constructor(
    readonly kind: LinuxErrorKind,
    message: string,
    /** The kernel errno behind the failure, when there is one (e.g. 19 for ENODEV). */
    readonly errno?: number,
  ) {
    super(message);
  }
}

export const invalidArgument = (msg: string) => new LinuxOpError("invalid-argument", msg);
export const permissionDenied = (msg: string) => new LinuxOpError("permission-denied", msg);
export const failedPrecondition = (msg: string) => new LinuxOpError("failed-precondition", msg);
