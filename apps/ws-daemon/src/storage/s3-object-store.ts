import { constants, createReadStream } from "node:fs";
import { type FileHandle, open } from "node:fs/promises";
import { Readable, Transform } from "node:stream";
import { finished } from "node:stream/promises";
import {
  AbortMultipartUploadCommand,
  CreateBucketCommand,
  DeleteObjectCommand,
  GetObjectCommand,
  HeadBucketCommand,
  HeadObjectCommand,
  ListMultipartUploadsCommand,
  ListObjectsV2Command,
  PutObjectCommand,
  S3Client,
  type S3ClientConfig,
} from "@aws-sdk/client-s3";
import { Upload } from "@aws-sdk/lib-storage";
import { type Clock, systemClock } from "../platform/index.js";
import {
  assertValidKey,
  type GetOptions,
  type ObjectInfo,
  ObjectNotFoundError,
  ObjectRangeError,
  ObjectSourceFileError,
  type ObjectStore,
  type PutOptions,
} from "./object-store.js";

export interface S3ObjectStoreConfig {
  /** e.g. "http://127.0.0.1:9000" for MinIO/moto, "https://storage.googleapis.com" for GCS interop; unset = AWS. */
  endpoint?: string | undefined;
  region: string;
  bucket: string;
  /** Path-style URLs (endpoint/bucket/key): needed by MinIO, Ceph RGW and most non-AWS servers. */
  forcePathStyle?: boolean | undefined;
  /** Static credentials; when unset the SDK's default chain applies (AWS_* env, profiles, IMDS...). */
  accessKeyId?: string | undefined;
  secretAccessKey?: string | undefined;
  sessionToken?: string | undefined;
  /** Create the bucket on first use if it does not exist. */
  createBucket?: boolean | undefined;
  /** Attempts per S3 request including the first (exponential backoff with jitter). Default 5. */
  maxAttempts?: number | undefined;
  /** Multipart part size in bytes (>= 5 MiB). Default 16 MiB. */
  partSize?: number | undefined;
  /** Parts uploaded in parallel; memory use is at most partSize * queueSize. Default 4. */
  queueSize?: number | undefined;
  /** Keys per ListObjectsV2 page (S3 caps it at 1000). */
  listPageSize?: number | undefined;
  /** putFile: larger files go up as a multipart upload, smaller ones in one PUT. Default 64 MiB. */
  singlePutMaxBytes?: number | undefined;
}

const MiB = 1024 * 1024;
/** Files up to this size go up as one streamed PutObject; larger ones as a multipart upload. */
const DEFAULT_SINGLE_PUT_MAX_BYTES = 64 * MiB;

/**
 * Objects in an S3-compatible bucket. Uploads go through lib-storage's Upload: bodies of unknown
 * length are cut into parts held in memory (bounded by partSize * queueSize), each part is an
 * individually retried request, and the object only appears when CompleteMultipartUpload (or the
 * single PutObject for small bodies) succeeds; a failed upload is aborted. Downloads resume with
 * a Range request (pinned to the object's ETag) when a connection drops mid-body.
 */
export class S3ObjectStore implements ObjectStore {
  readonly client: S3Client;
  private bucketReady: Promise<void> | undefined;
  private readonly maxAttempts: number;

  constructor(
    readonly config: S3ObjectStoreConfig,
    private readonly clock: Clock = systemClock,
  ) {
    this.maxAttempts = config.maxAttempts ?? 5;
    const clientConfig: S3ClientConfig = {
      region: config.region,
      ...(config.endpoint !== undefined ? { endpoint: config.endpoint } : {}),
      forcePathStyle: config.forcePathStyle ?? false,
      maxAttempts: this.maxAttempts,
      retryMode: "standard",
      // We verify sha256 ourselves; opting out of the SDK's default CRC trailers keeps
      // S3-compatible servers that do not implement them (GCS interop, older Ceph/MinIO) working.
      requestChecksumCalculation: "WHEN_REQUIRED",
      responseChecksumValidation: "WHEN_REQUIRED",
      requestHandler: { connectionTimeout: 10_000, requestTimeout: 120_000 },
    };
    if (config.accessKeyId && config.secretAccessKey) {
      clientConfig.credentials = {
        accessKeyId: config.accessKeyId,
        secretAccessKey: config.secretAccessKey,
        ...(config.sessionToken !== undefined ? { sessionToken: config.sessionToken } : {}),
      };
    }
    this.client = new S3Client(clientConfig);
  }

  describe(): string {
    return (
      `s3://${this.config.bucket}` + (this.config.endpoint ? ` at ${this.config.endpoint}` : "")
    );
  }

  /** Releases sockets; the store is unusable afterwards. */
  destroy(): void {
    this.client.destroy();
  }

