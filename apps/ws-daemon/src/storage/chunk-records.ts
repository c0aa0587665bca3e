import type { ChunkIndex } from "../chunks/index.js";
import { raceAbort } from "../platform/index.js";
import { type FrameRead, planFrameReads } from "./frame-plan.js";
import { frameSource } from "./frame-source.js";
import type { ObjectStore } from "./object-store.js";
import { PackCache, type PackCacheOptions } from "./pack-cache.js";

/**
 * One chunk of the tar stream, not yet verified: its own zstd frame, its raw bytes, or where its
 * frame lies in a pack file the unchunk helper holds open (`fd`: the helper's descriptor).
 */
export type ChunkRecord =
  | {
      /** Position in the index's chunks. */
      chunk: number;
      kind: "frame" | "raw";
      payload: Buffer;
    }
  | { chunk: number; kind: "file"; fd: number; offset: number; length: number };

export interface ChunkRecordOptions extends PackCacheOptions {
  /** Ranged reads of framed packs in flight (started and not yet used up). */
  readsInFlight?: number | undefined;
  /** Largest ranged read that adjacent frames are joined into. */
  maxReadBytes?: number | undefined;
  /** Stored bytes between two frames that are read and dropped instead of a new request. */
  maxGapBytes?: number | undefined;
  /** Told of the bytes of ranged reads held (in flight or not yet used up) whenever they grow. */
  onBufferedBytes?: ((bytes: number) => void) | undefined;
  /**
   * Framed packs whose files the unchunk helper holds open, by position in the index's packs:
   * the helper's descriptor. Their chunks become "file" records and are not read here.
   */
  packFiles?: ReadonlyMap<number, number> | undefined;
}

const DEFAULT_READS_IN_FLIGHT = 6;
const DEFAULT_MAX_READ_BYTES = 8 * 1024 * 1024;
const DEFAULT_MAX_GAP_BYTES = 256 * 1024;

/**
 * The chunks of an index in stream order, as the native unchunk helper verifies them: chunks of
 * framed packs in `packFiles` as where their frames lie (the helper reads them); of other framed
 * packs as their frames, fetched by ranged reads (adjacent frames joined, several reads in
 * flight in stream order, so memory holds at most readsInFlight reads); chunks of unframed packs
 * as raw bytes of whole packs (PackCache). Nothing here is verified: the consumer checks every
 * chunk's length and sha256 before using it.
 */
export async function* readChunkRecords(
  objects: ObjectStore,
  index: ChunkIndex,
  options: ChunkRecordOptions = {},
): AsyncGenerator<ChunkRecord, void, undefined> {
  const inFlight = Math.max(1, options.readsInFlight ?? DEFAULT_READS_IN_FLIGHT);
  const reads = planFrameReads(index, {
    maxReadBytes: options.maxReadBytes ?? DEFAULT_MAX_READ_BYTES,
    maxGapBytes: options.maxGapBytes ?? DEFAULT_MAX_GAP_BYTES,
    skipPacks: new Set(options.packFiles?.keys()),
  });
  const unframed: number[] = [];
  index.chunks.forEach((c, i) => {
    if (!c.frame) unframed.push(i);
  });
  const packs = new PackCache(objects, index, unframed, options);
  const source = frameSource(objects, index, reads);

  /** Reads started so far, by position in `reads`; those before nextRead are used up. */
  const started: Promise<Buffer>[] = [];
  let nextRead = 0;
  let nextUnframed = 0;
  let buffered = 0;
  const fill = () => {
    while (started.length < reads.length && started.length < nextRead + inFlight) {
      const read = reads[started.length] as FrameRead;
      buffered += read.length;
      options.onBufferedBytes?.(buffered);
      const promise = source.fetch(read, options.signal).then((bytes) => {
        options.onPackLoaded?.(bytes.length);
        return bytes;
      });
      promise.catch(() => {});
      started.push(promise);
    }
  };
  try {
    yield* recordsInOrder();
  } finally {
    await source.close();
  }

  async function* recordsInOrder(): AsyncGenerator<ChunkRecord, void, undefined> {
    for (let i = 0; i < index.chunks.length; i++) {
      options.signal?.throwIfAborted();
      const c = index.chunks[i] as ChunkIndex["chunks"][number];
      if (!c.frame) {
        packs.prefetch(nextUnframed);
        fill();
        // a store that stops answering must not outlive the restore's deadline or cancellation
        const payload = await raceAbort(packs.bytesOf(i), options.signal, "chunked restore");
        yield { chunk: i, kind: "raw", payload };
        packs.used(i);
        nextUnframed++;
        continue;
      }
      const fd = options.packFiles?.get(c.pack);
      if (fd !== undefined) {
        // reads of packs past the helper's files start early all the same
        fill();
        options.onPackLoaded?.(c.frame.length);
        yield { chunk: i, kind: "file", fd, offset: c.frame.offset, length: c.frame.length };
        continue;
      }
      fill();
      const read = reads[nextRead];
      if (read?.chunks[0]?.chunk !== i) throw new Error(`frame plan out of step at chunk ${i}`);
      const bytes = await raceAbort(
        started[nextRead] as Promise<Buffer>,
        options.signal,
        "chunked restore",
      );
      for (const part of read.chunks) {
        yield {
          chunk: part.chunk,
          kind: "frame",
          payload: bytes.subarray(part.at, part.at + part.length),
        };
        i = part.chunk;
      }
      // the read is used up: its buffer goes, and the next one may start
      started[nextRead] = DONE;
      buffered -= read.length;
      nextRead++;
    }
  }
}

/** Stands in for a used-up read, so its buffer can be collected. */
const DONE: Promise<Buffer> = Promise.resolve(Buffer.alloc(0));
