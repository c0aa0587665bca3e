import { mkdir } from "node:fs/promises";
import {
  type ExtractTarStreamOptions,
  type ExtractTarStreamResult,
  extractTarFed,
  extractTarStream,
} from "../archive/index.js";
import type { ChunkIndex } from "../chunks/index.js";
import { readChunks } from "./chunk-reader.js";
import { type ChunkRecordOptions, readChunkRecords } from "./chunk-records.js";
import type { ObjectStore } from "./object-store.js";
import { openPackFiles } from "./pack-files.js";
import { findUnchunkHelper, unchunkFeeder } from "./unchunk-process.js";

export interface ChunkedRestoreOptions extends ChunkRecordOptions {
  /**
   * The unchunk helper: a path, or false to verify in this process even when the helper is
   * built; by default the one findUnchunkHelper finds.
   */
  unchunkHelper?: string | false | undefined;
  /** Framed packs of a local store the helper reads itself; the rest are read by the daemon. */
  maxPackFiles?: number | undefined;
}

/**
 * Restores the tar stream an index describes into the empty `targetDir` with the extract worker
 * (extraction rules of SafeExtractor unchanged). With the unchunk helper, framed packs are read
 * frame by frame (ranged reads) and every chunk is verified by the helper on its way into the
 * extractor's FIFO (on a store of local files the helper reads the frames from the pack files
 * itself); without it, whole packs are read and verified here (readChunks). Either way a
 * chunk is checked against its sha256 before any byte of it is extracted, and a failure leaves
 * the target empty.
 */
export async function restoreChunkIndex(
  objects: ObjectStore,
  index: ChunkIndex,
  targetDir: string,
  extract: ExtractTarStreamOptions,
  read: ChunkedRestoreOptions = {},
): Promise<ExtractTarStreamResult> {
  const helper = read.unchunkHelper === false ? undefined : findUnchunkHelper(read.unchunkHelper);
  if (!helper) return extractTarStream(readChunks(objects, index, read), targetDir, extract);
  // as extractTarFed would: a restore that fails on a missing pack still leaves the target there
  await mkdir(targetDir, { recursive: true });
  const packFiles = await openPackFiles(objects, index, read.maxPackFiles);
  try {
    const records = readChunkRecords(objects, index, { ...read, packFiles: packFiles?.fdOf });
    const fds = packFiles?.handles.map((h) => h.fd) ?? [];
    return await extractTarFed(targetDir, extract, unchunkFeeder(helper, index, records, fds));
  } finally {
    await packFiles?.close();
  }
}
