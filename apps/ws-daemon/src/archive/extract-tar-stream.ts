import { closeSync } from "node:fs";
import { mkdir, readdir, realpath } from "node:fs/promises";
import { Socket } from "node:net";
import { Readable } from "node:stream";
import { pipeline } from "node:stream/promises";
import { emptyDirectory } from "../platform/index.js";
import { HostileArchiveError } from "./archive-errors.js";
import { ArchiveFifo } from "./archive-fifo.js";
import { extractOptionsOf, reviveWorkerError } from "./extract-archive.js";
import type { ExtractJob, ExtractJobResult, ExtractProgress } from "./extract-worker.js";
import type { SafeExtractOptions } from "./safe-extractor.js";
import { startWorkerJob } from "./worker-pool.js";

export interface ExtractTarStreamOptions extends SafeExtractOptions {
  signal?: AbortSignal | undefined;
  onProgress?: ((p: { files: number; tarBytes: number }) => void) | undefined;
}

export interface ExtractTarStreamResult {
  entries: number;
  /** Tar bytes read by the extractor. */
  tarBytes: number;
}

/** After a failure, how long the extractor gets to end by itself before being stopped. */
const SETTLE_AFTER_FAILURE_MS = 5000;

/**
 * Restores an uncompressed tar stream given as Buffers (e.g. verified chunks of a chunked
 * archive) into the empty directory `targetDir`, with the same extract worker and SafeExtractor as
 * extractArchive: the stream is written into a FIFO the worker reads, so the event loop only
 * passes Buffers along. On any failure everything written into `targetDir` is removed again and
 * the cause is thrown: the caller's abort, a HostileArchiveError, the source's own error (e.g. a
 * chunk that fails its hash), else the extractor's.
 */
export async function extractTarStream(
  source: AsyncIterable<Buffer>,
  targetDir: string,
  options: ExtractTarStreamOptions = {},
): Promise<ExtractTarStreamResult> {
  return extractTarFed(targetDir, options, (writeEnd, workerOpened, stop) => {
    // a pipe handle on the event loop (non-blocking writes), not a file stream: a blocking write
    // into a full FIFO would hold one of the few thread-pool threads that reads and hashes need
    const sink = new Socket({ fd: writeEnd, readable: false, writable: true });
    return {
      // the write end closes when the stream ends: were that before the worker opened the FIFO,
      // its open() would wait for a writer that never comes
      fed: workerOpened.then(() =>
        pipeline(Readable.from(source, { objectMode: false }), sink, { signal: stop }),
      ),
      close: () => sink.destroy(),
    };
  });
}

/**
 * What writes the tar stream into the extractor's FIFO. It gets our write end of the FIFO, a
 * promise of the worker having opened it (its last writer must not close before that), and a
 * signal to stop on; it reports its end through `fed` (an EPIPE-coded error when it only failed
 * because the extractor stopped reading) and lets go of our write end in `close` (idempotent).
 */
export type TarFeeder = (
  writeEnd: number,
  workerOpened: Promise<void>,
  stop: AbortSignal,
) => { fed: Promise<void>; close: () => void };

/**
 * extractTarStream for a tar stream that something else writes into the FIFO, such as a process
 * given the write end as its stdout: the bytes then never pass through this thread.
 */
export async function extractTarFed(
  targetDir: string,
  options: ExtractTarStreamOptions,
  startFeeder: TarFeeder,
): Promise<ExtractTarStreamResult> {
  options.signal?.throwIfAborted();
  await mkdir(targetDir, { recursive: true });
  const root = await realpath(targetDir);
  if ((await readdir(root)).length > 0) throw new Error(`restore target ${targetDir} is not empty`);

  const fifo = new ArchiveFifo();
  const ends = fifo.openWriteEnd();
  let keepAlive: number | undefined = ends.keepAlive;
  // our read end keeps written data until the worker opened its own; after that (or once the
  // worker is gone) it must go, so a writer whose reader died gets EPIPE instead of blocking
  const dropKeepAlive = () => {
    if (keepAlive !== undefined) closeSync(keepAlive);
    keepAlive = undefined;
  };
  const job: ExtractJob = { fifo: fifo.path, root, options: extractOptionsOf(options) };
  let worker: ReturnType<typeof startWorkerJob<ExtractProgress, ExtractJobResult>>;
  let opened = () => {};
  const workerOpened = new Promise<void>((resolve) => {
    opened = resolve;
  });
  try {
    worker = startWorkerJob<ExtractProgress, ExtractJobResult>("extract-worker", job, {
      onOpened: () => {
        dropKeepAlive();
        fifo.remove();
        opened();
      },
      onProgress: (p) => options.onProgress?.({ files: p.entries, tarBytes: p.tarBytes }),
      reviveError: reviveWorkerError,
    });
  } catch (err) {
    dropKeepAlive();
    closeSync(ends.writeEnd);
    fifo.remove();
    throw err;
  }
  worker.done.then(
    () => {},
    () => {
      dropKeepAlive();
      void fifo.removeWhen(worker.done);
    },
  );

  const stopFeeding = new AbortController();
  const onAbort = () => stopFeeding.abort(options.signal?.reason);
  options.signal?.addEventListener("abort", onAbort, { once: true });
  let feeder: ReturnType<TarFeeder>;
  try {
    feeder = startFeeder(
      ends.writeEnd,
      Promise.race([workerOpened, worker.done.then(() => {})]),
      stopFeeding.signal,
    );
  } catch (err) {
    closeSync(ends.writeEnd);
    worker.terminate();
    await worker.done.catch(() => {});
    dropKeepAlive();
    throw err;
  }
  const feed = feeder.fed;
  feed.catch(() => {});
  try {
    let result: ExtractJobResult;
    try {
      [result] = await Promise.all([worker.done, feed]);
    } catch (first) {
      stopFeeding.abort(first);
      const timer = setTimeout(() => worker.terminate(), SETTLE_AFTER_FAILURE_MS);
      const [workerOutcome, fed] = await Promise.allSettled([worker.done, feed]);
      clearTimeout(timer);
      throw failureCause(
        options.signal,
        workerOutcome.status === "rejected" ? workerOutcome.reason : undefined,
        fed.status === "rejected" ? fed.reason : undefined,
        first,
      );
    }
    options.onProgress?.({ files: result.entries, tarBytes: result.tarBytes });
    return { entries: result.entries, tarBytes: result.tarBytes };
  } catch (err) {
    stopFeeding.abort(err);
    worker.terminate();
    await Promise.allSettled([worker.done, feed]);
    // the partial tree holds archive-controlled links: delete by descriptor, never through a link
    await emptyDirectory(root).catch(() => {});
    throw err;
  } finally {
    options.signal?.removeEventListener("abort", onAbort);
    // closes our write end if the feed never started (the worker failed before opening)
    feeder.close();
    dropKeepAlive();
  }
}

/**
 * The cause among the failures: the caller's abort; a hostile entry; the source's own error (a
 * write that failed only because the extractor stopped reading is a consequence); the extractor's.
 */
function failureCause(
  signal: AbortSignal | undefined,
  worker: unknown,
  feed: unknown,
  first: unknown,
): unknown {
  if (signal?.aborted) return signal.reason ?? first;
  if (worker instanceof HostileArchiveError) return worker;
  const feedIsConsequence =
    feed === undefined ||
    (feed as NodeJS.ErrnoException).code === "EPIPE" ||
    (feed as Error).name === "AbortError";
  if (!feedIsConsequence) return feed;
  return worker ?? feed ?? first;
}
