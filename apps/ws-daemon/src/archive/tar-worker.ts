/**
 * Worker thread entry (started through worker-pool.ts by the zstd pipeline of create-archive.ts):
 * writes the tar stream of a directory into a FIFO that zstd reads. Runs fully synchronously, so
 * it never competes with the daemon's event loop and a blocking write to the FIFO is the natural
 * backpressure.
 */
import { closeSync, constants, openSync, writeSync } from "node:fs";
import type { SomeArchiveLimits } from "./archive-limits.js";
import { emptySummary, type TarWriteSummary, tarDirectorySync } from "./tar-writer.js";
import { serveWorkerJobs } from "./worker-job.js";

export interface TarJob {
  root: string;
  fifo: string;
  idShift?: number | undefined;
  limits?: SomeArchiveLimits | undefined;
}

export type TarProgress = { entries: number; bytes: number; plannedBytes: number };

serveWorkerJobs<TarJob, TarProgress, TarWriteSummary>((job, report) => {
  const summary = emptySummary();
  // blocks until zstd opened its end for reading
  const fd = openSync(job.fifo, constants.O_WRONLY);
  report.opened();
  try {
    const options = { idShift: job.idShift ?? 0, limits: job.limits };
    for (const batch of tarDirectorySync(job.root, options, summary, true)) {
      let off = 0;
      while (off < batch.length) off += writeSync(fd, batch, off, batch.length - off);
      report.progress({
        entries: summary.entries,
        bytes: summary.bytes,
        plannedBytes: summary.plannedBytes,
      });
    }
  } finally {
    closeSync(fd);
  }
  return summary;
});
