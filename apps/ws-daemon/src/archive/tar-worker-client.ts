import { execFileSync } from "node:child_process";
import { closeSync, constants, mkdtempSync, openSync, rmSync } from "node:fs";
import { createRequire } from "node:module";
import { tmpdir } from "node:os";
import path from "node:path";
import { pathToFileURL } from "node:url";
import { Worker } from "node:worker_threads";
import type {
  SerializedError,
  TarWorkerData,
  TarWorkerJob,
  TarWorkerMessage,
} from "./tar-worker.js";
import type { TarWriteSummary } from "./tar-writer.js";

/**
 * A FIFO in a private temporary directory: zstd reads the tar stream from it, the tar worker
 * writes into it. A real pipe between the two, instead of Node relaying every byte through a
 * socket on the main thread, is what lets writing the tar and compressing it overlap like
 * `tar | zstd` (Node cannot create anonymous pipes, hence the named one).
 */
export class ArchiveFifo {
  readonly path: string;
  private readonly dir: string;

  constructor() {
    this.dir = mkdtempSync(path.join(tmpdir(), "wsd-tar-"));
    this.path = path.join(this.dir, "tar");
    execFileSync("mkfifo", ["-m", "600", this.path], { stdio: "ignore" });
  }

  /**
   * Removes the FIFO and releases a writer blocked in open() because its reader never came (e.g.
   * zstd failed to start): a momentary reader lets that open complete, and the writer's next write
   * fails with EPIPE. The reader is opened before the name goes, so a writer arriving at any moment
   * either gets released or finds no FIFO at all.
   */
  remove(): void {
    let reader: number | undefined;
    try {
      reader = openSync(this.path, constants.O_RDONLY | constants.O_NONBLOCK);
    } catch {
      // already gone
    }
    // idempotent: called once both ends are open and again when the archive settles
    rmSync(this.dir, { recursive: true, force: true });
    if (reader !== undefined) closeSync(reader);
  }
}

export interface TarWorkerHandle {
  /** Resolves with the summary once the whole tar stream was written into the FIFO. */
  done: Promise<TarWriteSummary>;
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

export function newJobId(): number {
  return nextJob++;
}

export function acquireWorker(name: string): Worker {
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
export function releaseWorker(name: string, worker: Worker): void {
  const idle = idleWorkers.get(name) ?? [];
  idleWorkers.set(name, idle);
  if (idle.length < MAX_IDLE) idle.push(worker);
  else void worker.terminate();
}

/** Starts a tar worker job writing `data.root` into `data.fifo`. */
export function startTarWorker(
  data: TarWorkerData,
  onProgress?: (p: { entries: number; bytes: number }) => void,
  onOpened?: () => void,
): TarWorkerHandle {
  const worker = acquireWorker("tar-worker");
  const job = newJobId();
  let settled = false;
  let cleanup = () => {};
  const done = new Promise<TarWriteSummary>((resolve, reject) => {
    const onMessage = (m: TarWorkerMessage) => {
      if (m.job !== job) return;
      if (m.type === "opened") {
        onOpened?.();
        return;
      }
      if (m.type === "progress") {
        onProgress?.(m);
        return;
      }
      settled = true;
      cleanup();
      releaseWorker("tar-worker", worker);
      if (m.type === "done") resolve(m.summary);
      else reject(deserializeError(m.error));
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
      reject(new Error(`tar worker exited with code ${code} before finishing`));
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
  worker.postMessage({ ...data, job } satisfies TarWorkerJob);
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
export function workerEntry(name: string): { url: URL | string; eval?: boolean } {
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

export function deserializeError(s: SerializedError): Error {
  const err = new Error(s.message) as NodeJS.ErrnoException;
  if (s.name && s.name !== "Error") err.name = s.name;
  if (s.code !== undefined) err.code = s.code;
  if (s.syscall !== undefined) err.syscall = s.syscall;
  if (s.path !== undefined) err.path = s.path;
  if (s.errno !== undefined) err.errno = s.errno;
  return err;
}
