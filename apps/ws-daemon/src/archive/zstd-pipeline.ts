import { closeSync } from "node:fs";
import type { Readable, Writable } from "node:stream";
import { ArchiveFifo } from "./archive-fifo.js";
import type { SerializedError } from "./worker-job.js";
import { startWorkerJob, type WorkerJobHandle } from "./worker-pool.js";
import { ZstdProcess } from "./zstd-process.js";

/** The archive worker thread at the other end of the FIFO. */
export interface PipelineWorker<TProgress> {
  /** Its entry module (see worker-pool.ts): "tar-worker" or "extract-worker". */
  entry: string;
  /** The job to post, given the path of the FIFO the worker must open. */
  job: (fifo: string) => object;
  onProgress?: ((p: TProgress) => void) | undefined;
  /** Rebuilds the worker's errors (their classes do not cross the thread boundary). */
  reviveError?: ((e: SerializedError) => Error) | undefined;
}

/** How each side of a pipeline ended: undefined for success, else its error. */
export interface PipelineOutcome {
  worker: Error | undefined;
  zstd: Error | undefined;
}

/**
 * An archive worker thread and a zstd process joined by a FIFO: `tar | zstd` on backup (the
 * worker writes, zstd reads) and `zstd -d | tar -x` on restore (zstd writes, the worker reads).
 * The other end of zstd is a pipe of this process or a file descriptor zstd uses itself. The
 * pipeline owns the FIFO: its name goes once both ends are open, or when the pipeline is stopped
 * (only after the worker let go of it, so a worker still on its way into open() cannot hang).
 */
export class ZstdPipeline<TResult> {
  /** The worker's result once it finished and zstd exited cleanly; else the first failure. */
  readonly done: Promise<TResult>;

  private constructor(
    private readonly zstd: ZstdProcess,
    private readonly worker: WorkerJobHandle<TResult>,
    private readonly fifo: FifoHold,
  ) {
    this.done = Promise.all([worker.done, zstd.exited]).then(([result]) => {
      fifo.release();
      return result;
    });
    this.done.catch(() => {});
  }

  /** Tar worker -> FIFO -> zstd -> `output` (a pipe read through `stdout`, or a descriptor). */
  static compress<TProgress, TResult>(
    worker: PipelineWorker<TProgress>,
    zstd: { level: number; output: "pipe" | number; zstdPath?: string | undefined },
  ): ZstdPipeline<TResult> {
    const fifo = new FifoHold(new ArchiveFifo(), undefined);
    return ZstdPipeline.start(fifo, worker, () =>
      ZstdProcess.compress(fifo.path, zstd.level, zstd.output, zstd.zstdPath),
    );
  }

  /** `input` (a pipe written through `stdin`, or a descriptor) -> zstd -> FIFO -> extract worker. */
  static decompress<TProgress, TResult>(
    worker: PipelineWorker<TProgress>,
    zstd: { input: "pipe" | number; zstdPath?: string | undefined },
  ): ZstdPipeline<TResult> {
    const raw = new ArchiveFifo();
    const fifo = new FifoHold(raw, raw.openWriteEnd());
    return ZstdPipeline.start(fifo, worker, () =>
      ZstdProcess.decompress(zstd.input, fifo.requireWriteEnd(), zstd.zstdPath),
    );
  }

  private static start<TProgress, TResult>(
    fifo: FifoHold,
    worker: PipelineWorker<TProgress>,
    spawnZstd: () => ZstdProcess,
  ): ZstdPipeline<TResult> {
    let zstd: ZstdProcess | undefined;
    try {
      zstd = spawnZstd();
      const job = startWorkerJob<TProgress, TResult>(worker.entry, worker.job(fifo.path), {
        // both ends are open (zstd holds its own copy of a write end): from here on nothing of
        // ours is needed, and a process killed now leaves nothing in the temporary directory
        onOpened: () => fifo.release(),
        ...(worker.onProgress ? { onProgress: worker.onProgress } : {}),
        ...(worker.reviveError ? { reviveError: worker.reviveError } : {}),
      });
      return new ZstdPipeline(zstd, job, fifo);
    } catch (err) {
      zstd?.kill();
      fifo.release();
      throw err;
    }
  }

  /** zstd's stdin, when its input is a pipe. */
  get stdin(): Writable {
    return this.zstd.inputPipe();
  }

  /** zstd's stdout, when its output is a pipe. */
  get stdout(): Readable {
    return this.zstd.outputPipe();
  }

  /** How both sides ended, once both did (to judge which failure is the cause). */
  async outcome(): Promise<PipelineOutcome> {
    const [worker, zstd] = await Promise.allSettled([this.worker.done, this.zstd.exited]);
    return {
      worker: worker.status === "rejected" ? (worker.reason as Error) : undefined,
      zstd: zstd.status === "rejected" ? (zstd.reason as Error) : undefined,
    };
  }

  /**
   * Kills zstd and lets go of the FIFO: the worker then ends by itself (end of its input, or EPIPE
   * on its writes) and its outcome can still be judged.
   */
  stop(): void {
    this.zstd.kill();
    this.fifo.releaseWhen(this.worker.done);
  }

  /** stop(), and terminates the worker as well, for a worker that need not end by itself. */
  terminate(): void {
    this.stop();
    this.worker.terminate();
  }
}

/** The FIFO and, on restore, our descriptors of it (see openWriteEnd); released idempotently. */
class FifoHold {
  private writeEnd: number | undefined;
  private keepAlive: number | undefined;

  constructor(
    private readonly fifo: ArchiveFifo,
    ends: { writeEnd: number; keepAlive: number } | undefined,
  ) {
    this.writeEnd = ends?.writeEnd;
    this.keepAlive = ends?.keepAlive;
  }

  get path(): string {
    return this.fifo.path;
  }

  requireWriteEnd(): number {
    if (this.writeEnd === undefined) throw new Error("the FIFO's write end was released");
    return this.writeEnd;
  }

  /** Closes our descriptors and removes the name (both ends are open, or nobody comes any more). */
  release(): void {
    this.closeOwnEnds();
    this.fifo.remove();
  }

  /** As release(), for when the worker may still be on its way into open(). */
  releaseWhen(workerSettled: Promise<unknown>): void {
    this.closeOwnEnds();
    void this.fifo.removeWhen(workerSettled);
  }

  private closeOwnEnds(): void {
    if (this.writeEnd !== undefined) closeSync(this.writeEnd);
    if (this.keepAlive !== undefined) closeSync(this.keepAlive);
    this.writeEnd = undefined;
    this.keepAlive = undefined;
  }
}
