import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { availableParallelism } from "node:os";
import path from "node:path";
import { chunkTreeNatively, type PieceOptions } from "../archive/index.js";
import type { ChunkPiece } from "../chunks/index.js";
import { scratchDir } from "../platform/index.js";
import type { KnownChunk } from "./chunk-catalog.js";
import { type ChunkPlacement, type ProducedChunks, placementOf } from "./chunk-placement.js";
import type { ChunkedArchiveSettings, ChunkedArchiveStats } from "./chunked-archive.js";
import type { ArchiveOptions } from "./content-store.js";
import type { FramedPackUploader } from "./framed-pack-uploader.js";

/**
 * Sealed packs the chunker may leave waiting for upload before it stops: bounds the local disk
 * (x 16 MiB) and the uploads in flight, with enough slack that a busy event loop does not stall
 * the walk.
 */
const MAX_SEALED_PACKS = 4;

/**
 * The native path of a chunked backup: wsd-chunker walks the tree (or the tar worker writes the
 * stream into a FIFO it reads), cuts, hashes,
 * deduplicates against `known` and compresses new chunks (one zstd frame each) into pack files
 * in a private directory; sealed packs are uploaded as they appear. The directory lies in the
 * store's staging directory when it has one (a local store: each pack is then published by a
 * rename), else in this process's scratch directory; `chunkerWorkDir` overrides both. The directory (packs, the
 * known ids) is removed whatever happens; the uploaded packs are the caller's to abort.
 */
export async function writeChunksNatively(
  s: ChunkedArchiveSettings,
  chunkerPath: string,
  uploader: FramedPackUploader,
  dir: string,
  known: Map<string, KnownChunk>,
  stats: ChunkedArchiveStats,
  options: ArchiveOptions,
  pieces: PieceOptions,
): Promise<ProducedChunks> {
  const base = s.chunkerWorkDir ?? (await s.objects.files?.staging?.()) ?? scratchDir();
  // mkdtemp makes it 0700: the workspace user can neither read packs nor plant links in it
  const packDir = await mkdtemp(path.join(base, "wsd-packs-"));
  try {
    const knownIdsFile = path.join(packDir, "known");
    await writeFile(knownIdsFile, knownIds(known), { flag: "wx", mode: 0o600 });
    const tree = chunkTreeNatively(dir, {
      chunkerPath,
      packDir,
      knownIdsFile,
      pieces,
      packTargetBytes: s.packTargetBytes,
      zstdLevel: s.zstdLevel,
      maxSealedPacks: MAX_SEALED_PACKS,
      nativeWalk: s.nativeWalk,
      threads: Math.max(1, Math.min(4, availableParallelism())),
      idShift: options.idShift,
      signal: options.signal,
      limits: s.limits,
      deadline: s.deadline,
      onProgress: (p) =>
        options.onProgress?.({ bytes: uploader.storedBytes, files: p.files, tarBytes: p.tarBytes }),
    });
    uploader.onStored = tree.ack;
    uploader.onFailed = tree.fail;
    const added = new Map<string, ChunkPlacement>();
    const refs: ChunkPlacement[] = [];
    const found: ChunkPiece[] = [];
    let piece: { fingerprint: string; first: number } | undefined;
    let lastProgress = 0;
    const chunked = () => {
      const now = Date.now();
      if (!options.onProgress || now - lastProgress < 200) return;
      lastProgress = now;
      options.onProgress({
        bytes: uploader.storedBytes,
        files: tree.summary().entries,
        tarBytes: stats.scannedBytes,
      });
    };
    for await (const e of tree.events) {
      if (e.kind === "sealed") {
        uploader.upload(e);
        continue;
      }
      if (e.kind === "piece-start") {
        piece = { fingerprint: e.fingerprint, first: refs.length };
        continue;
      }
      if (e.kind === "piece-end") {
        const count = refs.length - (piece?.first ?? refs.length);
        if (piece && count > 0) found.push({ ...piece, count });
        piece = undefined;
        continue;
      }
      stats.chunks++;
      // a reused chunk stands for file bytes the walk did not read (the skip cache)
      if (e.dedup === "reused") stats.skippedBytes += e.length;
      else stats.scannedBytes += e.length;
      chunked();
      let at: ChunkPlacement | undefined;
      if (e.dedup === "new") {
        at = {
          packKey: uploader.keyOf(e.pack),
          offset: e.offset,
          length: e.length,
          sha256: e.id,
          frame: { offset: e.frameOffset, length: e.frameLength },
        };
        added.set(e.id, at);
        stats.newChunks++;
        stats.newBytes += e.length;
      } else {
        const hit = e.dedup === "dup" ? added.get(e.id) : (added.get(e.id) ?? known.get(e.id));
        const whose = hit && "packRawSize" in hit ? placementOf(hit, e.id) : hit;
        if (!whose || whose.length !== e.length) {
          throw new Error(
            `the native chunker named chunk ${e.id} (${e.dedup}), which is not stored`,
          );
        }
        at = whose;
      }
      refs.push(at);
    }
    const stored = await uploader.finish();
    return {
      refs,
      stored,
      summary: tree.summary(),
      pieces: found,
      storedBytes: () => uploader.storedBytes,
    };
  } finally {
    await rm(packDir, { recursive: true, force: true });
  }
}

/** The known chunk ids as the chunker reads them: 32 bytes each. */
function knownIds(known: Map<string, KnownChunk>): Buffer {
  const out = Buffer.allocUnsafe(known.size * 32);
  let at = 0;
  for (const id of known.keys()) {
    if (out.write(id, at, 32, "hex") !== 32) throw new Error(`bad chunk id ${id}`);
    at += 32;
  }
  return out;
}