  private ensureBucket(): Promise<void> {
    if (!this.config.createBucket) return Promise.resolve();
    this.bucketReady ??= (async () => {
      try {
        await this.client.send(new HeadBucketCommand({ Bucket: this.config.bucket }));
        return;
      } catch (err) {
        if (httpStatus(err) !== 404) throw err;
      }
      try {
        await this.client.send(
          new CreateBucketCommand({
            Bucket: this.config.bucket,
            CreateBucketConfiguration:
              this.config.region === "us-east-1"
                ? undefined
                : { LocationConstraint: this.config.region as never },
          }),
        );
      } catch (err) {
        const name = (err as Error).name;
        if (name !== "BucketAlreadyOwnedByYou" && name !== "BucketAlreadyExists") throw err;
      }
    })().catch((err: unknown) => {
      this.bucketReady = undefined;
      throw err;
    });
    return this.bucketReady;
  }

  async put(key: string, body: Readable, options: PutOptions = {}): Promise<{ size: number }> {
    assertValidKey(key);
    await this.ensureBucket();
    let size = 0;
    const counter = new Transform({
      transform(chunk: Buffer, _enc, cb) {
        size += chunk.length;
        cb(null, chunk);
      },
    });
    body.on("error", (err) => counter.destroy(err));
    body.pipe(counter);
    const upload = new Upload({
      client: this.client,
      params: {
        Bucket: this.config.bucket,
        Key: key,
        Body: counter,
        ContentType: options.contentType ?? "application/octet-stream",
      },
      partSize: Math.max(this.config.partSize ?? 16 * MiB, 5 * MiB),
      queueSize: this.config.queueSize ?? 4,
      leavePartsOnError: false,
    });
    const onAbort = () => void upload.abort().catch(() => {});
    if (options.signal?.aborted) onAbort();
    else options.signal?.addEventListener("abort", onAbort, { once: true });
    try {
      await upload.done();
    } catch (err) {
      body.destroy();
      throw err;
    } finally {
      options.signal?.removeEventListener("abort", onAbort);
    }
    return { size };
  }

  /**
   * A file's bytes as one PutObject whose body streams from the file with its length known (no
   * part buffered in memory, unlike put's multipart upload); larger files go through put. The
   * SDK does not retry a streamed body, so a failed attempt is retried here from a fresh read.
   */
  async putFile(key: string, file: string, options: PutOptions = {}): Promise<{ size: number }> {
    assertValidKey(key);
    await this.ensureBucket();
    const fh = await openRegularFile(file);
    try {
      const { size } = await fh.stat();
      // each attempt reads through a descriptor of its own (a stream's destroy() closes its
      // descriptor), opened through ours: the very file checked above, whatever the path names now
      const fromFile = () => createReadStream(`/proc/self/fd/${fh.fd}`, { highWaterMark: MiB });
      if (size > (this.config.singlePutMaxBytes ?? DEFAULT_SINGLE_PUT_MAX_BYTES)) {
        const body = fromFile();
        try {
          return await this.put(key, body, options);
        } finally {
          await settled(body);
        }
      }
      for (let attempt = 1; ; attempt++) {
        const body = fromFile();
        try {
          await this.client.send(
            new PutObjectCommand({
              Bucket: this.config.bucket,
              Key: key,
              Body: body,
              ContentLength: size,
              ContentType: options.contentType ?? "application/octet-stream",
            }),
            options.signal ? { abortSignal: options.signal } : {},
          );
          return { size };
        } catch (err) {
          if (options.signal?.aborted || attempt >= this.maxAttempts || !retryable(err)) throw err;
          await this.clock.sleep(Math.min(100 * 2 ** attempt, 5000), options.signal);
        } finally {
          await settled(body);
        }
      }
    } finally {
      await fh.close();
    }
  }

  async get(key: string, options: GetOptions = {}): Promise<Readable> {
    assertValidKey(key);
    const start = options.range?.start ?? 0;
    const end = options.range?.end;
    const first = await this.getRange(key, start, end, undefined, options.signal);
    return Readable.from(this.resumingBody(key, first, start, end, options.signal), {
      objectMode: false,
    });
  }

  private async getRange(
    key: string,
    start: number,
    end: number | undefined,
    etag: string | undefined,
    signal?: AbortSignal,
  ) {
    const range = start > 0 || end !== undefined ? `bytes=${start}-${end ?? ""}` : undefined;
    try {
      const res = await this.client.send(
        new GetObjectCommand({ Bucket: this.config.bucket, Key: key, Range: range, IfMatch: etag }),
        signal ? { abortSignal: signal } : {},
      );
      if (!res.Body) throw new Error(`GetObject ${key} returned no body`);
      // a server that ignored the Range header would hand us the object from its first byte
      if (range !== undefined && !res.ContentRange?.startsWith(`bytes ${start}-`)) {
        (res.Body as Readable).destroy();
        throw new ObjectRangeError(
          key,
          `asked for ${range}, answered ${res.ContentRange ?? "the whole object"}`,
        );
      }
      return { body: res.Body as Readable, etag: res.ETag };
    } catch (err) {
      if ((err as Error).name === "NoSuchKey" || httpStatus(err) === 404)
        throw new ObjectNotFoundError(key);
      if ((err as Error).name === "InvalidRange" || httpStatus(err) === 416)
        throw new ObjectRangeError(key, `range ${range} lies outside the object`);
      throw err;
    }
  }

