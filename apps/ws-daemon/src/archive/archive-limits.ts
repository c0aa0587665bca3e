import { DomainError } from "../platform/index.js";

const GiB = 1024 ** 3;

/**
 * What an archive may hold. The writer and the extractor take the same object and count the same
 * way (LimitBudget), so a tree that a restore would refuse is refused when it is archived, before
 * it can replace the last good backup.
 */
export interface ArchiveLimits {
  /** Largest regular file, by its size as stat sees it (holes of a sparse file included). */
  maxEntryBytes: number;
  /** Most content bytes in all: what a restore writes (holes of sparse files excluded). */
  maxTotalBytes: number;
  /** Most entries (files, directories, links, the root included). */
  maxEntries: number;
  /**
   * Longest entry path, in bytes, relative to the workspace root. The restore target's own path
   * comes in front and the kernel refuses paths over 4095 bytes, so this leaves room for it.
   */
  maxPathBytes: number;
}

export const DEFAULT_ARCHIVE_LIMITS: Readonly<ArchiveLimits> = {
  maxEntryBytes: 64 * GiB,
  maxTotalBytes: 1024 * GiB,
  maxEntries: 10_000_000,
  maxPathBytes: 3072,
};

/** Some of the limits; unset (or undefined) ones keep their defaults. */
export type SomeArchiveLimits = { [K in keyof ArchiveLimits]?: number | undefined };

/** `partial` over the defaults. */
export function archiveLimitsOf(partial: SomeArchiveLimits | undefined): ArchiveLimits {
  return {
    maxEntryBytes: partial?.maxEntryBytes ?? DEFAULT_ARCHIVE_LIMITS.maxEntryBytes,
    maxTotalBytes: partial?.maxTotalBytes ?? DEFAULT_ARCHIVE_LIMITS.maxTotalBytes,
    maxEntries: partial?.maxEntries ?? DEFAULT_ARCHIVE_LIMITS.maxEntries,
    maxPathBytes: partial?.maxPathBytes ?? DEFAULT_ARCHIVE_LIMITS.maxPathBytes,
  };
}

/** Which limit an entry breaks and why, in words that fit both sides. */
export interface LimitViolation {
  limit: keyof ArchiveLimits;
  reason: string;
}

/**
 * Counts the entries of one archive against the limits. Both the writer and the extractor call
 * entry() for every tar entry and file() for every regular file, so they agree on each verdict.
 */
export class LimitBudget {
  entries = 0;
  contentBytes = 0;

  constructor(readonly limits: ArchiveLimits) {}

  /** Counts an entry with the relative path `rel` ("" for the root). */
  entry(rel: string): LimitViolation | undefined {
    if (++this.entries > this.limits.maxEntries) {
      return { limit: "maxEntries", reason: `more than ${this.limits.maxEntries} entries` };
    }
    const bytes = Buffer.byteLength(rel);
    if (bytes > this.limits.maxPathBytes) {
      return {
        limit: "maxPathBytes",
        reason: `a path of ${bytes} bytes exceeds the limit of ${this.limits.maxPathBytes}`,
      };
    }
    return undefined;
  }

  /** Counts a regular file of `size` bytes (holes included) storing `stored` content bytes. */
  file(size: number, stored: number): LimitViolation | undefined {
    if (size > this.limits.maxEntryBytes) {
      return {
        limit: "maxEntryBytes",
        reason: `${size} bytes exceeds the entry limit of ${this.limits.maxEntryBytes}`,
      };
    }
    if (this.contentBytes + stored > this.limits.maxTotalBytes) {
      return {
        limit: "maxTotalBytes",
        reason: `archive content exceeds the limit of ${this.limits.maxTotalBytes} bytes`,
      };
    }
    this.contentBytes += stored;
    return undefined;
  }
}

/**
 * The tree holds more than an archive may (see ArchiveLimits): archiving it is refused, since the
 * restore would refuse it too. The previous backup stays the current one.
 */
export class ArchiveLimitError extends DomainError {
  override name = "ArchiveLimitError";
  constructor(message: string) {
    super("resource-exhausted", message);
  }

  static of(rel: string, v: LimitViolation): ArchiveLimitError {
    return new ArchiveLimitError(
      `cannot archive ${JSON.stringify(rel === "" ? "." : rel)}: ${v.reason} (archive.${v.limit}); a restore would refuse it`,
    );
  }
}
