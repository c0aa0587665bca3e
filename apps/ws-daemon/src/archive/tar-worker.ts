/**
 * Worker thread entry (started through worker-pool.ts by the zstd pipeline of create-archive.ts):
 * writes the tar stream of a directory into a FIFO that zstd reads. Runs fully synchronously, so
 * it never competes with the daemon's event loop and a blocking write to the FIFO is the natural
 * backpressure.
 */
import { closeSync, constants, openSync, writeSync } from "node:fs";
import {
  cutFrame,
  dataFrameHeader,
  pieceEndFrame,
  pieceStartFrame,
  reuseFrame,
} from "../chunks/index.js";
import type { SomeArchiveLimits } from "./archive-limits.js";
import type { PieceMark, PieceOptions } from "./file-pieces.js";
import { emptySummary, type TarWriteSummary, tarDirectorySync } from "./tar-writer.js";
import { serveWorkerJobs } from "./worker-job.js";

export interface TarJob {
  root: string;
  fifo: string;
  idShift?: number | undefined;
  limits?: SomeArchiveLimits | undefined;
  /** Write the framed chunk stream (src/chunks/chunk-stream-frames.ts) instead of a bare tar stream. */
  framed?: boolean | undefined;
  /** Framed only: mark large file bodies as pieces, and skip reading the reusable ones. */
  pieces?: PieceOptions | undefined;
}

function markFrame(m: PieceMark): Buffer {
  switch (m.kind) {
    case "cut":
      return cutFrame();
    case "start":
      return pieceStartFrame(m.fingerprint);
    case "reuse":
      return reuseFrame(m.chunks);
    case "end":
      return pieceEndFrame();
  }
}

function writeAll(fd: number, bytes: Buffer): void {
  let off = 0;
  while (off < bytes.length) off += writeSync(fd, bytes, off, bytes.length - off);
}

export type TarProgress = { entries: number; bytes: number; plannedBytes: number };

serveWorkerJobs<TarJob, TarProgress, TarWriteSummary>((job, report) => {
  const summary = emptySummary();
  // blocks until zstd opened its end for reading
  const fd = openSync(job.fifo, constants.O_WRONLY);
  report.opened();
  try {
    const pieces =
      job.framed && job.pieces
        ? { ...job.pieces, mark: (m: PieceMark) => writeAll(fd, markFrame(m)) }
        : undefined;
    const options = { idShift: job.idShift ?? 0, limits: job.limits, pieces };
    for (const batch of tarDirectorySync(job.root, options, summary, true)) {
      if (job.framed) writeAll(fd, dataFrameHeader(batch.length));
      writeAll(fd, batch);
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
