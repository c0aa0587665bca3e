import {
  closeSync,
  constants,
  lstatSync,
  openSync,
  readdirSync,
  readlinkSync,
  readSync,
  type Stats,
} from "node:fs";
import path from "node:path";
import {
  END_OF_ARCHIVE,
  encodeEntryHeader,
  paddingFor,
  type TarEntryHeader,
} from "./tar-header.js";

export interface TarWriteOptions {
  /** stored id = on-disk id - idShift; ids that would become negative are stored as the overflow id. */
  idShift?: number;
  signal?: AbortSignal;
}

export interface TarWriteSummary {
  /** Entries written (files, directories, links, including the root "./"). */
  entries: number;
  /** Uncompressed tar bytes produced. */
  bytes: number;
  /** Things that were not archived exactly (sockets, files that changed while read). */
  warnings: string[];
}

/** The kernel's overflow id: what ids without a mapping show up as. */
export const OVERFLOW_ID = 65534;

/** Size of the Buffers handed to the consumer; also the most the event loop is blocked at once. */
const BATCH_BYTES = 1024 * 1024;

// O_NOFOLLOW: a file swapped for a symlink after lstat must not make us archive the link's target
// (e.g. a file outside the workspace that only the daemon can read).
const READ_FLAGS = constants.O_RDONLY | constants.O_NOFOLLOW;

interface Item {
  rel: string;
  st: Stats;
}

/**
 * Produces an uncompressed tar stream of `root` (depth first, names sorted) as Buffers of about
 * 1 MiB. The consumer's pace drives reading (a generator only runs when pulled), so memory stays
 * bounded to one batch plus what the consumer buffers. With `reuseBatch` every yielded Buffer is
 * the same memory, overwritten once the generator resumes: for consumers that write it out before
 * pulling the next (the archive worker), which saves an allocation and its page faults per MiB.
 *
 * All file system calls are synchronous and read straight into the outgoing batch: measured on a
 * 22k-file tree, a promise/thread-pool round trip per open/read/close cost ~6x more CPU than the
 * reads themselves. The archive worker runs this on its own thread while zstd, in its own
 * process, compresses the previous batches: the overlap `tar | zstd` gets from two processes.
 * Sockets, fifos and devices are skipped with a warning: they carry no content and restore
 * refuses them anyway.
 */
