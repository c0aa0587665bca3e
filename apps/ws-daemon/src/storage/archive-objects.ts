import {
  type ArchiveResult,
  type ArchiveSource,
  type CreateArchiveOptions,
  createArchiveStream,
  writeArchiveToFile,
} from "../archive/index.js";
import { ContentCorruptError, type Log } from "../platform/index.js";
import { ObjectNotFoundError, type ObjectStore } from "./object-store.js";

/**
 * Archives `dir` into the data object `dataKey`: on a store of local files zstd writes the
 * object's file itself (as `tar | zstd > file` does), elsewhere the compressed stream is put. The
 * result is returned only once the store holds exactly the bytes streamed and the caller has not
 * aborted; on any failure the object is deleted again (a failed delete is logged: the janitor
 * takes it later).
 */
export async function writeArchiveObject(
  objects: ObjectStore,
  dataKey: string,
  dir: string,
  options: CreateArchiveOptions,
  log: Log,
): Promise<ArchiveResult> {
  try {
    const { result, storedSize } = await (objects.files
      ? writeThroughFile(objects.files, dataKey, dir, options)
      : writeThroughPut(objects, dataKey, dir, options));
    const head = await objects.head(dataKey);
    if (storedSize !== result.size || head?.size !== result.size) {
      throw new Error(
        `upload verification of ${dataKey} failed: streamed ${result.size} bytes, store reports ${head?.size ?? "nothing"}`,
      );
    }
    // the manifest comes next and is the commit point: an abort that arrived while the data was
    // being finished must still stop the archive, or the caller is told "cancelled" of a backup
    // that replaced the previous one
    options.signal?.throwIfAborted();
    return result;
  } catch (err) {
    await objects
      .delete(dataKey)
      .catch((e: unknown) => log("warn", `cannot delete ${dataKey}`, { err: e }));
    throw err;
  }
}

interface Written {
  result: ArchiveResult;
  /** What the store says it stored. */
  storedSize: number;
}

async function writeThroughFile(
  files: NonNullable<ObjectStore["files"]>,
  dataKey: string,
  dir: string,
  options: CreateArchiveOptions,
): Promise<Written> {
  const writer = await files.create(dataKey);
  try {
    const result = await writeArchiveToFile(dir, writer.file, {
      ...options,
      onWritten: (n) => writer.wrote(n),
    });
    return { result, storedSize: (await writer.commit()).size };
  } finally {
    await writer.abort();
  }
}

async function writeThroughPut(
  objects: ObjectStore,
  dataKey: string,
  dir: string,
  options: CreateArchiveOptions,
): Promise<Written> {
  const archive = createArchiveStream(dir, options);
  try {
    const { size } = await objects.put(dataKey, archive.stream, { signal: options.signal });
    return { result: await archive.result, storedSize: size };
  } catch (err) {
    archive.stream.destroy();
    throw err;
  }
}

/**
 * The data object a manifest names, as a restore reads it: the file itself on a store of local
 * files (zstd reads it directly; the caller closes it), a download elsewhere. A missing object is
 * corrupt content: its manifest promised it.
 */
export async function openArchiveObject(
  objects: ObjectStore,
  dataKey: string,
  signal: AbortSignal | undefined,
): Promise<ArchiveSource> {
  try {
    return objects.files
      ? { file: await objects.files.open(dataKey) }
      : await objects.get(dataKey, { signal });
  } catch (err) {
    if (err instanceof ObjectNotFoundError) {
      throw new ContentCorruptError(`manifest names data ${dataKey}, which is missing`);
    }
    throw err;
  }
}
