/**
 * Worker thread entry (started through worker-pool.ts by create-chunks.ts): reads the framed
 * stream (src/chunks/chunk-stream-frames.ts) the tar worker writes into a FIFO, whose data is the
 * very tar stream the full format compresses, and cuts it into
 * content-defined chunks, synchronously on this thread; the walk runs on the tar worker's thread
 * meanwhile, as `tar | chunker` would (the daemon hashes the chunks on the thread pool). Chunks go to the daemon by transfer;
 * the worker blocks while too many bytes wait there (the credit), so memory stays bounded and the
 * daemon's pace drives the walk, as a full pipe drives the tar worker.
 */
import { closeSync, constants, openSync, readSync } from "node:fs";
import { ChunkStreamDecoder, ContentDefinedChunker, type ReusedChunk } from "../chunks/index.js";
import { CREDIT_CANCELLED, CREDIT_IN_FLIGHT } from "./chunk-credit.js";
import { serveWorkerJobs } from "./worker-job.js";

export interface ChunkJob {
  /** The FIFO the tar worker writes the tree's framed tar stream into. */
  fifo: string;
  /** Int32 [bytes handed over and not yet released by the daemon, cancelled flag]. */
  credit: SharedArrayBuffer;
  maxBytesInFlight: number;
}

/**
 * What the daemon receives, in stream order: a chunk cut here, stored chunks standing for a
 * piece the walk did not read (no bytes), and where a piece starts and ends.
 */
export type ChunkMessage =
  | { bytes: ArrayBuffer }
  | { reused: ReusedChunk[] }
  | { pieceStart: string }
  | { pieceEnd: true };

const READ_BYTES = 1024 * 1024;

serveWorkerJobs<ChunkJob, never, { tarBytes: number }>((job, report) => {
  const credit = new Int32Array(job.credit);
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
  // blocks until the tar worker opened its end for writing
  const fd = openSync(job.fifo, constants.O_RDONLY);
  report.opened();
  let tarBytes = 0;
  const decoder = new ChunkStreamDecoder({
    data: (bytes) => {
      tarBytes += bytes.length;
      chunker.push(bytes);
    },
    cut: () => chunker.cut(),
    pieceStart: (fingerprint) => {
      chunker.cut();
      report.send({ pieceStart: fingerprint } satisfies ChunkMessage);
    },
    pieceEnd: () => {
      chunker.cut();
      report.send({ pieceEnd: true } satisfies ChunkMessage);
    },
    // the decoder lets a reuse record stand only as a whole piece, so nothing is pending here
    reuse: (chunks) => {
      for (const c of chunks) tarBytes += c.length;
      report.send({ reused: chunks } satisfies ChunkMessage);
    },
  });
  try {
    const buf = Buffer.allocUnsafe(READ_BYTES);
    for (;;) {
      const n = readSync(fd, buf, 0, buf.length, null);
      if (n === 0) break;
      decoder.push(buf.subarray(0, n));
    }
    decoder.end();
    chunker.end();
  } finally {
    closeSync(fd);
  }
  return { tarBytes };
});
