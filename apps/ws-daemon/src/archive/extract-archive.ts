import { createHash } from "node:crypto";
import { mkdir, readdir, realpath, rm } from "node:fs/promises";
import path from "node:path";
import { PassThrough, type Readable, Transform } from "node:stream";
import { pipeline } from "node:stream/promises";
import tar from "tar-stream";
import { ContentCorruptError } from "../storage/content-store.js";
import { type SafeExtractOptions, SafeExtractor } from "./safe-extractor.js";
import { ZstdProcess } from "./zstd-process.js";

const READ_AHEAD_BYTES = 16 * 1024 * 1024;

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
 * Restores a zstd-compressed tar stream into `targetDir` (created if missing, must be empty).
 * Success means: every entry passed the hostile-archive checks, zstd and the tar parser accepted
 * the whole stream, and its sha256/size match `expected`. On any failure everything written into
 * `targetDir` is removed again (the directory itself stays) and the error is thrown: the source's
 * own error if reading failed (e.g. network), HostileArchiveError, ContentCorruptError for
 * undecodable or mismatching content, or the file system error.
 */
export async function extractArchive(
  source: Readable,
  targetDir: string,
  options: ExtractArchiveOptions = {},
): Promise<ExtractResult> {
  // listen first: the source may fail before the awaits below return (e.g. an aborted signal)
  let sourceError: Error | undefined;
  source.once("error", (err) => {
    sourceError = err;
  });
  if (options.signal?.aborted) {
    source.destroy();
    throw options.signal.reason ?? new Error("aborted");
  }
  await mkdir(targetDir, { recursive: true });
  const root = await realpath(targetDir);
  if ((await readdir(root)).length > 0) {
    source.destroy();
    throw new Error(`restore target ${targetDir} is not empty`);
  }

  const hash = createHash("sha256");
  let bytes = 0;
  const zstd = ZstdProcess.decompress(options.zstdPath);
  const extractor = new SafeExtractor(root, options);
  let lastProgress = 0;
  const tap = new Transform({
    transform(chunk: Buffer, _enc, cb) {
      hash.update(chunk);
      bytes += chunk.length;
      const now = Date.now();
      if (options.onProgress && now - lastProgress > 200) {
        lastProgress = now;
        options.onProgress({ bytes, files: extractor.entries });
      }
      cb(null, chunk);
    },
  });
  const feed = pipeline(source, tap, zstd.stdin);
  feed.catch(() => {});

  const extract = tar.extract();
  // Reads zstd's output well ahead of the parser: while the parser creates files, zstd keeps
  // decompressing into this buffer instead of stalling on a full 200 KiB socket (measured: the
  // main thread otherwise sat idle ~30% of a restore, waiting for zstd after each burst).
  const readAhead = new PassThrough({ highWaterMark: READ_AHEAD_BYTES });
  zstd.stdout.on("error", (err) => readAhead.destroy(err));
  readAhead.on("error", (err) => extract.destroy(err));
  zstd.stdout.pipe(readAhead).pipe(extract);
  const onAbort = () => {
    extract.destroy(options.signal?.reason ?? new Error("aborted"));
    source.destroy();
    zstd.kill();
  };
  options.signal?.addEventListener("abort", onAbort, { once: true });

  try {
    const it = extract[Symbol.asyncIterator]();
    for (;;) {
      let next: Awaited<ReturnType<typeof it.next>>;
      try {
        next = await it.next();
      } catch (err) {
        throw new ContentCorruptError(
          `archive is not a valid tar stream: ${(err as Error).message}`,
        );
      }
      if (next.done) break;
      await extractor.add(next.value.header, next.value as unknown as AsyncIterable<Buffer>);
    }
    try {
      await Promise.all([feed, zstd.exited]);
    } catch (err) {
      throw new ContentCorruptError(`archive cannot be decompressed: ${(err as Error).message}`);
    }
    if (
      options.expected &&
      (options.expected.size !== bytes || options.expected.sha256 !== hash.digest("hex"))
    ) {
      throw new ContentCorruptError(
        `archive does not match its manifest (expected ${options.expected.size} bytes, sha256 ${options.expected.sha256}; got ${bytes} bytes)`,
      );
    }
    extractor.finish();
    const sha256 = options.expected?.sha256 ?? hash.digest("hex");
    options.onProgress?.({ bytes, files: extractor.entries });
    return { entries: extractor.entries, bytes, sha256 };
  } catch (err) {
    extract.destroy();
    source.destroy();
    zstd.kill();
    await Promise.allSettled([feed, zstd.exited]);
    await clearDirectory(root);
    if (options.signal?.aborted) throw options.signal.reason ?? err;
    if (sourceError) throw sourceError;
    if (err instanceof ContentCorruptError) throw err;
    // errors carrying a syscall come from our own file system writes (ENOSPC, EDQUOT, EACCES...)
    if ((err as NodeJS.ErrnoException).syscall !== undefined) throw err;
    // the rest come from zstd or the tar parser (e.g. "Unexpected end of data" inside an entry)
    const zstdError = await zstd.exited.then(
      () => undefined,
      (e: Error) => e.message,
    );
    throw new ContentCorruptError(`archive cannot be read: ${zstdError ?? (err as Error).message}`);
  } finally {
    options.signal?.removeEventListener("abort", onAbort);
  }
}

/** Removes everything inside `dir` (never following symlinks), keeping `dir` itself. */
export async function clearDirectory(dir: string): Promise<void> {
  const names = await readdir(dir).catch(() => [] as string[]);
  await Promise.all(names.map((n) => rm(path.join(dir, n), { recursive: true, force: true })));
}
