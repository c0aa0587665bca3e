import { createHash } from "node:crypto";
import { type FileHandle, mkdir, readdir, realpath } from "node:fs/promises";
import { type Readable, Transform, type Writable } from "node:stream";
import { pipeline } from "node:stream/promises";
import { ContentCorruptError, emptyDirectory } from "../platform/index.js";
import { HostileArchiveError } from "./archive-errors.js";
import type { ExtractJob, ExtractJobResult, ExtractProgress } from "./extract-worker.js";
import { restoreFailureCause } from "./restore-failure.js";
import type { SafeExtractOptions } from "./safe-extractor.js";
import { deserializeError, type SerializedError } from "./worker-job.js";
import { ZstdPipeline } from "./zstd-pipeline.js";

export interface ExtractArchiveOptions extends SafeExtractOptions {
  /** What the compressed stream must hash to; checked before success is returned. */
  expected?: { sha256: string; size: number } | undefined;
  signal?: AbortSignal | undefined;
  /** `tarBytes`: uncompressed tar bytes unpacked so far. */
  onProgress?: ((p: { bytes: number; files: number; tarBytes: number }) => void) | undefined;
  zstdPath?: string | undefined;
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
  let tarBytes = 0;
  let lastProgress = 0;
  // `force`: the worker's reports, already spaced by worker-job.ts, pass unthrottled (two
  // throttles of one period in a row would space reports up to twice that period apart).
  const progress = (force = false) => {
    const now = Date.now();
    if (options.onProgress && (force || now - lastProgress > 200)) {
      lastProgress = now;
      options.onProgress({ bytes, files, tarBytes });
    }
  };
  const counted = (chunk: Buffer) => {
    hash.update(chunk);
    bytes += chunk.length;
    progress();
  };

  const stopHashing = new AbortController();
  const unpacking = ZstdPipeline.decompress<ExtractProgress, ExtractJobResult>(
    {
      entry: "extract-worker",
      job: (fifo) => ({ fifo, root, options: extractOptionsOf(options) }) satisfies ExtractJob,
      onProgress: (p) => {
        files = p.entries;
        tarBytes = p.tarBytes;
        progress(true);
      },
      reviveError: reviveWorkerError,
    },
    { input: "file" in source ? source.file.fd : "pipe", zstdPath: options.zstdPath },
  );
  const feed =
    "file" in source
      ? hashFile(source.file, counted, stopHashing.signal)
      : feedPipe(source, unpacking.stdin, counted, () => {
          sinkFailed = true;
        });
  feed.catch(() => {});
  const stopAll = () => {
    stream?.destroy();
    stopHashing.abort();
    unpacking.stop();
  };

  options.signal?.addEventListener("abort", stopAll, { once: true });
  try {
    let result: ExtractJobResult;
    try {
      [result] = await Promise.all([unpacking.done, feed]);
    } catch (first) {
      // Everything ends by itself once one part fails (the worker closing the pipe stops zstd,
      // zstd ending ends the worker's input), so wait for that and judge from all outcomes; a
      // part that does not end in time is stopped.
      const timer = setTimeout(stopAll, SETTLE_AFTER_FAILURE_MS);
      const [outcome, fed] = await Promise.all([
        unpacking.outcome(),
        feed.then(() => undefined, asError),
      ]);
      clearTimeout(timer);
      throw restoreFailureCause({
        first,
        ...outcome,
        feed: fed,
        signal: options.signal,
        source: sourceError,
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
    tarBytes = result.tarBytes;
    options.onProgress?.({ bytes, files, tarBytes });
    return { entries: result.entries, bytes, sha256 };
  } catch (err) {
    stopAll();
    await Promise.allSettled([feed, unpacking.outcome()]);
    // a leftover that cannot be removed now must not hide why the restore failed; the next init
    // of the workspace empties its folder anyway
    // the partial tree holds archive-controlled links: delete by descriptor, never through a link
    await emptyDirectory(root).catch(() => {});
    throw err;
  } finally {
    options.signal?.removeEventListener("abort", stopAll);
  }
}

/** Pipes `stream` into zstd's stdin, counting what passes; `onSinkError` tells of zstd's side failing. */
function feedPipe(
  stream: Readable,
  stdin: Writable,
  onChunk: (chunk: Buffer) => void,
  onSinkError: () => void,
): Promise<void> {
  stdin.once("error", onSinkError);
  return pipeline(
    stream,
    new Transform({
      transform(chunk: Buffer, _enc, cb) {
        onChunk(chunk);
        cb(null, chunk);
      },
    }),
    stdin,
  );
}

const asError = (err: unknown): Error => (err instanceof Error ? err : new Error(String(err)));

export function reviveWorkerError(e: SerializedError): Error {
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
export function extractOptionsOf(o: SafeExtractOptions): SafeExtractOptions {
  return {
    maxEntryBytes: o.maxEntryBytes,
    maxTotalBytes: o.maxTotalBytes,
    maxEntries: o.maxEntries,
    maxPathBytes: o.maxPathBytes,
    idShift: o.idShift,
    chown: o.chown,
    owner: o.owner,
    keepSetid: o.keepSetid,
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
