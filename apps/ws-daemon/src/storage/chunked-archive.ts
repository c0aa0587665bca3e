import { createHash } from "node:crypto";
import type {
  ArchiveDeadline,
  PieceOptions,
  SomeArchiveLimits,
  TreeEvent,
} from "../archive/index.js";
import { chunkTree } from "../archive/index.js";
import {
  type ChunkIndex,
  type ChunkPiece,
  type ChunkRef,
  encodeChunkIndex,
  type PackRef,
  type ReusedChunk,
} from "../chunks/index.js";
import type { Log } from "../platform/index.js";
import type { ChunkCatalog, KnownChunk } from "./chunk-catalog.js";
import { newLeaseKey } from "./chunk-keys.js";
import { type ChunkPlacement, type ProducedChunks, placementOf } from "./chunk-placement.js";
import { CHUNKED_MANIFEST_FORMAT_VERSION, type ChunkedManifest } from "./chunked-manifest.js";
import type { ArchiveOptions, WorkspaceRef } from "./content-store.js";
import { FramedPackUploader } from "./framed-pack-uploader.js";
import { writeChunksNatively } from "./native-chunk-writer.js";
import { type ObjectStore, putBytes } from "./object-store.js";
import { PackWriter, type StoredPack } from "./pack-writer.js";
import { PieceRecorder, previousPieces } from "./piece-reuse.js";
import { reusableChunks } from "./reusable-chunks.js";

/** What one chunked backup or snapshot did, for metrics and logs. */
export interface ChunkedArchiveStats {
  /** Tar bytes of the tree that were read and hashed. */
  scannedBytes: number;
  /** Tar bytes of the tree that were not read: file bodies unchanged since the previous backup. */
  skippedBytes: number;
  /** Bytes of chunks no published archive of the scope had (before compression). */
  newBytes: number;
  /** Bytes written to the store: new packs and the index. */
  uploadedBytes: number;
  chunks: number;
  newChunks: number;
  /** Bytes of chunks stored again because they lay only in sparse (or condemned) packs. */
  repackedBytes: number;
  /** Sparse (or condemned) packs whose chunks this archive stored again instead of naming them. */
  repackedPacks: number;
}

export interface ChunkedArchiveSettings {
  objects: ObjectStore;
  catalog: ChunkCatalog;
  /** The scope's prefix (chunks/owners/<owner>/ or chunks/store/). */
  scope: string;
  /** Where the manifests that may name the scope's packs live. */
  scopeWorkspaces: string;
  packTargetBytes: number;
  /** Repack on write: chunks of packs live below this share are stored again; 0 = never. */
  repackBelow: number;
  zstdLevel: number;
  zstdPath?: string | undefined;
  /** The native chunker (native/wsd-chunker.c); unset: the JavaScript chunker (unframed packs). */
  chunkerPath?: string | undefined;
  /**
   * Where the native chunker's private pack directory is made. Default: the store's staging
   * directory (a local store: packs are renamed into place), else the process's scratch directory.
   */
  chunkerWorkDir?: string | undefined;
  /** False: the JavaScript walk feeds the native chunker through a FIFO (see chunkTreeNatively). */
  nativeWalk?: boolean | undefined;
  limits?: SomeArchiveLimits | undefined;
  deadline?: ArchiveDeadline | undefined;
  /** A writer older than this may no longer publish: the sweep treats its lease as dead. */
  leaseLifetimeMs: number;
  now: () => number;
  log: Log;
  /** The workspace's current backup: its unchanged large files are not read again. */
  previous?: ChunkedManifest | undefined;
  /** Which file bodies are pieces (the skip cache); defaults of file-pieces.ts otherwise. */
  pieces?: Omit<PieceOptions, "reusable"> | undefined;
}

/**
 * Steps of the chunked commit protocol up to, not including, the manifest:
 *  1. a lease in the scope tells sweeps that a writer may be about to name existing packs;
 *  2. the scope's published indexes give the chunks already stored;
 *  3. the tree's chunks not among them go into new packs, stored and verified;
 *  4. the index is stored (immutable, under a key of this attempt).
 * Returns the manifest to write as the commit point and a release() to call after it (drops the
 * lease). On failure everything this attempt stored is deleted again.
 */
