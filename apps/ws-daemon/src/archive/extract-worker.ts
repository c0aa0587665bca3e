/**
 * Worker thread entry (started through worker-pool.ts by extract-archive.ts): reads the
 * decompressed tar stream from a FIFO that zstd writes and extracts it with SafeExtractor. Runs
 * fully synchronously like `tar -x`: blocking reads, no promise per entry, and the daemon's event
 * loop never sees the data.
 */
import { closeSync, constants, openSync, readSync } from "node:fs";
import { parentPort } from "node:worker_threads";
import { type SafeExtractOptions, SafeExtractor } from "./safe-extractor.js";
import { TarParser } from "./tar-parser.js";
import { serializeError, type WorkerJobMessage } from "./worker-pool.js";

export interface ExtractJob {
  fifo: string;
  /** The real path of the (empty) restore target. */
  root: string;
  options: SafeExtractOptions;
}

export type ExtractProgress = { entries: number };
export type ExtractJobResult = { entries: number; contentBytes: number };
type Message = WorkerJobMessage<ExtractProgress, ExtractJobResult>;

const READ_BYTES = 1024 * 1024;
const PROGRESS_EVERY_MS = 200;

function run(data: ExtractJob & { job: number }, post: (m: Message) => void): void {
  const extractor = new SafeExtractor(data.root, data.options);
  const parser = new TarParser(extractor);
  const fd = openSync(data.fifo, constants.O_RDONLY);
  post({ job: data.job, type: "opened" });
  try {
    const buf = Buffer.allocUnsafe(READ_BYTES);
    let last = Date.now();
    for (;;) {
      const n = readSync(fd, buf, 0, buf.length, null);
      if (n === 0) break;
      // after the end-of-archive marker the rest is read and dropped, so zstd can finish cleanly
      if (!parser.ended) parser.push(buf.subarray(0, n));
      const now = Date.now();
      if (now - last >= PROGRESS_EVERY_MS) {
        last = now;
        post({ job: data.job, type: "progress", progress: { entries: extractor.entries } });
      }
    }
    parser.end();
    extractor.finish();
  } finally {
    extractor.abort();
    closeSync(fd);
  }
  post({
    job: data.job,
    type: "done",
    result: { entries: extractor.entries, contentBytes: extractor.contentBytes },
  });
}

const port = parentPort!;
port.on("message", (job: ExtractJob & { job: number }) => {
  const post = (m: Message) => port.postMessage(m);
  try {
    run(job, post);
  } catch (err) {
    post({ job: job.job, type: "error", error: serializeError(err) });
  }
});
