import type { FileHandle } from "node:fs/promises";
import type { ChunkIndex } from "../chunks/index.js";
import { ContentCorruptError } from "../platform/index.js";
import type { FrameRead } from "./frame-plan.js";
import {
  getRange,
  ObjectNotFoundError,
  ObjectRangeError,
  type ObjectStore,
} from "./object-store.js";

/** Fetches the stored bytes of planned frame reads; `close` lets go of what it holds (idempotent). */
export interface FrameSource {
  fetch(read: FrameRead, signal: AbortSignal | undefined): Promise<Buffer>;
  close(): Promise<void>;
}

/**
 * Where the frames of a restore come from. On a store of local files each pack is opened once
 * (through the store, which checks that the file lies inside it) and every read is one positional
 * read into its buffer: a ranged get would move the same bytes through a stream of 64 KiB pieces,
 * which cost the restore more CPU on the thread pool and the event loop than decompressing them.
 * Elsewhere every read is one ranged get. A pack that is missing or shorter than its frames is
 * ContentCorruptError.
 */
export function frameSource(
  objects: ObjectStore,
  index: ChunkIndex,
  reads: readonly FrameRead[],
): FrameSource {
  const files = objects.files;
  if (!files) {
    return {
      fetch: (read, signal) =>
        storeErrors(index, read, () =>
          getRange(objects, keyOf(index, read), read.start, read.length, { signal }),
        ),
      close: async () => {},
    };
  }
  // reads left per pack: a pack's file closes after its last one
  const left = new Map<number, number>();
  for (const r of reads) left.set(r.pack, (left.get(r.pack) ?? 0) + 1);
  const open = new Map<number, Promise<FileHandle>>();
  let closed = false;
  const handleOf = (pack: number): Promise<FileHandle> => {
    let handle = open.get(pack);
    if (!handle) {
      handle = files.open(keyOf(index, { pack }));
      handle.catch(() => {});
      open.set(pack, handle);
    }
    return handle;
  };
  const release = (pack: number) => {
    const remaining = (left.get(pack) ?? 1) - 1;
    left.set(pack, remaining);
    const handle = open.get(pack);
    if (remaining > 0 || !handle) return;
    open.delete(pack);
    void handle.then((fh) => fh.close()).catch(() => {});
  };
  return {
    fetch: (read) =>
      storeErrors(index, read, async () => {
        if (closed) throw new Error("frame source closed");
        try {
          return await readFully(await handleOf(read.pack), keyOf(index, read), read);
        } finally {
          release(read.pack);
        }
      }),
    close: async () => {
      closed = true;
      const handles = [...open.values()];
      open.clear();
      // a close waits for reads still running on the handle
      await Promise.allSettled(handles.map((h) => h.then((fh) => fh.close())));
    },
  };
}

async function readFully(fh: FileHandle, key: string, read: FrameRead): Promise<Buffer> {
  const out = Buffer.allocUnsafe(read.length);
  let filled = 0;
  while (filled < read.length) {
    const { bytesRead } = await fh.read(out, filled, read.length - filled, read.start + filled);
    if (bytesRead === 0) {
      throw new ObjectRangeError(
        key,
        `range ${read.start}+${read.length} answered with ${filled} bytes`,
      );
    }
    filled += bytesRead;
  }
  return out;
}

const keyOf = (index: ChunkIndex, read: Pick<FrameRead, "pack">): string =>
  index.packs[read.pack]?.key ?? `#${read.pack}`;

/** A pack that is missing or does not hold the frames its index names is a corrupt archive. */
async function storeErrors(
  index: ChunkIndex,
  read: FrameRead,
  fetch: () => Promise<Buffer>,
): Promise<Buffer> {
  const key = keyOf(index, read);
  try {
    return await fetch();
  } catch (err) {
    if (err instanceof ObjectNotFoundError) {
      throw new ContentCorruptError(`index names pack ${key}, which is missing`, { cause: err });
    }
    if (err instanceof ObjectRangeError) {
      throw new ContentCorruptError(
        `pack ${key} does not hold the frames its index names: ${err.message}`,
        { cause: err },
      );
    }
    throw err;
  }
}
