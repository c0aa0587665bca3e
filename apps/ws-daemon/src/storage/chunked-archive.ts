import { createHash } from "node:crypto";
import type { ArchiveDeadline, SomeArchiveLimits } from "../archive/index.js";
import { chunkTree } from "../archive/index.js";
import { type ChunkIndex, type ChunkRef, encodeChunkIndex } from "../chunks/index.js";
import type { Log } from "../platform/index.js";
import type { ChunkCatalog, KnownChunk } from "./chunk-catalog.js";
import { newLeaseKey } from "./chunk-keys.js";
import { CHUNKED_MANIFEST_FORMAT_VERSION, type ChunkedManifest } from "./chunked-manifest.js";
import type { ArchiveOptions, WorkspaceRef } from "./content-store.js";
import { type ObjectStore, putBytes } from "./object-store.js";
import { PackWriter } from "./pack-writer.js";

/** What one chunked backup or snapshot did, for metrics and logs. */
export interface ChunkedArchiveStats {
  /** Tar bytes of the tree, all of which were read and hashed. */
  scannedBytes: number;
  /** Bytes of chunks no published archive of the scope had (before compression). */
  newBytes: number;
  /** Bytes written to the store: new packs and the index. */
  uploadedBytes: number;
  chunks: number;
  newChunks: number;
}

export interface ChunkedArchiveSettings {
  objects: ObjectStore;
  catalog: ChunkCatalog;
  /** The scope's prefix (chunks/owners/<owner>/ or chunks/store/). */
  scope: string;
  /** Where the manifests that may name the scope's packs live. */
  scopeWorkspaces: string;
  packTargetBytes: number;
  zstdLevel: number;
  zstdPath?: string | undefined;
  limits?: SomeArchiveLimits | undefined;
  deadline?: ArchiveDeadline | undefined;
  /** A writer older than this may no longer publish: the sweep treats its lease as dead. */
  leaseLifetimeMs: number;
  now: () => number;
  log: Log;
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
  let indexStored = false;
  try {
    const known = await s.catalog.knownChunks(s.scope, s.scopeWorkspaces, options.signal);
    const stats: ChunkedArchiveStats = {
      scannedBytes: 0,
      newBytes: 0,
      uploadedBytes: 0,
      chunks: 0,
      newChunks: 0,
    };
    const tree = chunkTree(dir, {
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
    const refs: { packKey: string; offset: number; length: number; sha256: string }[] = [];
    for await (const chunk of tree.chunks) {
      const length = chunk.bytes.length;
      stats.chunks++;
      stats.scannedBytes += length;
      chunked(tree.summary().entries);
      const hit = added.get(chunk.id) ?? known.get(chunk.id);
      if (hit) {
        refs.push({ packKey: hit.packKey, offset: hit.offset, length, sha256: chunk.id });
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
    const summary = tree.summary();
    for (const w of summary.warnings) s.log("warn", `archive of ${dir}: ${w}`);

    const index = buildIndex(refs, stored, known, summary.entries);
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
    stats.uploadedBytes = writer.storedBytes + indexBytes.length;
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
    await writer.abort();
    if (indexStored) {
      await s.objects
        .delete(indexKey)
        .catch((e: unknown) => s.log("warn", `cannot delete ${indexKey}`, { err: e }));
    }
    await release();
    throw err;
  }
}

function buildIndex(
  refs: { packKey: string; offset: number; length: number; sha256: string }[],
  stored: { key: string; rawSize: number; size: number }[],
  known: Map<string, KnownChunk>,
  entries: number,
): ChunkIndex {
  const sizes = new Map<string, { rawSize: number; size: number }>();
  for (const k of known.values())
    sizes.set(k.packKey, { rawSize: k.packRawSize, size: k.packSize });
  for (const p of stored) sizes.set(p.key, p);
  const position = new Map<string, number>();
  const packs: ChunkIndex["packs"] = [];
  const chunks: ChunkRef[] = [];
  let tarBytes = 0;
  for (const r of refs) {
    let pack = position.get(r.packKey);
    if (pack === undefined) {
      const size = sizes.get(r.packKey);
      if (!size) throw new Error(`pack ${r.packKey} was not stored`);
      pack = packs.length;
      position.set(r.packKey, pack);
      packs.push({ key: r.packKey, ...size });
    }
    chunks.push({ pack, offset: r.offset, length: r.length, sha256: r.sha256 });
    tarBytes += r.length;
  }
  return { packs, chunks, entries, tarBytes };
}
