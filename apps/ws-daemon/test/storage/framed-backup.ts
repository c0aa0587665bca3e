import { execFileSync } from "node:child_process";
import { createHash } from "node:crypto";
import { Readable } from "node:stream";
import {
  type ChunkIndex,
  type ChunkRef,
  encodeChunkIndex,
  parseChunkIndex,
} from "../../src/chunks/index.js";
import { newPackKey } from "../../src/storage/chunk-keys.js";
import { encodeChunkedManifest } from "../../src/storage/chunked-manifest.js";
import type { FormatContentStore, ObjectStore, WorkspaceRef } from "../../src/storage/index.js";
import { backupPrefix } from "../../src/storage/object-keys.js";
import { type GetOptions, getBytes, putBytes } from "../../src/storage/object-store.js";
import { ForwardingStore } from "./object-store-faults.js";

const zstd = (args: string[], input: Buffer) =>
  execFileSync("zstd", ["-q", "-c", ...args], { input, maxBuffer: 1 << 28 });

export interface FrameOptions {
  /** Chunks (positions in the index) left where they are, in their unframed packs. */
  keepUnframed?: (chunk: number) => boolean;
  /** The bytes whose frame is stored for a chunk instead of its own (the index keeps its hash and length). */
  forge?: (chunk: number, raw: Buffer) => Buffer | undefined;
}

/**
 * Rewrites the workspace's chunked backup (written unframed by the store) as a version-2 index
 * over ONE framed pack: each chunk compressed with `zstd -1` on its own and the frames
 * concatenated (as the backup side writes them), then the index and the manifest naming it.
 * A chunk named twice gets one frame. Returns the new index and its framed pack.
 */
export async function frameBackup(
  objects: ObjectStore,
  store: FormatContentStore,
  ws: WorkspaceRef,
  options: FrameOptions = {},
): Promise<{ index: ChunkIndex; packKey: string; packBytes: Buffer }> {
  const any = await store.readAnyBackupManifest(ws);
  if (any?.format !== "chunked") throw new Error(`workspace ${ws.id} has no chunked backup`);
  const manifest = any.manifest;
  const old = parseChunkIndex(await getBytes(objects, manifest.indexKey), manifest.indexKey);
  const rawPacks = new Map<number, Buffer>();
  const rawOf = async (pack: number) => {
    let raw = rawPacks.get(pack);
    if (!raw) {
      raw = zstd(["-d"], await getBytes(objects, old.packs[pack]?.key ?? ""));
      rawPacks.set(pack, raw);
    }
    return raw;
  };
  const packKey = newPackKey(manifest.scope, Date.now());
  const framedPack = old.packs.length;
  const frames: Buffer[] = [];
  const placed = new Map<string, { offset: number; frame: { offset: number; length: number } }>();
  let rawSize = 0;
  let size = 0;
  const chunks: ChunkRef[] = [];
  for (const [i, c] of old.chunks.entries()) {
    if (options.keepUnframed?.(i)) {
      chunks.push(c);
      continue;
    }
    let at = placed.get(c.sha256);
    if (!at) {
      const raw = (await rawOf(c.pack)).subarray(c.offset, c.offset + c.length);
      const frame = zstd(["-1"], options.forge?.(i, raw) ?? raw);
      at = { offset: rawSize, frame: { offset: size, length: frame.length } };
      placed.set(c.sha256, at);
      frames.push(frame);
      rawSize += c.length;
      size += frame.length;
    }
    chunks.push({
      pack: framedPack,
      offset: at.offset,
      length: c.length,
      sha256: c.sha256,
      frame: at.frame,
    });
  }
  const packBytes = Buffer.concat(frames);
  await putBytes(objects, packKey, packBytes);
  const index: ChunkIndex = {
    packs: [...old.packs, { key: packKey, rawSize, size, framed: true }],
    chunks,
    entries: old.entries,
    tarBytes: old.tarBytes,
  };
  const indexBytes = encodeChunkIndex(index);
  await putBytes(objects, manifest.indexKey, indexBytes);
  await putBytes(
    objects,
    `${backupPrefix(ws)}manifest.json`,
    encodeChunkedManifest({
      ...manifest,
      indexSha256: createHash("sha256").update(indexBytes).digest("hex"),
      indexSize: indexBytes.length,
    }),
  );
  return { index: parseChunkIndex(indexBytes, manifest.indexKey), packKey, packBytes };
}

/** Records every get (key and range) and can change what a ranged get of one key answers. */
export class RecordingStore extends ForwardingStore {
  readonly gets: { key: string; range: GetOptions["range"] }[] = [];
  constructor(
    inner: ObjectStore,
    private readonly onGet: (
      key: string,
      options: GetOptions | undefined,
      n: number,
    ) => void = () => {},
    private readonly answer?: (
      key: string,
      body: Buffer,
      options: GetOptions | undefined,
    ) => Buffer,
  ) {
    super(inner);
  }
  override async get(key: string, options?: GetOptions) {
    this.gets.push({ key, range: options?.range });
    this.onGet(key, options, this.gets.length);
    if (!this.answer) return this.inner.get(key, options);
    const body = await getBytes(this.inner, key, options);
    return Readable.from([this.answer(key, body, options)]);
  }
}
