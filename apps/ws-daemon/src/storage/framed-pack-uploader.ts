import { createReadStream } from "node:fs";
import { rm, stat } from "node:fs/promises";
import type { Log } from "../platform/index.js";
import { newPackKey } from "./chunk-keys.js";
import type { ObjectStore } from "./object-store.js";
import type { StoredPack } from "./pack-writer.js";

export interface FramedPackUploaderOptions {
  /** The scope's prefix (`chunks/owners/<owner>/` or `chunks/store/`). */
  scope: string;
  signal?: AbortSignal | undefined;
  now: () => number;
  log: Log;
}

/**
 * Uploads the packs the native chunker seals (files of concatenated zstd frames in its private
 * directory; it reports a pack only after closing it): each given to the store as a file when
 * the store can take one (a rename into a local store from its staging directory, a streamed
 * PUT of known length on S3), streamed through put otherwise, then verified (the file and the stored object have
 * exactly the size the chunker reported), then its file deleted and the chunker told. The
 * chunker stops after a bounded number of unacknowledged packs, which bounds uploads in flight
 * and local disk. Nothing may name a pack before finish() resolved; abort() deletes every pack
 * this uploader started.
 */
export class FramedPackUploader {
  private readonly keys = new Map<number, string>();
  private readonly stored: StoredPack[] = [];
  private readonly uploads: Promise<void>[] = [];
  private failure: unknown;
  /** Called once a sealed pack is stored and verified and its local file is gone. */
  onStored: () => void = () => {};
  /** Called once, with the first upload that failed: the chunker waits for acks that never come. */
  onFailed: (err: unknown) => void = () => {};

  constructor(
    private readonly objects: ObjectStore,
    private readonly options: FramedPackUploaderOptions,
  ) {}

  /** The store key of the chunker's pack `pack` (fixed at first sight). */
  keyOf(pack: number): string {
    let key = this.keys.get(pack);
    if (key === undefined) {
      key = newPackKey(this.options.scope, this.options.now());
      this.keys.set(pack, key);
    }
    return key;
  }

  /** Bytes of the packs stored so far. */
  get storedBytes(): number {
    return this.stored.reduce((n, p) => n + p.size, 0);
  }

  /** Starts uploading a sealed pack; a failure is thrown from the next upload() or finish(). */
  upload(pack: { pack: number; file: string; rawSize: number; size: number }): void {
    if (this.failure !== undefined) throw this.failure;
    const key = this.keyOf(pack.pack);
    const done = this.put(key, pack).then(
      () => {
        this.stored.push({ key, rawSize: pack.rawSize, size: pack.size, framed: true });
        this.onStored();
      },
      (err: unknown) => {
        if (this.failure !== undefined) return;
        this.failure = err;
        this.onFailed(err);
      },
    );
    this.uploads.push(done);
  }

  /** Waits for every upload; the packs, each verified. */
  async finish(): Promise<StoredPack[]> {
    await Promise.all(this.uploads);
    if (this.failure !== undefined) throw this.failure;
    return this.stored;
  }

  /** Waits for the uploads in flight, then deletes every pack this uploader named (best effort). */
  async abort(): Promise<void> {
    await Promise.allSettled(this.uploads);
    await Promise.all(
      [...this.keys.values()].map((key) =>
        this.objects.delete(key).catch((err: unknown) =>
          this.options.log("warn", `cannot delete pack ${key}; garbage collection takes it`, {
            err,
          }),
        ),
      ),
    );
  }

  private async put(
    key: string,
    pack: { file: string; rawSize: number; size: number },
  ): Promise<void> {
    const onDisk = (await stat(pack.file)).size;
    if (onDisk !== pack.size) {
      throw new Error(
        `pack file ${pack.file} holds ${onDisk} bytes, the chunker reported ${pack.size}`,
      );
    }
    const options = { signal: this.options.signal, contentType: "application/octet-stream" };
    const { size } = this.objects.putFile
      ? await this.objects.putFile(key, pack.file, options)
      : await this.objects.put(key, createReadStream(pack.file), options);
    const head = await this.objects.head(key);
    if (size !== pack.size || head?.size !== pack.size) {
      throw new Error(
        `upload verification of pack ${key} failed: the chunker wrote ${pack.size} bytes, the store reports ${head?.size ?? "nothing"}`,
      );
    }
    // a store that moved the file left nothing here
    await rm(pack.file, { force: true });
  }
}
