import { createHash } from "node:crypto";
import type { FileHandle } from "node:fs/promises";
import { type Readable, Transform } from "node:stream";
import { ArchiveDeadlineError, ArchiveTreeChangedError } from "./archive-errors.js";
import { ArchiveLimitError, type SomeArchiveLimits } from "./archive-limits.js";
import type { TarJob, TarProgress } from "./tar-worker.js";
import { emptySummary, type TarWriteSummary } from "./tar-writer.js";
import { deserializeError, type SerializedError } from "./worker-job.js";
import { ZstdPipeline } from "./zstd-pipeline.js";

export interface CreateArchiveOptions {
  /** zstd level; 1 by default (see the bench: level 3 costs ~40% throughput for ~5% size). */
  level?: number | undefined;
  idShift?: number | undefined;
  signal?: AbortSignal | undefined;
  /** `tarBytes`: uncompressed tar bytes written so far. */
  onProgress?: ((p: { bytes: number; files: number; tarBytes: number }) => void) | undefined;
  zstdPath?: string | undefined;
  /** What the archive may hold: the limits its restore applies (ArchiveLimitError beyond them). */
  limits?: SomeArchiveLimits | undefined;
  /** Abandon the archive (ArchiveDeadlineError) once it runs longer than this allows. */
  deadline?: ArchiveDeadline | undefined;
}

/**
 * How long an archive may run: baseMs plus msPerGiB for every GiB of tar the walk has begun (the
 * file being read counted in full, so a large file gets its time up front and a read that never
 * returns does not earn more). Bounds the time an archive holds its slot, whatever the tree does.
 */
export interface ArchiveDeadline {
  baseMs: number;
  msPerGiB: number;
}

export interface ArchiveResult {
  /** sha256 (hex) of the compressed stream. */
  sha256: string;
  /** Bytes of the compressed stream. */
  size: number;
  /** Entries in the archive. */
  fileCount: number;
  uncompressedBytes: number;
  warnings: string[];
}

export interface ArchiveStream {
  /**
   * The compressed archive. It ends successfully only if the whole tree was archived and zstd
   * exited cleanly; any failure destroys it with the error, so an upload of it can never complete
   * with a truncated archive.
   */
  stream: Readable;
  /** Settles after `stream` ended (or failed). */
  result: Promise<ArchiveResult>;
}

export const DEFAULT_ZSTD_LEVEL = 1;

const OUT_CHUNK_BYTES = 1024 * 1024;
/** How long the follower of a growing archive file waits when it caught up with zstd. */
const FOLLOW_POLL_MS = 4;

interface RunningArchive {
  pipeline: ZstdPipeline<TarWriteSummary>;
  /** Settles once the tar worker finished and zstd exited; failure stops both. */
  produced: Promise<void>;
  /** Compressed bytes seen so far. */
  readonly size: number;
  /** Hashes and counts the next piece of the compressed stream. */
  take(chunk: Buffer): void;
  /** The result, once the whole compressed stream was taken. */
  finish(): ArchiveResult;
  abort(reason: Error): void;
  /** Unhooks from the caller's signal. */
  detach(): void;
}

