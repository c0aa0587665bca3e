import { createHash } from "node:crypto";
import { type Readable, Transform } from "node:stream";
import { ArchiveFifo, startTarWorker } from "./tar-worker-client.js";
import type { TarWriteSummary } from "./tar-writer.js";
import { ZstdProcess } from "./zstd-process.js";

export interface CreateArchiveOptions {
  /** zstd level; 1 by default (see the bench: level 3 costs ~40% throughput for ~5% size). */
  level?: number;
  idShift?: number;
  signal?: AbortSignal;
  onProgress?: (p: { bytes: number; files: number }) => void;
  zstdPath?: string;
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

/** Streams `dir` as tar | zstd, hashing and counting the compressed bytes on the way out. */
export function createArchiveStream(
  dir: string,
  options: CreateArchiveOptions = {},
): ArchiveStream {
  const internal = new AbortController();
  const onOuterAbort = () => internal.abort(options.signal?.reason);
  if (options.signal?.aborted) onOuterAbort();
  else options.signal?.addEventListener("abort", onOuterAbort, { once: true });

  const summary: TarWriteSummary = { entries: 0, bytes: 0, warnings: [] };
  const hash = createHash("sha256");
  let size = 0;
  let lastProgress = 0;
  const progress = (force: boolean) => {
    const now = Date.now();
    if (!options.onProgress || (!force && now - lastProgress < 200)) return;
    lastProgress = now;
    options.onProgress({ bytes: size, files: summary.entries });
  };

  // The tar stream is written by a worker thread into a FIFO that zstd reads: the main thread
  // only sees the compressed bytes (hash, count, hand on), like `tar | zstd > file`.
  const fifo = new ArchiveFifo();
  let zstd: ZstdProcess;
  try {
    zstd = ZstdProcess.compressFrom(
      fifo.path,
      options.level ?? DEFAULT_ZSTD_LEVEL,
      options.zstdPath,
    );
  } catch (err) {
    fifo.remove();
    throw err;
  }
  const tar = startTarWorker(
    { root: dir, fifo: fifo.path, idShift: options.idShift },
    (p) => {
      summary.entries = p.entries;
      summary.bytes = p.bytes;
      progress(false);
    },
    // both ends are open: the name is not needed any more, and a process killed from here on
    // leaves nothing behind in the temporary directory
    () => fifo.remove(),
  );
  const aborted = new Promise<never>((_, reject) => {
    const onAbort = () => reject(internal.signal.reason ?? new Error("aborted"));
    if (internal.signal.aborted) onAbort();
    else internal.signal.addEventListener("abort", onAbort, { once: true });
  });
  aborted.catch(() => {});
  const produced = Promise.race([
    Promise.all([tar.done.then((s) => Object.assign(summary, s)), zstd.exited]),
    aborted,
  ])
    .then(
      () => undefined,
      (err: unknown) => {
        zstd.kill();
        tar.terminate();
        throw err;
      },
    )
    .finally(() => fifo.remove());
  produced.catch(() => {});

  let finished = false;
  // zstd's output arrives in 64 KiB pieces; handing them on as ~1 MiB Buffers makes the consumer
  // (a file write on the thread pool, an S3 part) do 16x fewer round trips.
  let pending = Buffer.allocUnsafe(OUT_CHUNK_BYTES);
  let pendingUsed = 0;
  const takePending = (): Buffer => {
    const b = pending.subarray(0, pendingUsed);
    hash.update(b);
    size += b.length;
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
      progress(false);
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
  zstd.stdout.on("error", (err) => out.destroy(err));
  zstd.stdout.pipe(out);
  produced.catch((err: Error) => out.destroy(err));
  // If the consumer gives up, stop reading the tree and kill zstd.
  out.on("close", () => {
    if (!finished) {
      internal.abort(new Error("archive stream closed before completion"));
      zstd.kill();
    }
  });

  const result = new Promise<ArchiveResult>((resolve, reject) => {
    out.on("end", () => {
      options.signal?.removeEventListener("abort", onOuterAbort);
      progress(true);
      resolve({
        sha256: hash.digest("hex"),
        size,
        fileCount: summary.entries,
        uncompressedBytes: summary.bytes,
        warnings: summary.warnings,
      });
    });
    out.on("close", () => {
      options.signal?.removeEventListener("abort", onOuterAbort);
      if (!finished) produced.then(() => reject(new Error("archive stream closed early")), reject);
    });
  });
  result.catch(() => {});
  return { stream: out, result };
}
