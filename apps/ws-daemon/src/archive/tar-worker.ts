/**
 * Worker thread entry (see tar-worker-client.ts): writes the tar stream of a directory into a
 * FIFO that zstd reads. Runs fully synchronously, so it never competes with the daemon's event loop
 * and a blocking write to the FIFO is the natural backpressure.
 */
import { closeSync, constants, openSync, writeSync } from "node:fs";
import { parentPort } from "node:worker_threads";
import { type TarWriteSummary, tarDirectorySync } from "./tar-writer.js";

export interface TarWorkerData {
  root: string;
  fifo: string;
  idShift?: number;
}

/** One job per message; a worker runs jobs one after the other and is reused (see the client). */
export interface TarWorkerJob extends TarWorkerData {
  job: number;
}

export type TarWorkerMessage = { job: number } & (
  | { type: "opened" }
  | { type: "progress"; entries: number; bytes: number }
  | { type: "done"; summary: TarWriteSummary }
  | { type: "error"; error: SerializedError }
);

export interface SerializedError {
  message: string;
  name?: string;
  code?: string;
  syscall?: string;
  path?: string;
  errno?: number;
}

const PROGRESS_EVERY_MS = 200;

function run(data: TarWorkerJob, post: (m: TarWorkerMessage) => void): void {
  const summary: TarWriteSummary = { entries: 0, bytes: 0, warnings: [] };
  // blocks until zstd opened its end for reading
  const fd = openSync(data.fifo, constants.O_WRONLY);
  post({ job: data.job, type: "opened" });
  try {
    let last = Date.now();
    for (const batch of tarDirectorySync(data.root, { idShift: data.idShift }, summary, true)) {
      let off = 0;
      while (off < batch.length) off += writeSync(fd, batch, off, batch.length - off);
      const now = Date.now();
      if (now - last >= PROGRESS_EVERY_MS) {
        last = now;
        post({ job: data.job, type: "progress", entries: summary.entries, bytes: summary.bytes });
      }
    }
  } finally {
    closeSync(fd);
  }
  post({ job: data.job, type: "done", summary });
}

const port = parentPort!;
port.on("message", (job: TarWorkerJob) => {
  const post = (m: TarWorkerMessage) => port.postMessage(m);
  try {
    run(job, post);
  } catch (err) {
    const e = err as NodeJS.ErrnoException;
    post({
      job: job.job,
      type: "error",
      error: {
        message: e?.message ?? String(err),
        name: e?.name,
        code: e?.code,
        syscall: e?.syscall,
        path: e?.path,
        errno: e?.errno,
      },
    });
  }
});
