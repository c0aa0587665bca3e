import { ContentCorruptError, errorMessage } from "../platform/index.js";
import { HostileArchiveError } from "./archive-errors.js";
import { ZstdFailedError } from "./zstd-process.js";

/** What every part of a failed restore ended with, once all of them ended. */
export interface RestoreFailures {
  /** The first rejection seen: often only a consequence of another part failing. */
  first: unknown;
  /** The extract worker: a hostile entry, a tar format error, our own file system, or itself. */
  worker: Error | undefined;
  /** Feeding zstd: the source stream piped into it, or the hashing read of a local file. */
  feed: Error | undefined;
  zstd: Error | undefined;
  /** The caller's signal. */
  signal: AbortSignal | undefined;
  /** What the source stream itself failed with (e.g. a download), if it did. */
  source: Error | undefined;
}

/**
 * Which of the failures of a restore is THE cause. The first rejection is often a consequence: a
 * corrupt zstd stream makes the tar parser see a cut archive, the worker refusing an entry makes
 * zstd fail to write, an aborted download ends zstd's input. The rules, first match wins:
 *  1. the caller aborted: the abort's reason;
 *  2. the source failed (e.g. the network): its error;
 *  3. the worker refused a hostile entry: that HostileArchiveError;
 *  4. the worker's own file system writes failed (ENOSPC, EDQUOT, EACCES...): that error;
 *  5. zstd rejected its input: ContentCorruptError;
 *  6. any other worker error (a tar format error, already a ContentCorruptError; the worker
 *     itself failing): that error;
 *  7. zstd could not start or was killed (the machine's problem, not the archive's): its error,
 *     unless it only lost its reader;
 *  8. reading the local archive file failed: that error;
 *  9. otherwise the archive could not be read: ContentCorruptError.
 */
export function restoreFailureCause(f: RestoreFailures): unknown {
  if (f.signal?.aborted) return f.signal.reason ?? f.first;
  if (f.source) return f.source;
  const { worker, zstd } = f;
  if (worker instanceof HostileArchiveError) return worker;
  // errors carrying a syscall come from our own file system writes
  if (worker && hasSyscall(worker)) return worker;
  if (zstd instanceof ZstdFailedError && zstd.rejectedInput) {
    return new ContentCorruptError(`archive cannot be decompressed: ${zstd.message}`);
  }
  if (worker) return worker;
  if (zstd && !(zstd instanceof ZstdFailedError && zstd.lostItsReader)) return zstd;
  const feed = f.feed ?? f.first;
  if (hasSyscall(feed)) return feed;
  return new ContentCorruptError(`archive cannot be read: ${errorMessage(feed)}`);
}

const hasSyscall = (err: unknown): boolean =>
  (err as NodeJS.ErrnoException | null | undefined)?.syscall !== undefined;
