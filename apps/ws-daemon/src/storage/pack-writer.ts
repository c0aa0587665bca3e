import { type ChildProcess, spawn } from "node:child_process";
import { once } from "node:events";
import { Transform } from "node:stream";
import { type Log, minimalEnv } from "../platform/index.js";
import { newPackKey } from "./chunk-keys.js";
import type { ObjectStore } from "./object-store.js";

/** A pack as an index lists it. */
export interface StoredPack {
  key: string;
  /** Bytes of the concatenated chunks (decompressed). */
  rawSize: number;
  /** Bytes of the stored (compressed) object. */
  size: number;
  /** One zstd frame per chunk (written by the native chunker). */
  framed?: boolean | undefined;
}

export interface PackWriterOptions {
  /** The scope's prefix (`chunks/owners/<owner>/` or `chunks/store/`). */
  scope: string;
  /** Decompressed bytes after which a pack is sealed. */
  targetBytes: number;
  zstdLevel: number;
  zstdPath?: string | undefined;
  signal?: AbortSignal | undefined;
  now: () => number;
  log: Log;
}

/** Packs uploading at once besides the one being filled: bounds memory and connections. */
const MAX_SEALED_IN_FLIGHT = 2;

/**
 * Writes new chunks into packs: each pack is one `zstd` process fed the chunks and streamed to the
 * store while it fills, sealed at `targetBytes` and then verified (the store holds exactly the
 * bytes zstd produced, and zstd exited cleanly). Nothing may name a pack before finish() resolved:
 * until then it can be incomplete. abort() deletes every pack this writer started.
 */
export class PackWriter {
  private readonly packs: StoredPack[] = [];
  private readonly started: string[] = [];
  private readonly sealing: Promise<void>[] = [];
  private current: OpenPack | undefined;

  constructor(
    private readonly objects: ObjectStore,
    private readonly options: PackWriterOptions,
  ) {}

  /** Bytes of the stored packs so far. */
  get storedBytes(): number {
    return this.packs.reduce((n, p) => n + p.size, 0);
  }

  /** Appends a chunk; resolves with where it lies once it is in the current pack's stream. */
  async add(bytes: Buffer): Promise<{ key: string; offset: number }> {
    if (!this.current) this.current = this.open();
    const pack = this.current;
    const offset = pack.rawSize;
    pack.rawSize += bytes.length;
    await pack.write(bytes);
    if (pack.rawSize >= this.options.targetBytes) await this.seal();
    return { key: pack.key, offset };
  }

  /** Seals the last pack and waits for every pack to be stored and verified. */
  async finish(): Promise<StoredPack[]> {
    await this.seal();
    await Promise.all(this.sealing);
    return this.packs;
  }

  /** Stops every pack in progress and deletes all packs this writer wrote (best effort). */
  async abort(): Promise<void> {
    this.current?.kill();
    this.current = undefined;
    await Promise.allSettled(this.sealing);
    await Promise.all(
      this.started.map((key) =>
        this.objects.delete(key).catch((err: unknown) =>
          this.options.log("warn", `cannot delete pack ${key}; garbage collection takes it`, {
            err,
          }),
        ),
      ),
    );
  }

  private open(): OpenPack {
    const key = newPackKey(this.options.scope, this.options.now());
    this.started.push(key);
    return new OpenPack(this.objects, key, this.options);
  }

  private async seal(): Promise<void> {
    const pack = this.current;
    this.current = undefined;
    if (!pack) return;
    const stored = pack.seal().then((p) => {
      this.packs.push(p);
    });
    stored.catch(() => {});
    this.sealing.push(stored);
    // a failed pack fails the archive at once; otherwise wait while too many are in flight
    await Promise.all(
      this.sealing.slice(0, Math.max(0, this.sealing.length - MAX_SEALED_IN_FLIGHT)),
    );
  }
}

/** One pack being filled: zstd's stdin takes the chunks, its stdout goes to the store. */
class OpenPack {
  rawSize = 0;
  private readonly zstd: ChildProcess;
  private readonly exited: Promise<void>;
  private readonly uploaded: Promise<{ size: number }>;
  private produced = 0;

  constructor(
    private readonly objects: ObjectStore,
    readonly key: string,
    options: PackWriterOptions,
  ) {
    const zstdPath = options.zstdPath ?? "zstd";
    this.zstd = spawn(zstdPath, ["-q", "-c", `-${options.zstdLevel}`, "-T0", "-"], {
      env: minimalEnv(),
      stdio: ["pipe", "pipe", "pipe"],
    });
    let stderr = "";
    this.zstd.stderr?.setEncoding("utf8");
    this.zstd.stderr?.on("data", (s: string) => {
      if (stderr.length < 4096) stderr += s;
    });
    this.zstd.stdin?.on("error", () => {});
    this.exited = new Promise<void>((resolve, reject) => {
      this.zstd.on("error", (err) => reject(new Error(`cannot run ${zstdPath}: ${err.message}`)));
      this.zstd.on("close", (code, signal) =>
        code === 0
          ? resolve()
          : reject(
              new Error(
                `zstd failed on pack ${key} (${signal ?? `exit ${code}`}): ${stderr.trim()}`,
              ),
            ),
      );
    });
    this.exited.catch(() => {});
    const exited = this.exited;
    const counted = new Transform({
      transform: (chunk: Buffer, _enc, cb) => {
        this.produced += chunk.length;
        cb(null, chunk);
      },
      // the object may only be completed once zstd is known to have succeeded
      flush: (cb) => {
        exited.then(
          () => cb(),
          (err: Error) => cb(err),
        );
      },
    });
    // the failure reaches the writer through exited and uploaded; a store that already gave up
    // on the stream (a failed put) leaves no listener, and an unheard 'error' would crash the daemon
    counted.on("error", () => {});
    exited.catch((err: Error) => counted.destroy(err));
    const stdout = this.zstd.stdout;
    if (!stdout) throw new Error("zstd has no stdout");
    stdout.pipe(counted);
    this.uploaded = objects.put(key, counted, {
      signal: options.signal,
      contentType: "application/octet-stream",
    });
    this.uploaded.catch(() => {});
  }

  async write(bytes: Buffer): Promise<void> {
    const stdin = this.zstd.stdin;
    if (!stdin) throw new Error("zstd has no stdin");
    if (!stdin.write(bytes)) {
      await Promise.race([once(stdin, "drain"), this.exited.then(() => {}), this.uploaded]);
    }
  }

  async seal(): Promise<StoredPack> {
    this.zstd.stdin?.end();
    try {
      const [{ size }] = await Promise.all([this.uploaded, this.exited]);
      const head = await this.objects.head(this.key);
      if (size !== this.produced || head?.size !== this.produced) {
        throw new Error(
          `upload verification of pack ${this.key} failed: zstd produced ${this.produced} bytes, the store reports ${head?.size ?? "nothing"}`,
        );
      }
      return { key: this.key, rawSize: this.rawSize, size };
    } catch (err) {
      this.kill();
      throw err;
    }
  }

  kill(): void {
    if (this.zstd.exitCode === null && this.zstd.signalCode === null) this.zstd.kill("SIGKILL");
  }
}