  private async *resumingBody(
    key: string,
    first: { body: Readable; etag: string | undefined },
    start: number,
    end: number | undefined,
    signal?: AbortSignal,
  ): AsyncGenerator<Buffer> {
    let current = first;
    let pos = start;
    let failures = 0;
    for (;;) {
      try {
        for await (const chunk of current.body) {
          pos += (chunk as Buffer).length;
          failures = 0;
          if (end !== undefined && pos > end + 1) {
            throw new ObjectRangeError(key, `range ${start}-${end} answered with more bytes`);
          }
          yield chunk as Buffer;
        }
        // an object shorter than the range ends the body early (S3 answers what there is)
        if (end !== undefined && pos !== end + 1) {
          throw new ObjectRangeError(
            key,
            `range ${start}-${end} ends at ${pos}: the object is shorter`,
          );
        }
        return;
      } catch (err) {
        current.body.destroy();
        if (err instanceof ObjectRangeError || signal?.aborted || ++failures >= this.maxAttempts)
          throw err;
        if (end !== undefined && pos > end) return;
        await this.clock.sleep(Math.min(100 * 2 ** failures, 5000), signal);
        // IfMatch: if the object was replaced meanwhile, fail instead of splicing two versions
        current = await this.getRange(key, pos, end, current.etag, signal);
      }
    }
  }

  async head(key: string): Promise<ObjectInfo | undefined> {
    assertValidKey(key);
    try {
      const res = await this.client.send(
        new HeadObjectCommand({ Bucket: this.config.bucket, Key: key }),
      );
      return { key, size: res.ContentLength ?? 0, lastModified: res.LastModified ?? new Date(0) };
    } catch (err) {
      if (httpStatus(err) === 404 || (err as Error).name === "NotFound") return undefined;
      throw err;
    }
  }

  async delete(key: string): Promise<void> {
    assertValidKey(key);
    await this.client.send(new DeleteObjectCommand({ Bucket: this.config.bucket, Key: key }));
  }

  async sweepIncomplete(prefix: string, startedBefore: Date): Promise<number> {
    assertValidKey(prefix, { allowTrailingSlash: true });
    let removed = 0;
    let keyMarker: string | undefined;
    let uploadIdMarker: string | undefined;
    for (;;) {
      const res = await unlessNoBucket(() =>
        this.client.send(
          new ListMultipartUploadsCommand({
            Bucket: this.config.bucket,
            Prefix: prefix,
            KeyMarker: keyMarker,
            UploadIdMarker: uploadIdMarker,
          }),
        ),
      );
      if (!res) return removed;
      for (const u of res.Uploads ?? []) {
        if (!u.Key || !u.UploadId || !u.Initiated || u.Initiated >= startedBefore) continue;
        await this.client.send(
          new AbortMultipartUploadCommand({
            Bucket: this.config.bucket,
            Key: u.Key,
            UploadId: u.UploadId,
          }),
        );
        removed++;
      }
      if (!res.IsTruncated) return removed;
      keyMarker = res.NextKeyMarker;
      uploadIdMarker = res.NextUploadIdMarker;
    }
  }

  async *list(prefix: string): AsyncIterable<ObjectInfo> {
    assertValidKey(prefix, { allowTrailingSlash: true });
    let token: string | undefined;
    do {
      const res = await unlessNoBucket(() =>
        this.client.send(
          new ListObjectsV2Command({
            Bucket: this.config.bucket,
            Prefix: prefix,
            ContinuationToken: token,
            MaxKeys: this.config.listPageSize,
          }),
        ),
      );
      if (!res) return;
      for (const o of res.Contents ?? []) {
        if (o.Key)
          yield { key: o.Key, size: o.Size ?? 0, lastModified: o.LastModified ?? new Date(0) };
      }
      token = res.IsTruncated ? res.NextContinuationToken : undefined;
    } while (token);
  }
}

/** A listing's answer, or undefined when the bucket does not exist (so there is nothing to list). */
async function unlessNoBucket<T>(send: () => Promise<T>): Promise<T | undefined> {
  try {
    return await send();
  } catch (err) {
    if ((err as Error).name === "NoSuchBucket") return undefined;
    throw err;
  }
}

async function openRegularFile(file: string): Promise<FileHandle> {
  const fh = await open(file, constants.O_RDONLY | constants.O_NOFOLLOW).catch(
    (err: NodeJS.ErrnoException) => {
      throw err.code === "ELOOP" ? new ObjectSourceFileError(file, "is a symbolic link") : err;
    },
  );
  if (!(await fh.stat()).isFile()) {
    await fh.close();
    throw new ObjectSourceFileError(file, "not a regular file");
  }
  return fh;
}

/** Ends a body stream and waits until its descriptor is closed. */
async function settled(body: Readable): Promise<void> {
  body.destroy();
  await finished(body).catch(() => {});
}

/** Client errors (4xx but timeouts and throttling) come back the same however often sent. */
function retryable(err: unknown): boolean {
  const status = httpStatus(err);
  return status === undefined || status >= 500 || status === 408 || status === 429;
}

function httpStatus(err: unknown): number | undefined {
  return (err as { $metadata?: { httpStatusCode?: number } } | undefined)?.$metadata
    ?.httpStatusCode;
}
