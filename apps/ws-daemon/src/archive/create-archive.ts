import { createHash } from "node:crypto";
import { PassThrough, type Readable, Transform } from "node:stream";
import { pipeline } from "node:stream/promises";
import { type TarWriteSummary, tarDirectory } from "./tar-writer.js";
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

/** Streams `dir` as tar | zstd, hashing and counting the compressed bytes on the way out. */
export function createArchiveStream(
  dir: string,
  options: CreateArchiveOptions = {},
): ArchiveStream {
  const zstd = ZstdProcess.compress(options.level ?? DEFAULT_ZSTD_LEVEL, options.zstdPath);
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

  const producer = pipeline(
    tarDirectory(dir, { idShift: options.idShift, signal: internal.signal }, summary),
    // lets the reader run up to 4 MiB ahead of zstd instead of the pipe's 64 KiB
    new PassThrough({ highWaterMark: 4 * 1024 * 1024 }),
    zstd.stdin,
    { signal: internal.signal },
  );
  const produced = Promise.all([producer, zstd.exited]).then(
    () => undefined,
    (err: unknown) => {
      zstd.kill();
      throw err;
    },
  );
  produced.catch(() => {});

  let finished = false;
  const out = new Transform({
    highWaterMark: 1024 * 1024,
    transform(chunk: Buffer, _enc, cb) {
      hash.update(chunk);
      size += chunk.length;
      progress(false);
      cb(null, chunk);
    },
    // End-of-stream is only signalled once the producer is known to have succeeded.
    flush(cb) {
      produced.then(
        () => {
          finished = true;
          cb();
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