export async function writeChunkedArchive(
  s: ChunkedArchiveSettings,
  ws: WorkspaceRef,
  dir: string,
  indexKey: string,
  options: ArchiveOptions,
): Promise<{
  manifest: ChunkedManifest;
  stats: ChunkedArchiveStats;
  release: () => Promise<void>;
}> {
  const started = s.now();
  const leaseKey = newLeaseKey(s.scope, started);
  await putBytes(s.objects, leaseKey, Buffer.from(JSON.stringify({ workspace: ws, started })));
  const release = () =>
    s.objects
      .delete(leaseKey)
      .catch((err: unknown) => s.log("warn", `cannot delete lease ${leaseKey}`, { err }));
  const writer = new PackWriter(s.objects, {
    scope: s.scope,
    targetBytes: s.packTargetBytes,
    zstdLevel: s.zstdLevel,
    zstdPath: s.zstdPath,
    signal: options.signal,
    now: s.now,
    log: s.log,
  });
  const uploader = new FramedPackUploader(s.objects, {
    scope: s.scope,
    signal: options.signal,
    now: s.now,
    log: s.log,
  });
  let indexStored = false;
  try {
    // after the lease: a sweep's condemned list stored before it is seen here
    const reusable = await reusableChunks(s.objects, s.catalog, s.scope, s.scopeWorkspaces, {
      repackBelow: s.repackBelow,
      signal: options.signal,
      log: s.log,
    });
    const known = reusable.known;
    const stats: ChunkedArchiveStats = {
      scannedBytes: 0,
      skippedBytes: 0,
      newBytes: 0,
      uploadedBytes: 0,
      chunks: 0,
      newChunks: 0,
      repackedBytes: 0,
      repackedPacks: 0,
    };
    // pieces of the current backup whose chunks `known` (not sparse, not condemned) still names
    const skippable = await previousPieces(
      s.objects,
      s.scope,
      s.previous,
      known,
      s.log,
      options.signal,
    );
    const pieces: PieceOptions = { ...s.pieces, reusable: skippable };
    const produced = s.chunkerPath
      ? await writeChunksNatively(s, s.chunkerPath, uploader, dir, known, stats, options, pieces)
      : await writeChunksInProcess(s, writer, dir, known, stats, options, pieces);
    const { refs, stored, summary } = produced;
    countRepacked(produced, reusable.rewrite, stats);
    for (const w of summary.warnings) s.log("warn", `archive of ${dir}: ${w}`);

    const index = buildIndex(refs, stored, known, summary.entries, produced.pieces);
    const indexBytes = encodeChunkIndex(index);
    // a writer this old may have lost its lease to a sweep: publishing could name deleted packs
    if (s.now() - started > s.leaseLifetimeMs) {
      throw new Error(
        `archive of ${dir} ran ${s.now() - started} ms, longer than its lease; not published (the previous archive stays)`,
      );
    }
    options.signal?.throwIfAborted();
    indexStored = true;
    const { size } = await putBytes(s.objects, indexKey, indexBytes, {
      contentType: "application/json",
    });
    if (size !== indexBytes.length) throw new Error(`upload verification of ${indexKey} failed`);
    stats.uploadedBytes = produced.storedBytes() + indexBytes.length;
    // the manifest comes next and is the commit point: a late abort must still stop it
    options.signal?.throwIfAborted();
    const manifest: ChunkedManifest = {
      formatVersion: CHUNKED_MANIFEST_FORMAT_VERSION,
      format: "chunked",
      indexKey,
      indexSha256: createHash("sha256").update(indexBytes).digest("hex"),
      indexSize: indexBytes.length,
      fileCount: summary.entries,
      uncompressedSize: index.tarBytes,
      storedBytes: stats.uploadedBytes,
      referencedBytes: index.packs.reduce((n, p) => n + p.size, 0),
      createdAt: new Date(s.now()).toISOString(),
      sourceWorkspace: { id: ws.id, owner: ws.owner, metaId: ws.metaId },
      scope: s.scope,
    };
    return { manifest, stats, release };
  } catch (err) {
    await Promise.all([writer.abort(), uploader.abort()]);
    if (indexStored) {
      await s.objects
        .delete(indexKey)
        .catch((e: unknown) => s.log("warn", `cannot delete ${indexKey}`, { err: e }));
    }
    await release();
    throw err;
  }
}

