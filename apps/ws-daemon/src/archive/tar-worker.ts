/**
 * Worker thread entry (started through worker-pool.ts by create-archive.ts): writes the tar stream of a directory into a FIFO that zstd reads. Runs fully
 * synchronously, so it never competes with the daemon's event loop and a blocking write to the
 * FIFO is the natural backpressure.
 */
import { closeSync, constants, openSync, writeSync } from "node:fs";
import { parentPort } from "node:worker_threads";
import { type TarWriteSummary, tarDirectorySync } from "./tar-writer.js";
import { serializeError, type WorkerJobMessage } from "./worker-pool.js";

export interface TarJob {
  root: string;
  fifo: string;
  idShift?: number;
}

export type TarProgress = { entries: number; bytes: number };
type Message = WorkerJobMessage<TarProgress, TarWriteSummary>;

const PROGRESS_EVERY_MS = 200;

function run(data: TarJob & { job: number }, post: (m: Message) => void): void {
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
        post({
          job: data.job,
          type: "progress",
          progress: { entries: summary.entries, bytes: summary.bytes },
        });
      }
    }
  } finally {
    closeSync(fd);
  }
  post({ job: data.job, type: "done", result: summary });
}

const port = parentPort!;
port.on("message", (job: TarJob & { job: number }) => {
  const post = (m: Message) => port.postMessage(m);
  try {
    run(job, post);
  } catch (err) {
    post({ job: job.job, type: "error", error: serializeError(err) });
  }
});
