import { ContentCorruptError } from "../platform/index.js";

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
