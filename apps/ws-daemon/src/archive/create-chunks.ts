import { chunkId } from "../chunks/index.js";
import { ArchiveFifo } from "./archive-fifo.js";
import type { SomeArchiveLimits } from "./archive-limits.js";
import { CREDIT_CANCELLED, CREDIT_IN_FLIGHT } from "./chunk-credit.js";
import type { ChunkJob, ChunkMessage } from "./chunk-worker.js";
import { type ArchiveDeadline, reviveTarError, watchDeadline } from "./create-archive.js";
import type { TarJob, TarProgress } from "./tar-worker.js";
import { emptySummary, type TarWriteSummary } from "./tar-writer.js";
import { startWorkerJob } from "./worker-pool.js";

export interface ChunkTreeOptions {
  idShift?: number | undefined;
  signal?: AbortSignal | undefined;
  limits?: SomeArchiveLimits | undefined;
  deadline?: ArchiveDeadline | undefined;
  /** `tarBytes`: tar bytes chunked so far. */
  onProgress?: ((p: { files: number; tarBytes: number }) => void) | undefined;
  /** Bytes of chunks handed over and not yet consumed before the walk waits. Default 32 MiB. */
  maxBytesInFlight?: number | undefined;
}

/** A content-defined chunk of a tree's tar stream. */
export interface TreeChunk {
  /** sha256 (hex) of `bytes`. */
  id: string;
  bytes: Buffer;
}

export interface ChunkedTree {
  /**
   * The chunks in stream order. It ends only once the whole tree was walked; any failure (the
   * walk, a limit, the deadline, the signal) is thrown from it. Leaving it early stops the walk.
   */
  chunks: AsyncGenerator<TreeChunk, void, undefined>;
  /** The walk's summary (entries, tar bytes, warnings), once `chunks` ended. */
  summary: () => TarWriteSummary;
}

const DEFAULT_MAX_BYTES_IN_FLIGHT = 32 * 1024 * 1024;

/**
 * Cuts the tar stream of `dir` (exactly the stream create-archive.ts compresses) into
 * content-defined chunks on worker threads (the tar worker walks, the chunk worker cuts; hashing
 * runs on the thread pool): the event loop only receives finished chunks (transferred, not
 * copied).
 */
export function chunkTree(dir: string, options: ChunkTreeOptions = {}): ChunkedTree {
  const creditBuffer = new SharedArrayBuffer(8);
  const credit = new Int32Array(creditBuffer);
  const summary = emptySummary();
  const queue: { bytes: Buffer; id: Promise<string> }[] = [];
  let wake: (() => void) | undefined;
  const wakeUp = () => {
    const w = wake;
    wake = undefined;
    w?.();
  };
  let ended = false;
  let failure: unknown;
  let lastProgress = 0;
  // the tar worker writes the stream into a FIFO the chunk worker reads: walk and chunking run
  // on two threads at once, like `tar | zstd` on two processes
  const fifo = new ArchiveFifo();
  let openedEnds = 0;
  const onOpened = () => {
    openedEnds++;
    if (openedEnds === 2) fifo.remove();
  };
  const chunkJob: ChunkJob = {
    fifo: fifo.path,
    credit: creditBuffer,
    maxBytesInFlight: options.maxBytesInFlight ?? DEFAULT_MAX_BYTES_IN_FLIGHT,
  };
  const chunking = startWorkerJob<never, { tarBytes: number }>("chunk-worker", chunkJob, {
    onOpened,
    onData: (data) => {
      const m = data as ChunkMessage;
      // hashed on the thread pool right away, while the walk goes on and earlier chunks are stored
      const id = chunkId(m.bytes);
      id.catch(() => {});
      queue.push({ id, bytes: Buffer.from(m.bytes) });
      wakeUp();
    },
  });
  const tarJob: TarJob = {
    root: dir,
    fifo: fifo.path,
    idShift: options.idShift,
    limits: options.limits,
  };
  const walking = startWorkerJob<TarProgress, TarWriteSummary>("tar-worker", tarJob, {
    onOpened,
    onProgress: (p) => {
      summary.entries = p.entries;
      summary.bytes = p.bytes;
      summary.plannedBytes = p.plannedBytes;
      const now = Date.now();
      if (options.onProgress && now - lastProgress >= 200) {
        lastProgress = now;
        options.onProgress({ files: p.entries, tarBytes: p.bytes });
      }
    },
    reviveError: reviveTarError,
  });
  const bothDone = Promise.allSettled([walking.done, chunking.done]);
  const stop = (err: unknown) => {
    if (ended || failure !== undefined) return;
    failure = err;
    Atomics.store(credit, CREDIT_CANCELLED, 1);
    Atomics.notify(credit, CREDIT_IN_FLIGHT);
    walking.terminate();
    chunking.terminate();
    // a worker still on its way into open() is let through, then the name goes
    void fifo.removeWhen(bothDone);
    wakeUp();
  };
  const onAbort = () => stop(options.signal?.reason ?? new Error("aborted"));
  const stopDeadline = options.deadline
    ? watchDeadline(options.deadline, dir, summary, stop)
    : () => {};
  // the chunk worker also ends when the tar worker dies (end of its input): only both
  // succeeding, with every byte the walk wrote chunked, is the whole tree
  Promise.all([walking.done, chunking.done]).then(
    ([s, c]) => {
      Object.assign(summary, s);
      if (c.tarBytes !== s.bytes) {
        stop(new Error(`chunked ${c.tarBytes} of the ${s.bytes} tar bytes written`));
        return;
      }
      ended = true;
      wakeUp();
    },
    (err: unknown) => stop(err),
  );

  async function* chunks(): AsyncGenerator<TreeChunk, void, undefined> {
    if (options.signal?.aborted) onAbort();
    else options.signal?.addEventListener("abort", onAbort, { once: true });
    try {
      for (;;) {
        if (failure !== undefined) throw failure;
        const next = queue.shift();
        if (next) {
          yield { id: await next.id, bytes: next.bytes };
          // consumed: the worker may hand over that much more
          Atomics.sub(credit, CREDIT_IN_FLIGHT, next.bytes.length);
          Atomics.notify(credit, CREDIT_IN_FLIGHT);
          continue;
        }
        if (ended) return;
        await new Promise<void>((resolve) => {
          wake = resolve;
        });
      }
    } finally {
      stop(new Error("chunking was stopped before the end of the tree"));
      stopDeadline();
      options.signal?.removeEventListener("abort", onAbort);
    }
  }
  return { chunks: chunks(), summary: () => summary };
}
