import { lstatSync, readdirSync, readlinkSync, type Stats } from "node:fs";
import { open } from "node:fs/promises";
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

/** Files up to this size are read whole, ahead of time and in parallel; larger ones are streamed. */
const SMALL_FILE_BYTES = 512 * 1024;
/** How many entries are stat'ed/read ahead of the one being written. */
const READ_AHEAD = 64;
const BATCH_BYTES = 1024 * 1024;
const CHUNK_BYTES = 1024 * 1024;

interface Item {
  rel: string;
  st: Stats;
  /** Content of a small file, being read. */
  data?: Promise<Buffer>;
  linkTarget?: string;
  /** For the 2nd+ name of a hard-linked inode: the first name. */
  hardlinkTo?: string;
}

/**
 * Produces an uncompressed tar stream of `root` (depth first, names sorted) as Buffers of about
 * 1 MiB. The consumer's pace drives reading (an async generator only runs when pulled), so memory
 * stays bounded (READ_AHEAD small files plus one batch). File contents are read asynchronously,
 * READ_AHEAD files in parallel on the thread pool: that keeps the event loop free to feed zstd
 * while the disk works, so reading and compressing overlap the way `tar | zstd` does. Sockets, fifos and devices are skipped with a warning: they carry no
 * content and restore refuses them anyway.
 */
export async function* tarDirectory(
  root: string,
  options: TarWriteOptions = {},
  summary: TarWriteSummary = { entries: 0, bytes: 0, warnings: [] },
): AsyncGenerator<Buffer> {
  const idShift = options.idShift ?? 0;
  const mapId = (id: number): number => (id - idShift < 0 ? OVERFLOW_ID : id - idShift);
  const firstNameOfInode = new Map<string, string>();
  const absOf = (rel: string) => (rel === "" ? root : path.join(root, rel));

  const walker = walk(root, options.signal);
  const window: Item[] = [];
  let walked = false;
  const fill = async () => {
    while (!walked && window.length < READ_AHEAD) {
      const next = walker.next();
      if (next.done) {
        walked = true;
        break;
      }
      const item: Item = next.value;
      const { st, rel } = item;
      if (st.isFile()) {
        const inode = `${st.dev}:${st.ino}`;
        const first = st.nlink > 1 ? firstNameOfInode.get(inode) : undefined;
        if (first !== undefined) item.hardlinkTo = first;
        else {
          if (st.nlink > 1) firstNameOfInode.set(inode, rel);
          if (st.size <= SMALL_FILE_BYTES) {
            item.data =
              st.size === 0 ? Promise.resolve(Buffer.alloc(0)) : readExactly(absOf(rel), st.size);
            item.data.catch(() => {});
          }
        }
      } else if (st.isSymbolicLink()) {
        item.linkTarget = readlinkSync(absOf(rel));
      }
      window.push(item);
    }
  };

  let batch = Buffer.allocUnsafe(BATCH_BYTES);
  let used = 0;
  const takeBatch = (): Buffer => {
    const out = batch.subarray(0, used);
    batch = Buffer.allocUnsafe(BATCH_BYTES);
    used = 0;
    return out;
  };
  /** Appends bytes, returning the full batch to emit first when they do not fit. */
  const append = (b: Buffer): Buffer | undefined => {
    let flushed: Buffer | undefined;
    if (used + b.length > batch.length) {
      flushed = takeBatch();
      if (b.length > batch.length) batch = Buffer.allocUnsafe(b.length);
    }
    b.copy(batch, used);
    used += b.length;
    summary.bytes += b.length;
    return flushed;
  };
  const header = (item: Item, type: TarEntryHeader["type"], extra: Partial<TarEntryHeader> = {}) =>
    encodeEntryHeader({
      name: item.rel === "" ? "./" : type === "directory" ? `${item.rel}/` : item.rel,
      type,
      mode: item.st.mode,
      uid: mapId(item.st.uid),
      gid: mapId(item.st.gid),
      size: 0,
      mtimeMs: item.st.mtimeMs,
      ...extra,
    });

  await fill();
  while (window.length > 0) {
    if (options.signal?.aborted) throw options.signal.reason ?? new Error("aborted");
    const item = window.shift()!;
    const { st } = item;
    const toEmit: (Buffer | undefined)[] = [];
    if (st.isDirectory()) {
      toEmit.push(append(header(item, "directory")));
    } else if (st.isSymbolicLink()) {
      toEmit.push(append(header(item, "symlink", { linkname: item.linkTarget! })));
    } else if (item.hardlinkTo !== undefined) {
      toEmit.push(append(header(item, "hardlink", { linkname: item.hardlinkTo })));
    } else if (st.isFile() && item.data) {
      const { data, shrank } = await item.data.then((d) => ({
        data: d,
        shrank: d.length < st.size,
      }));
      if (shrank) summary.warnings.push(`file shrank while archiving: ${item.rel}`);
      toEmit.push(append(header(item, "file", { size: st.size })));
      toEmit.push(append(data));
      if (shrank) toEmit.push(append(Buffer.alloc(st.size - data.length)));
      const pad = paddingFor(st.size);
      if (pad > 0) toEmit.push(append(Buffer.alloc(pad)));
    } else if (st.isFile()) {
      toEmit.push(append(header(item, "file", { size: st.size })));
      for (const b of toEmit) if (b) yield b;
      toEmit.length = 0;
      if (used > 0) yield takeBatch();
      yield* streamLargeFile(absOf(item.rel), item.rel, st.size);
    } else {
      summary.warnings.push(`skipped ${describeType(st)} ${item.rel}`);
      await fill();
      continue;
    }
    summary.entries++;
    for (const b of toEmit) if (b) yield b;
    await fill();
  }
  const last = append(END_OF_ARCHIVE);
  if (last) yield last;
  if (used > 0) yield takeBatch();

  async function* streamLargeFile(abs: string, rel: string, size: number): AsyncGenerator<Buffer> {
    const fh = await open(abs, "r");
    try {
      let remaining = size;
      while (remaining > 0) {
        if (options.signal?.aborted) throw options.signal.reason ?? new Error("aborted");
        const want = Math.min(CHUNK_BYTES, remaining);
        const buf = Buffer.allocUnsafe(want);
        const { bytesRead } = await fh.read(buf, 0, want, null);
        if (bytesRead === 0) {
          // the header promised `size` bytes: a file that shrank is padded with zeros
          summary.warnings.push(`file shrank while archiving: ${rel}`);
          buf.fill(0);
          remaining -= want;
          summary.bytes += want;
          yield buf;
          continue;
        }
        remaining -= bytesRead;
        summary.bytes += bytesRead;
        yield bytesRead === want ? buf : buf.subarray(0, bytesRead);
      }
    } finally {
      await fh.close();
    }
    const pad = paddingFor(size);
    if (pad > 0) {
      summary.bytes += pad;
      yield Buffer.alloc(pad);
    }
  }
}

