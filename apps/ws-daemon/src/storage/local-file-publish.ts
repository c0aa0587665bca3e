import type { Stats } from "node:fs";
import { constants } from "node:fs";
import { copyFile, type FileHandle, lstat, open, rename, unlink } from "node:fs/promises";
import { ObjectSourceFileError } from "./object-store.js";

export interface LocalPublishTarget {
  /** The object's file. */
  dest: string;
  /** A fresh temp name in dest's directory (one the store's sweep recognises). */
  tmp: string;
  /** Fsyncs dest's directory once the rename happened. */
  syncDirectory: () => Promise<void>;
  signal?: AbortSignal | undefined;
}

/**
 * Publishes `file` as the local store's object at `dest` with the store's commit discipline:
 * the bytes reach `tmp` (a rename when `file` lies on the same file system, an in-kernel copy
 * otherwise: copy_file_range or a reflink, done by libuv off the event loop), are fsynced, then
 * renamed over `dest` and the directory fsynced. `file` is opened without following a link and
 * must be a plain file with one name, and what is renamed into place is checked to be the very
 * file opened, so nobody can slip a link or another file into the store on the way.
 */
export async function publishLocalFile(
  file: string,
  target: LocalPublishTarget,
): Promise<{ size: number }> {
  const source = await openSource(file);
  try {
    const st = await source.stat();
    if (!st.isFile()) throw new ObjectSourceFileError(file, "not a regular file");
    if (st.nlink !== 1) {
      throw new ObjectSourceFileError(
        file,
        `has ${st.nlink} names: another one could change the object after it was published`,
      );
    }
    const staged =
      (await movedTo(file, source, st, target.tmp)) ?? (await copiedTo(source, st, target.tmp));
    let published = false;
    try {
      target.signal?.throwIfAborted();
      // the object's time is its publication, as for a put (the chunk GC ages objects by it)
      const now = new Date();
      await staged.utimes(now, now);
      // the durability point: nothing is renamed into place before all its data is on disk
      await staged.sync();
      await rename(target.tmp, target.dest);
      published = true;
    } finally {
      if (staged !== source) await staged.close();
      if (!published) await unlink(target.tmp).catch(() => {});
    }
    await target.syncDirectory();
    return { size: st.size };
  } finally {
    await source.close();
  }
}

async function openSource(file: string): Promise<FileHandle> {
  try {
    return await open(file, constants.O_RDONLY | constants.O_NOFOLLOW);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === "ELOOP") {
      throw new ObjectSourceFileError(file, "is a symbolic link");
    }
    throw err;
  }
}

/**
 * Renames `file` to `tmp` and returns `source` (which now names the file at `tmp`); undefined
 * when the two lie on different file systems.
 */
async function movedTo(
  file: string,
  source: FileHandle,
  st: Stats,
  tmp: string,
): Promise<FileHandle | undefined> {
  try {
    await rename(file, tmp);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === "EXDEV") return undefined;
    throw err;
  }
  const moved = await lstat(tmp);
  if (moved.dev !== st.dev || moved.ino !== st.ino) {
    await unlink(tmp).catch(() => {});
    throw new ObjectSourceFileError(file, "was replaced by another file while being published");
  }
  return source;
}

/** Copies the file `source` holds to `tmp` (created exclusively: never through a link). */
async function copiedTo(source: FileHandle, st: Stats, tmp: string): Promise<FileHandle> {
  let copy: FileHandle | undefined;
  try {
    // the descriptor's own file, not whatever the path names by now
    await copyFile(
      `/proc/self/fd/${source.fd}`,
      tmp,
      constants.COPYFILE_EXCL | constants.COPYFILE_FICLONE,
    );
    copy = await open(tmp, constants.O_RDWR | constants.O_NOFOLLOW);
    const { size } = await copy.stat();
    if (size !== st.size) throw new Error(`copied ${size} of the ${st.size} bytes to ${tmp}`);
    return copy;
  } catch (err) {
    await copy?.close().catch(() => {});
    await unlink(tmp).catch(() => {});
    throw err;
  }
}
