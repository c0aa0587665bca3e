import { createHash } from "node:crypto";
import { closeSync } from "node:fs";
import { type FileHandle, mkdir, readdir, realpath, rm } from "node:fs/promises";
import path from "node:path";
import { type Readable, Transform } from "node:stream";
import { pipeline } from "node:stream/promises";
import { ContentCorruptError } from "../platform/index.js";
import { HostileArchiveError } from "./archive-errors.js";
import { ArchiveFifo } from "./archive-fifo.js";
import type { ExtractJob, ExtractJobResult, ExtractProgress } from "./extract-worker.js";
import type { SafeExtractOptions } from "./safe-extractor.js";
import { deserializeError, type SerializedError, startWorkerJob } from "./worker-pool.js";
import { ZstdFailedError, ZstdProcess } from "./zstd-process.js";

export interface ExtractArchiveOptions extends SafeExtractOptions {
  /** What the compressed stream must hash to; checked before success is returned. */
  expected?: { sha256: string; size: number };
  signal?: AbortSignal;
  onProgress?: (p: { bytes: number; files: number }) => void;
  zstdPath?: string;
}

export interface ExtractResult {
  entries: number;
  /** Compressed bytes read. */
  bytes: number;
  sha256: string;
}

/**
 * The compressed archive: a stream (e.g. an S3 download), or an open local file that zstd reads
 * itself while this process reads the same bytes for the checksum.
 */
export type ArchiveSource = Readable | { file: FileHandle };

const HASH_READ_BYTES = 1024 * 1024;
/** After a failure, how long the parts of a restore get to end by themselves before being stopped. */
const SETTLE_AFTER_FAILURE_MS = 5000;

/**
 * Restores a zstd-compressed tar stream into `targetDir` (created if missing, must be empty), like
 * `zstd -d | tar -x`: zstd writes into a FIFO that a worker thread reads, parses and extracts
 * synchronously (SafeExtractor), while this thread only hashes the compressed bytes.
 * Success means: every entry passed the hostile-archive checks, zstd and the tar parser accepted
 * the whole stream, and its sha256/size match `expected`. On any failure everything written into
 * `targetDir` is removed again (the directory itself stays) and the error is thrown: the source's
 * own error if reading failed (e.g. network), HostileArchiveError, ContentCorruptError for
 * undecodable or mismatching content, or the file system error.
 */
export async function extractArchive(
  source: ArchiveSource,
  targetDir: string,
  options: ExtractArchiveOptions = {},
): Promise<ExtractResult> {
  const stream = "file" in source ? undefined : source;
  // listen first: the source may fail before the awaits below return (e.g. an aborted signal)
  let sourceError: Error | undefined;
  let sinkFailed = false;
  stream?.on("error", (err: NodeJS.ErrnoException) => {
    // pipeline() also destroys the source when zstd's side fails: that is not the source's fault
    if (sourceError || sinkFailed || err.code === "ERR_STREAM_PREMATURE_CLOSE") return;
    sourceError = err;
  });
  if (options.signal?.aborted) {
    stream?.destroy();
    throw options.signal.reason ?? new Error("aborted");
  }
  await mkdir(targetDir, { recursive: true });
  const root = await realpath(targetDir);
  if ((await readdir(root)).length > 0) {
    stream?.destroy();
    throw new Error(`restore target ${targetDir} is not empty`);
  }

  const hash = createHash("sha256");
  let bytes = 0;
  let files = 0;
  let lastProgress = 0;
  const progress = () => {
    const now = Date.now();
    if (options.onProgress && now - lastProgress > 200) {
      lastProgress = now;
      options.onProgress({ bytes, files });
    }
  };
  const counted = (chunk: Buffer) => {
    hash.update(chunk);
    bytes += chunk.length;
    progress();
  };

  const stopHashing = new AbortController();
  const fifo = new ArchiveFifo();
  let writeEnd: number | undefined = fifo.openWriteEnd();
  const releaseWriteEnd = () => {
    if (writeEnd !== undefined) closeSync(writeEnd);
    writeEnd = undefined;
    fifo.remove();
  };
  let zstd: ZstdProcess;
  try {
    zstd = ZstdProcess.decompress(
      stream ? "pipe" : (source as { file: FileHandle }).file.fd,
      writeEnd,
      options.zstdPath,
    );
  } catch (err) {
    releaseWriteEnd();
    throw err;
  }
  const worker = startWorkerJob<ExtractProgress, ExtractJobResult>(
    "extract-worker",
    { fifo: fifo.path, root, options: extractOptionsOf(options) } satisfies ExtractJob,
    {
      // zstd holds its own copy of the write end: the worker sees end of file when zstd exits
      onOpened: releaseWriteEnd,
      onProgress: (p) => {
        files = p.entries;
        progress();
      },
      reviveError: reviveWorkerError,
    },
  );
  zstd.stdin?.once("error", () => {
    sinkFailed = true;
  });
  const feed = stream
    ? pipeline(
        stream,
        new Transform({
          transform(chunk: Buffer, _enc, cb) {
            counted(chunk);
            cb(null, chunk);
          },
        }),
        zstd.stdin!,
      )
    : hashFile((source as { file: FileHandle }).file, counted, stopHashing.signal);
  feed.catch(() => {});

  const onAbort = () => {
    stream?.destroy();
    stopHashing.abort();
    zstd.kill();
  };
  options.signal?.addEventListener("abort", onAbort, { once: true });
  try {
    let result: ExtractJobResult;
    try {
      [result] = await Promise.all([worker.done, feed, zstd.exited]);
    } catch (err) {
      // Everything ends by itself once one part fails (the worker closing the pipe stops zstd,
      // zstd ending ends the worker's input), so wait for that and judge from all outcomes; a
      // part that does not end in time is stopped.
      const all = Promise.allSettled([worker.done, feed, zstd.exited]);
      const timer = setTimeout(() => {
        stream?.destroy();
        stopHashing.abort();
        zstd.kill();
      }, SETTLE_AFTER_FAILURE_MS);
      const [w, f, z] = await all;
      clearTimeout(timer);
      throw classifyFailure(err, {
        worker: w.status === "rejected" ? (w.reason as Error) : undefined,
        feed: f.status === "rejected" ? (f.reason as Error) : undefined,
        zstd: z.status === "rejected" ? (z.reason as Error) : undefined,
        aborted: options.signal,
        sourceError,
      });
    }
    if (
      options.expected &&
      (options.expected.size !== bytes || options.expected.sha256 !== hash.digest("hex"))
    ) {
      throw new ContentCorruptError(
        `archive does not match its manifest (expected ${options.expected.size} bytes, sha256 ${options.expected.sha256}; got ${bytes} bytes)`,
      );
    }
    const sha256 = options.expected?.sha256 ?? hash.digest("hex");
    files = result.entries;
    options.onProgress?.({ bytes, files });
    return { entries: result.entries, bytes, sha256 };
  } catch (err) {
    stream?.destroy();
    stopHashing.abort();
    zstd.kill();
    releaseWriteEnd();
    await Promise.allSettled([feed, zstd.exited, worker.done]);
    // a leftover that cannot be removed now must not hide why the restore failed; the next init
    // of the workspace empties its folder anyway
    await clearDirectory(root).catch(() => {});
    throw err;
  } finally {
    releaseWriteEnd();
    options.signal?.removeEventListener("abort", onAbort);
  }
}