/** The JavaScript path: the chunk worker cuts, the main thread hashes, PackWriter compresses. */
async function writeChunksInProcess(
  s: ChunkedArchiveSettings,
  writer: PackWriter,
  dir: string,
  known: Map<string, KnownChunk>,
  stats: ChunkedArchiveStats,
  options: ArchiveOptions,
  pieces: PieceOptions,
): Promise<ProducedChunks> {
  const recorder = new PieceRecorder();
  const tree = chunkTree(dir, {
    pieces,
    idShift: options.idShift,
    signal: options.signal,
    limits: s.limits,
    deadline: s.deadline,
    onProgress: (p) =>
      options.onProgress?.({ bytes: writer.storedBytes, files: p.files, tarBytes: p.tarBytes }),
  });
  let lastProgress = 0;
  const chunked = (files: number) => {
    const now = Date.now();
    if (!options.onProgress || now - lastProgress < 200) return;
    lastProgress = now;
    options.onProgress({ bytes: writer.storedBytes, files, tarBytes: stats.scannedBytes });
  };
  const added = new Map<string, KnownChunk>();
  const refs: ChunkPlacement[] = [];
  for await (const event of tree.chunks) {
    if (event.kind !== "chunk") {
      pieceEvent(event, recorder, refs, stats, (c) => added.get(c.id) ?? known.get(c.id));
      continue;
    }
    const chunk = event;
    const length = chunk.bytes.length;
    stats.chunks++;
    stats.scannedBytes += length;
    chunked(tree.summary().entries);
    const hit = added.get(chunk.id) ?? known.get(chunk.id);
    if (hit) {
      refs.push(placementOf(hit, chunk.id));
      continue;
    }
    const at = await writer.add(chunk.bytes);
    added.set(chunk.id, {
      packKey: at.key,
      packRawSize: 0,
      packSize: 0,
      offset: at.offset,
      length,
    });
    refs.push({ packKey: at.key, offset: at.offset, length, sha256: chunk.id });
    stats.newChunks++;
    stats.newBytes += length;
  }
  const stored = await writer.finish();
  return {
    refs,
    stored,
    summary: tree.summary(),
    pieces: recorder.pieces,
    storedBytes: () => writer.storedBytes,
  };
}

function buildIndex(
  refs: ChunkPlacement[],
  stored: StoredPack[],
  known: Map<string, KnownChunk>,
  entries: number,
  pieces: ChunkPiece[] | undefined,
): ChunkIndex {
  const sizes = new Map<string, PackRef>();
  for (const k of known.values()) {
    sizes.set(k.packKey, {
      key: k.packKey,
      rawSize: k.packRawSize,
      size: k.packSize,
      ...(k.frame ? { framed: true } : {}),
    });
  }
  for (const p of stored) sizes.set(p.key, p);
  const position = new Map<string, number>();
  const packs: PackRef[] = [];
  const chunks: ChunkRef[] = [];
  let tarBytes = 0;
  for (const r of refs) {
    let pack = position.get(r.packKey);
    if (pack === undefined) {
      const ref = sizes.get(r.packKey);
      if (!ref) throw new Error(`pack ${r.packKey} was not stored`);
      pack = packs.length;
      position.set(r.packKey, pack);
      packs.push(ref);
    }
    chunks.push({
      pack,
      offset: r.offset,
      length: r.length,
      sha256: r.sha256,
      ...(r.frame ? { frame: r.frame } : {}),
    });
    tarBytes += r.length;
  }
  return { packs, chunks, entries, tarBytes, ...(pieces?.length ? { pieces } : {}) };
}

/** Chunks this backup stored again because the pack holding them was mostly dead (repack on write). */
function countRepacked(
  produced: ProducedChunks,
  rewrite: ReadonlyMap<string, string>,
  stats: ChunkedArchiveStats,
): void {
  const newPacks = new Set(produced.stored.map((p) => p.key));
  const seen = new Set<string>();
  const leftPacks = new Set<string>();
  for (const r of produced.refs) {
    const leaving = rewrite.get(r.sha256);
    if (leaving === undefined || !newPacks.has(r.packKey) || seen.has(r.sha256)) continue;
    seen.add(r.sha256);
    leftPacks.add(leaving);
    stats.repackedBytes += r.length;
  }
  stats.repackedPacks = leftPacks.size;
}

/**
 * The skip cache's part of the chunk loop: piece boundaries go to the recorder, and reused
 * chunks (a file the walk did not read) are referenced where the catalog says they are.
 */
function pieceEvent(
  event: Exclude<TreeEvent, { kind: "chunk" }>,
  recorder: PieceRecorder,
  refs: ChunkPlacement[],
  stats: ChunkedArchiveStats,
  where: (c: ReusedChunk) => KnownChunk | undefined,
): void {
  if (event.kind === "piece-start") recorder.start(event.fingerprint, refs.length);
  else if (event.kind === "piece-end") recorder.end(refs.length);
  else {
    for (const c of event.chunks) {
      const hit = where(c);
      // the walk is only told of chunks the catalog names, so this is a bug, not bad input
      if (!hit || hit.length !== c.length) throw new Error(`reused chunk ${c.id} is not stored`);
      refs.push(placementOf(hit, c.id));
      stats.chunks++;
      stats.skippedBytes += c.length;
    }
  }
}
