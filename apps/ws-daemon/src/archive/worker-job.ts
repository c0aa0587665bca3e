import { parentPort } from "node:worker_threads";

/**
 * The protocol between the daemon and an archive worker thread (tar-worker.ts, extract-worker.ts):
 * a job goes in, "opened" / "progress" messages come back while it runs, then "done" or "error".
 * Both sides import it; the worker side needs nothing else from the pool.
 */
export type WorkerJobMessage<TProgress, TResult> = { job: number } & (
  | { type: "opened" }
  | { type: "progress"; progress: TProgress }
  | { type: "data"; data: unknown }
  | { type: "done"; result: TResult }
  | { type: "error"; error: SerializedError }
);

/** What survives postMessage of an error (its class does not). */
export interface SerializedError {
  message: string;
  name?: string | undefined;
  code?: string | undefined;
  syscall?: string | undefined;
  path?: string | undefined;
  errno?: number | undefined;
  /** HostileArchiveError's entry name. */
  entry?: string | undefined;
}

/** How a running job talks back to the daemon. */
export interface JobReporter<TProgress> {
  /** The job opened its end of the FIFO: the daemon may let go of its own hold on it. */
  opened(): void;
  /** Progress, passed on at most every PROGRESS_EVERY_MS (dropped in between). */
  progress(p: TProgress): void;
  /** Hands a piece of the job's output to the daemon now (unthrottled; `transfer` moves buffers). */
  send(data: unknown, transfer?: readonly ArrayBuffer[]): void;
}

const PROGRESS_EVERY_MS = 200;

/**
 * Worker side: runs every job posted to this thread through `run`, synchronously, and posts its
 * result or its error. A worker runs one job at a time (the pool hands it out only when idle).
 */
export function serveWorkerJobs<TJob, TProgress, TResult>(
  run: (job: TJob, report: JobReporter<TProgress>) => TResult,
): void {
  const port = parentPort;
  if (!port) throw new Error("an archive worker entry must be started as a worker thread");
  port.on("message", (data: TJob & { job: number }) => {
    const job = data.job;
    const post = (m: WorkerJobMessage<TProgress, TResult>) => port.postMessage(m);
    let lastProgress = Date.now();
    const report: JobReporter<TProgress> = {
      opened: () => post({ job, type: "opened" }),
      progress: (progress) => {
        const now = Date.now();
        if (now - lastProgress < PROGRESS_EVERY_MS) return;
        lastProgress = now;
        post({ job, type: "progress", progress });
      },
      send: (data, transfer) =>
        port.postMessage(
          { job, type: "data", data } satisfies WorkerJobMessage<TProgress, TResult>,
          [...(transfer ?? [])],
        ),
    };
    try {
      post({ job, type: "done", result: run(data, report) });
    } catch (err) {
      post({ job, type: "error", error: serializeError(err) });
    }
  });
}

export function serializeError(err: unknown): SerializedError {
  const e = err as (NodeJS.ErrnoException & { entry?: unknown }) | null | undefined;
  return {
    message: e?.message ?? String(err),
    name: e?.name,
    code: e?.code,
    syscall: e?.syscall,
    path: e?.path,
    errno: e?.errno,
    entry: typeof e?.entry === "string" ? e.entry : undefined,
  };
}

/** A plain Error carrying what was serialized (the errno fields included). */
export function deserializeError(s: SerializedError): Error {
  const err = new Error(s.message) as NodeJS.ErrnoException;
  if (s.name && s.name !== "Error") err.name = s.name;
  if (s.code !== undefined) err.code = s.code;
  if (s.syscall !== undefined) err.syscall = s.syscall;
  if (s.path !== undefined) err.path = s.path;
  if (s.errno !== undefined) err.errno = s.errno;
  return err;
}