/**
 * Depth-first, sorted. Metadata calls are synchronous on purpose: awaiting one thread-pool round
 * trip per directory made the walk ~5x slower than the sync walk (measured: 433 vs 77 ms for 2k
 * directories), and each call blocks the event loop only for microseconds.
 */
function* walk(root: string, signal?: AbortSignal): Generator<Item> {
  const stack: Item[] = [{ rel: "", st: lstatSync(root) }];
  while (stack.length > 0) {
    if (signal?.aborted) throw signal.reason ?? new Error("aborted");
    const item = stack.pop()!;
    yield item;
    if (!item.st.isDirectory()) continue;
    const dir = item.rel === "" ? root : path.join(root, item.rel);
    const names = readdirSync(dir).sort();
    for (let i = names.length - 1; i >= 0; i--) {
      const rel = item.rel === "" ? names[i]! : `${item.rel}/${names[i]}`;
      stack.push({ rel, st: lstatSync(path.join(root, rel)) });
    }
  }
}

/** Reads up to `size` bytes (fewer if the file shrank since it was stat'ed; never more). */
async function readExactly(abs: string, size: number): Promise<Buffer> {
  const fh = await open(abs, "r");
  try {
    const buf = Buffer.allocUnsafe(size);
    let got = 0;
    while (got < size) {
      const { bytesRead } = await fh.read(buf, got, size - got, null);
      if (bytesRead === 0) break;
      got += bytesRead;
    }
    return got === size ? buf : buf.subarray(0, got);
  } finally {
    await fh.close();
  }
}

function describeType(st: Stats): string {
  if (st.isSocket()) return "socket";
  if (st.isFIFO()) return "fifo";
  if (st.isCharacterDevice()) return "character device";
  if (st.isBlockDevice()) return "block device";
  return "unknown file type";
}