export function* tarDirectorySync(
  root: string,
  options: TarWriteOptions = {},
  summary: TarWriteSummary = { entries: 0, bytes: 0, warnings: [] },
  reuseBatch = false,
): Generator<Buffer> {
  const idShift = options.idShift ?? 0;
  const mapId = (id: number): number => (id - idShift < 0 ? OVERFLOW_ID : id - idShift);
  const firstNameOfInode = new Map<string, string>();
  const absOf = (rel: string) => (rel === "" ? root : path.join(root, rel));

  let batch = Buffer.allocUnsafe(BATCH_BYTES);
  let used = 0;
  // Every helper yields a batch as soon as it is full, so memory stays at one batch even when a
  // huge file shrank and is padded with zeros.
  function* flush(): Generator<Buffer> {
    if (used === 0) return;
    const out = batch.subarray(0, used);
    summary.bytes += used;
    used = 0;
    yield out;
    if (!reuseBatch) batch = Buffer.allocUnsafe(BATCH_BYTES);
  }
  function* append(b: Buffer): Generator<Buffer> {
    let off = 0;
    while (off < b.length) {
      if (used === batch.length) yield* flush();
      const n = b.copy(batch, used, off);
      used += n;
      off += n;
    }
  }
  function* zeros(count: number): Generator<Buffer> {
    while (count > 0) {
      if (used === batch.length) yield* flush();
      const n = Math.min(count, batch.length - used);
      batch.fill(0, used, used + n);
      used += n;
      count -= n;
    }
  }
  const header = (item: Item, type: TarEntryHeader["type"], extra: Partial<TarEntryHeader> = {}) =>
    append(
      encodeEntryHeader({
        name: item.rel === "" ? "./" : type === "directory" ? `${item.rel}/` : item.rel,
        type,
        mode: item.st.mode,
        uid: mapId(item.st.uid),
        gid: mapId(item.st.gid),
        size: 0,
        mtimeMs: item.st.mtimeMs,
        ...extra,
      }),
    );

  /** Copies exactly st.size bytes of the file (zero padded if it shrank), reading into the batch. */
  function* fileContent(fd: number, item: Item): Generator<Buffer> {
    let remaining = item.st.size;
    while (remaining > 0) {
      if (used === batch.length) {
        yield* flush();
        if (options.signal?.aborted) throw options.signal.reason ?? new Error("aborted");
      }
      const want = Math.min(remaining, batch.length - used);
      const got = readSync(fd, batch, used, want, null);
      if (got === 0) {
        summary.warnings.push(`file shrank while archiving: ${item.rel}`);
        yield* zeros(remaining);
        break;
      }
      used += got;
      remaining -= got;
    }
    yield* zeros(paddingFor(item.st.size));
  }

  for (const item of walk(root, options.signal)) {
    if (options.signal?.aborted) throw options.signal.reason ?? new Error("aborted");
    const { st, rel } = item;
    if (st.isDirectory()) {
      yield* header(item, "directory");
    } else if (st.isSymbolicLink()) {
      yield* header(item, "symlink", { linkname: readlinkSync(absOf(rel)) });
    } else if (st.isFile()) {
      const inode = `${st.dev}:${st.ino}`;
      const first = st.nlink > 1 ? firstNameOfInode.get(inode) : undefined;
      if (first !== undefined) {
        yield* header(item, "hardlink", { linkname: first });
      } else {
        let fd: number;
        try {
          fd = openSync(absOf(rel), READ_FLAGS);
        } catch (err) {
          const code = (err as NodeJS.ErrnoException).code;
          if (code !== "ENOENT" && code !== "ELOOP") throw err;
          summary.warnings.push(`file vanished or was replaced while archiving: ${rel}`);
          continue;
        }
        try {
          if (st.nlink > 1) firstNameOfInode.set(inode, rel);
          yield* header(item, "file", { size: st.size });
          yield* fileContent(fd, item);
        } finally {
          closeSync(fd);
        }
      }
    } else {
      summary.warnings.push(`skipped ${describeType(st)} ${rel}`);
      continue;
    }
    summary.entries++;
  }
  yield* append(END_OF_ARCHIVE);
  yield* flush();
}

/**
 * Depth-first, sorted. Metadata calls are synchronous on purpose: awaiting one thread-pool round
 * trip per directory made the walk ~5x slower than the sync walk (measured: 433 vs 77 ms for 2k
 * directories), and each call blocks the event loop only for microseconds.
 */
function* walk(root: string, signal?: AbortSignal): Generator<Item> {
  const stack: Item[] = [{ rel: "", st: lstatSync(root) }];
  for (let item = stack.pop(); item !== undefined; item = stack.pop()) {
    if (signal?.aborted) throw signal.reason ?? new Error("aborted");
    yield item;
    if (!item.st.isDirectory()) continue;
    const dir = item.rel === "" ? root : path.join(root, item.rel);
    // pushed last to first, so the first name is on top and comes out next
    for (const name of readdirSync(dir).sort().reverse()) {
      const rel = item.rel === "" ? name : `${item.rel}/${name}`;
      stack.push({ rel, st: lstatSync(path.join(root, rel)) });
    }
  }
}

function describeType(st: Stats): string {
  if (st.isSocket()) return "socket";
  if (st.isFIFO()) return "fifo";
  if (st.isCharacterDevice()) return "character device";
  if (st.isBlockDevice()) return "block device";
  return "unknown file type";
}
