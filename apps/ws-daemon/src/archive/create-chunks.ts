import { chunkId, type ReusedChunk } from "../chunks/index.js";
import { ArchiveFifo } from "./archive-fifo.js";
import type { SomeArchiveLimits } from "./archive-limits.js";
import { CREDIT_CANCELLED, CREDIT_IN_FLIGHT } from "./chunk-credit.js";
import type { ChunkJob, ChunkMessage } from "./chunk-worker.js";
import { type ArchiveDeadline, reviveTarError, watchDeadline } from "./create-archive.js";
import type { PieceOptions } from "./file-pieces.js";
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
  /** Mark large file bodies as pieces and skip reading the `reusable` ones (file-pieces.ts). */
  pieces?: PieceOptions | undefined;
}

/** A content-defined chunk of a tree's tar stream. */
export interface TreeChunk {
  kind: "chunk";
  /** sha256 (hex) of `bytes`. */
  id: string;
  bytes: Buffer;
}

/** What a tree's tar stream is made of, in stream order. */
export type TreeEvent =
  | TreeChunk
  /** Stored chunks that are the next stream bytes: the body of a piece the walk did not read. */
  | { kind: "reused"; chunks: ReusedChunk[] }
  /** A piece starts: the chunks up to its end are exactly its body. */
  | { kind: "piece-start"; fingerprint: string }
  | { kind: "piece-end" };

type Queued = { kind: "chunk"; bytes: Buffer; id: Promise<string> } | Exclude<TreeEvent, TreeChunk>;

export interface ChunkedTree {
  /**
   * The chunks (and reused chunks and piece marks) in stream order. It ends only once the whole tree was walked; any failure (the
   * walk, a limit, the deadline, the signal) is thrown from it. Leaving it early stops the walk.
   */
  chunks: AsyncGenerator<TreeEvent, void, undefined>;
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
  const queue: Queued[] = [];
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
      queue.push(queued(data as ChunkMessage));
      wakeUp();
    },
  });
  const tarJob: TarJob = {
    root: dir,
    fifo: fifo.path,
    idShift: options.idShift,
    limits: options.limits,
    framed: true,
    pieces: options.pieces,
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

  async function* chunks(): AsyncGenerator<TreeEvent, void, undefined> {
    if (options.signal?.aborted) onAbort();
    else options.signal?.addEventListener("abort", onAbort, { once: true });
    try {
      for (;;) {
        if (failure !== undefined) throw failure;
        const next = queue.shift();
        if (next && next.kind !== "chunk") {
          yield next;
          continue;
        }
        if (next) {
          yield { kind: "chunk", id: await next.id, bytes: next.bytes };
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

function queued(m: ChunkMessage): Queued {
  if ("reused" in m) return { kind: "reused", chunks: m.reused };
  if ("pieceStart" in m) return { kind: "piece-start", fingerprint: m.pieceStart };
  if ("pieceEnd" in m) return { kind: "piece-end" };
  // hashed on the thread pool right away, while the walk goes on and earlier chunks are stored
  const id = chunkId(m.bytes);
  id.catch(() => {});
  return { kind: "chunk", id, bytes: Buffer.from(m.bytes) };
}
