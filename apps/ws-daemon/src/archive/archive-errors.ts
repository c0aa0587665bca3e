import { ContentCorruptError, DomainError } from "../platform/index.js";

/**
 * An archive entry that would escape or damage the restore target (path traversal, links out of
 * the target, device nodes, oversized entries). A subclass of ContentCorruptError so callers that
 * only know the ContentStore contract treat it as unusable content (DATA_LOSS on restore).
 */
export class HostileArchiveError extends ContentCorruptError {
  override name = "HostileArchiveError";
  constructor(
    readonly entry: string,
    reason: string,
  ) {
    super(`refusing archive entry ${JSON.stringify(entry)}: ${reason}`);
  }
}

/**
 * A directory was replaced (by a symlink, another directory or a file) between the walk listing
 * it and opening it. The walk never follows such a swap: the attempt is abandoned and the previous
 * archive stays (a workspace process racing the walk must not get files from elsewhere into its
 * own snapshot, and an archive of a tree that changed shape under it would not be consistent).
 */
export class ArchiveTreeChangedError extends DomainError {
  override name = "ArchiveTreeChangedError";
  constructor(message: string) {
    super("failed-precondition", message);
  }

  static directory(rel: string, how: string): ArchiveTreeChangedError {
    return new ArchiveTreeChangedError(
      `directory ${rel} was replaced while it was archived (${how}); this attempt is abandoned and the previous archive stays`,
    );
  }
}

/** The archive ran past its deadline (archive.deadlineBaseMs + archive.deadlineMsPerGib). */
export class ArchiveDeadlineError extends DomainError {
  override name = "ArchiveDeadlineError";
  constructor(message: string) {
    super("deadline-exceeded", message);
  }
}
