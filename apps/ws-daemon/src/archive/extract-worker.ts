/**
 * Worker thread entry (started through worker-pool.ts by the zstd pipeline of extract-archive.ts):
 * reads the decompressed tar stream from a FIFO that zstd writes and extracts it with
 * SafeExtractor. Runs fully synchronously like `tar -x`: blocking reads, no promise per entry, and
 * the daemon's event loop never sees the data.
 */
import { closeSync, constants, openSync, readSync } from "node:fs";
import { type SafeExtractOptions, SafeExtractor } from "./safe-extractor.js";
import { TarParser } from "./tar-parser.js";
import { serveWorkerJobs } from "./worker-job.js";

export interface ExtractJob {
  fifo: string;
  /** The real path of the (empty) restore target. */
  root: string;
  options: SafeExtractOptions;
}

/** `tarBytes`: bytes of the decompressed tar stream read so far. */
export type ExtractProgress = { entries: number; tarBytes: number };
export type ExtractJobResult = { entries: number; contentBytes: number; tarBytes: number };

const READ_BYTES = 1024 * 1024;

serveWorkerJobs<ExtractJob, ExtractProgress, ExtractJobResult>((job, report) => {
  const extractor = new SafeExtractor(job.root, job.options);
  const parser = new TarParser(extractor);
  const fd = openSync(job.fifo, constants.O_RDONLY);
  report.opened();
  let tarBytes = 0;
  try {
    const buf = Buffer.allocUnsafe(READ_BYTES);
    for (;;) {
      const n = readSync(fd, buf, 0, buf.length, null);
      if (n === 0) break;
      tarBytes += n;
      // after the end-of-archive marker the rest is read and dropped, so zstd can finish cleanly
      if (!parser.ended) parser.push(buf.subarray(0, n));
      report.progress({ entries: extractor.entries, tarBytes });
    }
    parser.end();
    extractor.finish();
  } finally {
    extractor.abort();
    closeSync(fd);
  }
  return { entries: extractor.entries, contentBytes: extractor.contentBytes, tarBytes };
});