/** Starts the tar worker writing into a FIFO that zstd compresses into `output`. */
function startArchive(
  dir: string,
  options: CreateArchiveOptions,
  output: "pipe" | number,
): RunningArchive {
  const summary = emptySummary();
  const hash = createHash("sha256");
  let size = 0;
  let lastProgress = 0;
  const progress = (force: boolean) => {
    const now = Date.now();
    if (!options.onProgress || (!force && now - lastProgress < 200)) return;
    lastProgress = now;
    options.onProgress({ bytes: size, files: summary.entries, tarBytes: summary.bytes });
  };
  // The tar stream is written by a worker thread into a FIFO that zstd reads, like
  // `tar | zstd > file`: the main thread at most sees the compressed bytes.
  const pipeline = ZstdPipeline.compress<TarProgress, TarWriteSummary>(
    {
      entry: "tar-worker",
      job: (fifo) =>
        ({ root: dir, fifo, idShift: options.idShift, limits: options.limits }) satisfies TarJob,
      onProgress: (p) => {
        summary.entries = p.entries;
        summary.bytes = p.bytes;
        summary.plannedBytes = p.plannedBytes;
        progress(false);
      },
      reviveError: reviveTarError,
    },
    { level: options.level ?? DEFAULT_ZSTD_LEVEL, output, zstdPath: options.zstdPath },
  );

  const internal = new AbortController();
  const onOuterAbort = () => internal.abort(options.signal?.reason);
  if (options.signal?.aborted) onOuterAbort();
  else options.signal?.addEventListener("abort", onOuterAbort, { once: true });
  const aborted = new Promise<never>((_, reject) => {
    const onAbort = () => reject(internal.signal.reason ?? new Error("aborted"));
    if (internal.signal.aborted) onAbort();
    else internal.signal.addEventListener("abort", onAbort, { once: true });
  });
  aborted.catch(() => {});
  const stopDeadline = options.deadline
    ? watchDeadline(options.deadline, dir, summary, (err) => internal.abort(err))
    : () => {};
  const produced = Promise.race([
    pipeline.done.then((s) => Object.assign(summary, s)),
    aborted,
  ]).then(
    () => stopDeadline(),
    (err: unknown) => {
      stopDeadline();
      // the tar worker may be deep in a large tree, or stuck in a read: it is stopped rather than
      // waited for (a thread stuck in a system call ends once the call returns; the slot and the
      // previous archive do not wait for that)
      pipeline.terminate();
      throw err;
    },
  );
  produced.catch(() => {});
  return {
    pipeline,
    produced,
    get size() {
      return size;
    },
    take(chunk) {
      hash.update(chunk);
      size += chunk.length;
      progress(false);
    },
    finish() {
      progress(true);
      return {
        sha256: hash.digest("hex"),
        size,
        fileCount: summary.entries,
        uncompressedBytes: summary.bytes,
        warnings: summary.warnings,
      };
    },
    abort: (reason) => internal.abort(reason),
    detach: () => options.signal?.removeEventListener("abort", onOuterAbort),
  };
}

/** Streams `dir` as tar | zstd, hashing and counting the compressed bytes on the way out. */
export function createArchiveStream(
  dir: string,
  options: CreateArchiveOptions = {},
): ArchiveStream {
  const running = startArchive(dir, options, "pipe");
  const { produced } = running;
  const zstdOut = running.pipeline.stdout;

  let finished = false;
  // zstd's output arrives in 64 KiB pieces; handing them on as ~1 MiB Buffers makes the consumer
  // (a file write on the thread pool, an S3 part) do 16x fewer round trips.
  let pending = Buffer.allocUnsafe(OUT_CHUNK_BYTES);
  let pendingUsed = 0;
  const takePending = (): Buffer => {
    const b = pending.subarray(0, pendingUsed);
    running.take(b);
    pending = Buffer.allocUnsafe(OUT_CHUNK_BYTES);
    pendingUsed = 0;
    return b;
  };
  const out = new Transform({
    highWaterMark: OUT_CHUNK_BYTES,
    transform(chunk: Buffer, _enc, cb) {
      let off = 0;
      while (off < chunk.length) {
        const n = chunk.copy(pending, pendingUsed, off);
        pendingUsed += n;
        off += n;
        if (pendingUsed === pending.length) this.push(takePending());
      }
      cb();
    },
    // End-of-stream is only signalled once the producer is known to have succeeded.
    flush(cb) {
      produced.then(
        () => {
          finished = true;
          cb(null, pendingUsed > 0 ? takePending() : undefined);
        },
        (err: Error) => cb(err),
      );
    },
  });
  zstdOut.on("error", (err) => out.destroy(err));
  zstdOut.pipe(out);
  produced.catch((err: Error) => out.destroy(err));
  // If the consumer gives up, stop reading the tree and kill zstd.
  out.on("close", () => {
    if (!finished) running.abort(new Error("archive stream closed before completion"));
  });

  const result = new Promise<ArchiveResult>((resolve, reject) => {
    out.on("end", () => {
      running.detach();
      resolve(running.finish());
    });
    out.on("close", () => {
      running.detach();
      if (!finished) produced.then(() => reject(new Error("archive stream closed early")), reject);
    });
  });
  result.catch(() => {});
  return { stream: out, result };
}

