import { createRequire } from "node:module";
import { pathToFileURL } from "node:url";
import { Worker } from "node:worker_threads";
import { deserializeError, type SerializedError, type WorkerJobMessage } from "./worker-job.js";

export interface WorkerJobHandle<TResult> {
  /** Settles with the job's result, or with its error (rebuilt by `reviveError`). */
  done: Promise<TResult>;
  /** Stops the job: its worker is terminated (a running job cannot be interrupted otherwise). */
  terminate(): void;
}

/**
 * Idle workers kept for the next archive, per entry: starting one costs tens of milliseconds from
 * the bundle and about a second from the TypeScript sources (tsx compiles it), which would dominate
 * small backups. They are unref'ed, so they never keep the process alive.
 */
const idleWorkers = new Map<string, Worker[]>();
const MAX_IDLE = 4;
let nextJob = 1;

function acquireWorker(name: string): Worker {
  const idle = idleWorkers.get(name) ?? [];
  idleWorkers.set(name, idle);
  const reused = idle.pop();
  if (reused) return reused;
  const entry = workerEntry(name);
  const worker = new Worker(entry.url, { eval: entry.eval });
  worker.unref();
  // errors surface through the job listeners; this keeps an idle worker's crash from being fatal
  worker.on("error", () => {});
  worker.on("exit", () => {
    const i = idle.indexOf(worker);
    if (i >= 0) idle.splice(i, 1);
  });
  return worker;
}

/** Returns a worker whose job completed normally (never one that was terminated or failed hard). */
function releaseWorker(name: string, worker: Worker): void {
  const idle = idleWorkers.get(name) ?? [];
  idleWorkers.set(name, idle);
  if (idle.length < MAX_IDLE) idle.push(worker);
  else void worker.terminate();
}

/** Runs one job on a pooled worker of entry `name` (a module posting WorkerJobMessages). */
export function startWorkerJob<TProgress, TResult>(
  name: string,
  data: object,
  handlers: {
    onOpened?: () => void;
    onProgress?: (p: TProgress) => void;
    /** What the job hands over with JobReporter.send, in order. */
    onData?: (data: unknown) => void;
    reviveError?: (e: SerializedError) => Error;
  } = {},
): WorkerJobHandle<TResult> {
  const worker = acquireWorker(name);
  const job = nextJob++;
  let settled = false;
  let cleanup = () => {};
  const done = new Promise<TResult>((resolve, reject) => {
    const onMessage = (m: WorkerJobMessage<TProgress, TResult>) => {
      if (m.job !== job) return;
      if (m.type === "opened") {
        handlers.onOpened?.();
        return;
      }
      if (m.type === "progress") {
        handlers.onProgress?.(m.progress);
        return;
      }
      if (m.type === "data") {
        handlers.onData?.(m.data);
        return;
      }
      settled = true;
      cleanup();
      releaseWorker(name, worker);
      if (m.type === "done") resolve(m.result);
      else reject((handlers.reviveError ?? deserializeError)(m.error));
    };
    const onError = (err: Error) => {
      settled = true;
      cleanup();
      reject(err);
    };
    const onExit = (code: number) => {
      if (settled) return;
      settled = true;
      cleanup();
      reject(new Error(`${name} exited with code ${code} before finishing`));
    };
    cleanup = () => {
      worker.off("message", onMessage);
      worker.off("error", onError);
      worker.off("exit", onExit);
    };
    worker.on("message", onMessage);
    worker.on("error", onError);
    worker.on("exit", onExit);
  });
  done.catch(() => {});
  worker.postMessage({ ...data, job });
  return {
    done,
    terminate: () => {
      if (!settled) void worker.terminate();
    },
  };
}

/**
 * Where a worker entry lives: next to this module in the tsup bundle (a separate entry point,
 * dist/<name>.js). Running from the TypeScript sources (tsx, vitest) the entry is the .ts file,
 * which plain Node cannot load in a worker: a small bootstrap loads it through tsx's API instead.
 */
function workerEntry(name: string): { url: URL | string; eval?: boolean } {
  if (!import.meta.url.endsWith(".ts")) return { url: new URL(`./${name}.js`, import.meta.url) };
  const tsxApi = pathToFileURL(
    createRequire(import.meta.url)
      .resolve("tsx/esm/api")
      .replace(/\.cjs$/, ".mjs"),
  ).href;
  const entry = new URL(`./${name}.ts`, import.meta.url).href;
  return {
    url: `import(${JSON.stringify(tsxApi)}).then((api) => api.tsImport(${JSON.stringify(entry)}, ${JSON.stringify(entry)})).catch((err) => { process.nextTick(() => { throw err; }); });`,
    eval: true,
  };
}
