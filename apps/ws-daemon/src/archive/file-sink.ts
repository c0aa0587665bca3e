import { closeSync, fchmodSync, fchownSync, ftruncateSync, futimesSync, writeSync } from "node:fs";
import type { Segment } from "./sparse-map.js";
import type { EntryBodySink } from "./tar-parser.js";

/** What a restored file gets once its content is in. */
export interface FileMeta {
  mode: number;
  uid: number;
  gid: number;
  /** Seconds since the epoch. */
  mtime: number;
  /** Whether to apply uid/gid (only root can). */
  chown: boolean;
}

/**
 * The sink a restored file's content goes to, through the descriptor `fd` of the new, empty file.
 * A sparse file's data is written at its segments' offsets and the file then truncated to its
 * real size, so its holes come back as holes. `finish` is called once the content is in and gives
 * the metadata to apply; the sink then closes `fd`.
 */
export function fileSink(
  fd: number,
  sparse: { realSize: number; segments: readonly Segment[] } | undefined,
  finish: () => FileMeta,
): EntryBodySink {
  const end = () => {
    if (sparse) ftruncateSync(fd, sparse.realSize);
    const meta = finish();
    // chown first: it clears set-id bits that the mode may then set
    if (meta.chown) fchownSync(fd, meta.uid, meta.gid);
    fchmodSync(fd, meta.mode);
    futimesSync(fd, meta.mtime, meta.mtime);
    closeSync(fd);
  };
  if (!sparse) {
    return {
      write: (c) => {
        let off = 0;
        while (off < c.length) off += writeSync(fd, c, off, c.length - off);
      },
      end,
    };
  }
  // the parser checked that the segments are in order, inside the real size, and hold exactly
  // the data bytes that follow
  const segments = sparse.segments.filter((s) => s.size > 0);
  let index = 0;
  let within = 0;
  return {
    write: (c) => {
      let off = 0;
      while (off < c.length) {
        const segment = segments[index];
        if (segment === undefined) throw new Error("sparse file data runs past its map");
        const n = writeSync(
          fd,
          c,
          off,
          Math.min(c.length - off, segment.size - within),
          segment.offset + within,
        );
        off += n;
        within += n;
        if (within === segment.size) {
          index++;
          within = 0;
        }
      }
    },
    end,
  };
}
