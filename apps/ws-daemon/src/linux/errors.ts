import { DomainError, type StatusKind } from "../platform/index.js";

/** Kept as a name for the Linux domain's failure kinds: the platform's StatusKind. */
export type LinuxErrorKind = StatusKind;

/** A failed privileged operation; `errno` is the kernel's, when there is one (e.g. 19 ENODEV). */
export class LinuxOpError extends DomainError {
  override name = "LinuxOpError";
  constructor(
    kind: StatusKind,
    message: string,
    readonly errno?: number,
  ) {
    super(kind, message);
  }
}

export const invalidArgument = (msg: string) => new LinuxOpError("invalid-argument", msg);
export const permissionDenied = (msg: string) => new LinuxOpError("permission-denied", msg);
export const failedPrecondition = (msg: string) => new LinuxOpError("failed-precondition", msg);