/**
 * Which of the failures of a restore is the real one. The first rejection is often a consequence:
 * a corrupt zstd stream makes the tar parser see a cut archive, the worker refusing an entry makes
 * zstd fail to write, an aborted download ends zstd's input.
 */
function classifyFailure(
  first: unknown,
  parts: {
    worker: Error | undefined;
    feed: Error | undefined;
    zstd: Error | undefined;
    aborted: AbortSignal | undefined;
    sourceError: Error | undefined;
  },
): Error {
  if (parts.aborted?.aborted) return parts.aborted.reason ?? (first as Error);
  if (parts.sourceError) return parts.sourceError;
  const { worker, zstd } = parts;
  if (worker instanceof HostileArchiveError) return worker;
  // errors carrying a syscall come from our own file system writes (ENOSPC, EDQUOT, EACCES...)
  if (worker && (worker as NodeJS.ErrnoException).syscall !== undefined) return worker;
  if (zstd instanceof ZstdFailedError && zstd.rejectedInput) {
    return new ContentCorruptError(`archive cannot be decompressed: ${zstd.message}`);
  }
  // a tar format error (already a ContentCorruptError), or the worker itself failing (internal)
  if (worker) return worker;
  // zstd that could not start or was killed: the machine's problem, not the archive's
  if (zstd && !(zstd instanceof ZstdFailedError && /Broken pipe|Write error/i.test(zstd.message)))
    return zstd;
  const feed = parts.feed ?? (first as Error);
  if ((feed as NodeJS.ErrnoException).syscall !== undefined) return feed;
  return new ContentCorruptError(`archive cannot be read: ${feed.message}`);
}

function reviveWorkerError(e: SerializedError): Error {
  if (e.name === "HostileArchiveError" && e.entry !== undefined) {
    const prefix = `refusing archive entry ${JSON.stringify(e.entry)}: `;
    const reason = e.message.startsWith(prefix) ? e.message.slice(prefix.length) : e.message;
    return new HostileArchiveError(e.entry, reason);
  }
  if (e.name === "TarFormatError") {
    return new ContentCorruptError(`archive is not a valid tar stream: ${e.message}`);
  }
  return deserializeError(e);
}

/** The plain-data part of the options, as the worker gets it. */
function extractOptionsOf(o: SafeExtractOptions): SafeExtractOptions {
  return {
    maxEntryBytes: o.maxEntryBytes,
    maxTotalBytes: o.maxTotalBytes,
    maxEntries: o.maxEntries,
    idShift: o.idShift,
    chown: o.chown,
    symlinks: o.symlinks,
  };
}

/** Reads the whole file (positioned reads: zstd's file offset stays its own) into `onChunk`. */
async function hashFile(
  file: FileHandle,
  onChunk: (chunk: Buffer) => void,
  signal?: AbortSignal,
): Promise<void> {
  const buf = Buffer.allocUnsafe(HASH_READ_BYTES);
  let position = 0;
  for (;;) {
    signal?.throwIfAborted();
    const { bytesRead } = await file.read(buf, 0, buf.length, position);
    if (bytesRead === 0) return;
    onChunk(buf.subarray(0, bytesRead));
    position += bytesRead;
  }
}

/** Removes everything inside `dir` (never following symlinks), keeping `dir` itself. */
export async function clearDirectory(dir: string): Promise<void> {
  const names = await readdir(dir).catch(() => [] as string[]);
  await Promise.all(names.map((n) => rm(path.join(dir, n), { recursive: true, force: true })));
}
