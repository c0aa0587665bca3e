/**
 * Worker thread entry (started through worker-pool.ts by create-chunks.ts): walks a
 * directory into the same tar stream the full format compresses and cuts it into content-defined
 * chunks, synchronously on this thread (the daemon hashes them on the thread pool). Chunks go to the daemon by transfer;
 * the worker blocks while too many bytes wait there (the credit), so memory stays bounded and the
 * daemon's pace drives the walk, as a full pipe drives the tar worker.
 */
import { ContentDefinedChunker } from "../chunks/index.js";
import type { SomeArchiveLimits } from "./archive-limits.js";
import { CREDIT_CANCELLED, CREDIT_IN_FLIGHT } from "./chunk-credit.js";
import { emptySummary, type TarWriteSummary, tarDirectorySync } from "./tar-writer.js";
import { serveWorkerJobs } from "./worker-job.js";

export interface ChunkJob {
  root: string;
  idShift?: number | undefined;
  limits?: SomeArchiveLimits | undefined;
  /** Int32 [bytes handed over and not yet released by the daemon, cancelled flag]. */
  credit: SharedArrayBuffer;
  maxBytesInFlight: number;
}

export type ChunkProgress = { entries: number; bytes: number; plannedBytes: number };

/** One chunk as the daemon receives it. */
export interface ChunkMessage {
  bytes: ArrayBuffer;
}

serveWorkerJobs<ChunkJob, ChunkProgress, TarWriteSummary>((job, report) => {
  const summary = emptySummary();
  const credit = new Int32Array(job.credit);
  report.opened();
  const waitForCredit = () => {
    for (;;) {
      if (Atomics.load(credit, CREDIT_CANCELLED) !== 0) throw new Error("chunking cancelled");
      const inFlight = Atomics.load(credit, CREDIT_IN_FLIGHT);
      if (inFlight < job.maxBytesInFlight) return;
      Atomics.wait(credit, CREDIT_IN_FLIGHT, inFlight, 1000);
    }
  };
  const chunker = new ContentDefinedChunker((chunk) => {
    waitForCredit();
    Atomics.add(credit, CREDIT_IN_FLIGHT, chunk.length);
    const bytes = chunk.buffer as ArrayBuffer;
    report.send({ bytes } satisfies ChunkMessage, [bytes]);
  });
  const options = { idShift: job.idShift ?? 0, limits: job.limits };
  for (const batch of tarDirectorySync(job.root, options, summary, true)) {
    chunker.push(batch);
    report.progress({
      entries: summary.entries,
      bytes: summary.bytes,
      plannedBytes: summary.plannedBytes,
    });
  }
  chunker.end();
  return summary;
});