export interface ArchiveToFileOptions extends CreateArchiveOptions {
  /** Told of every stretch of the file known to be written (e.g. to start its writeback early). */
  onWritten?: ((bytes: number) => void) | undefined;
}

/**
 * Writes tar | zstd of `dir` straight into `file` (opened for reading and writing, empty): zstd
 * writes the file itself, as `tar | zstd > file` does, while this thread follows the file as it
 * grows and hashes what is there (positioned reads: zstd's file offset stays its own). Rejects on
 * any failure; the caller owns the file and removes it then.
 */
export async function writeArchiveToFile(
  dir: string,
  file: FileHandle,
  options: ArchiveToFileOptions = {},
): Promise<ArchiveResult> {
  const running = startArchive(dir, options, file.fd);
  let done = false;
  let failure: unknown;
  const settled = running.produced.then(
    () => {
      done = true;
    },
    (err: unknown) => {
      failure = err;
    },
  );
  try {
    const buf = Buffer.allocUnsafe(OUT_CHUNK_BYTES);
    for (;;) {
      if (failure !== undefined) throw failure;
      // read only after looking at `done`: once zstd exited, a short read means the end
      const finishedBefore = done;
      const { bytesRead } = await file.read(buf, 0, buf.length, running.size);
      if (bytesRead > 0) {
        running.take(buf.subarray(0, bytesRead));
        options.onWritten?.(bytesRead);
        continue;
      }
      if (finishedBefore) break;
      await Promise.race([settled, delay(FOLLOW_POLL_MS)]);
    }
    const st = await file.stat();
    if (st.size !== running.size) {
      throw new Error(
        `archive file changed while being hashed (${st.size} bytes, read ${running.size})`,
      );
    }
    return running.finish();
  } catch (err) {
    running.abort(err instanceof Error ? err : new Error(String(err)));
    await settled;
    throw err;
  } finally {
    running.detach();
  }
}

const GiB = 1024 ** 3;

/**
 * Aborts through `abort` once the archive runs past its deadline, which grows with the tar bytes
 * the worker reported as begun (summary.plannedBytes). Returns the function that stops watching.
 */
export function watchDeadline(
  deadline: ArchiveDeadline,
  dir: string,
  summary: TarWriteSummary,
  abort: (err: Error) => void,
): () => void {
  const started = Date.now();
  let timer: NodeJS.Timeout | undefined;
  const check = () => {
    const allowedMs = Math.round(
      deadline.baseMs + (deadline.msPerGiB * summary.plannedBytes) / GiB,
    );
    const elapsed = Date.now() - started;
    if (elapsed < allowedMs) {
      timer = setTimeout(check, allowedMs - elapsed);
      return;
    }
    abort(
      new ArchiveDeadlineError(
        `archive of ${dir} abandoned after ${elapsed} ms: its deadline was ${allowedMs} ms for ${summary.plannedBytes} bytes begun (archive.deadlineBaseMs + archive.deadlineMsPerGib); the previous archive stays`,
      ),
    );
  };
  timer = setTimeout(check, deadline.baseMs);
  return () => clearTimeout(timer);
}

/** The tar worker's errors with their classes back (they do not cross the thread boundary). */
export function reviveTarError(e: SerializedError): Error {
  if (e.name === "ArchiveLimitError") return new ArchiveLimitError(e.message);
  if (e.name === "ArchiveTreeChangedError") return new ArchiveTreeChangedError(e.message);
  return deserializeError(e);
}

const delay = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));
