import type { FileHandle } from "node:fs/promises";
import { Readable } from "node:stream";
import { DomainError } from "../platform/index.js";

export interface ObjectInfo {
  key: string;
  size: number;
  lastModified: Date;
}

export interface PutOptions {
  signal?: AbortSignal | undefined;
  contentType?: string | undefined;
}

export interface GetOptions {
  signal?: AbortSignal | undefined;
  /**
   * Inclusive byte range; `end` defaults to the last byte. A range that does not lie inside the
   * object is ObjectRangeError (before or while reading), never a short body.
   */
  range?: { start: number; end?: number | undefined } | undefined;
}

/**
 * The few object operations archive storage needs. Keys are "/"-separated relative paths whose
 * segments match OBJECT_KEY_SEGMENT; backends refuse anything else, so no key can escape the store.
 * `put` makes an object visible atomically and only when the body ended successfully: a failed or
 * aborted put leaves no object (and never a partial one) under `key`.
 */
export interface ObjectStore {
  /** Stores a body of unknown length; resolves with the bytes stored. */
  put(key: string, body: Readable, options?: PutOptions): Promise<{ size: number }>;
  /** Throws ObjectNotFoundError if the key does not exist. */
  get(key: string, options?: GetOptions): Promise<Readable>;
  head(key: string): Promise<ObjectInfo | undefined>;
  /** Idempotent: deleting a missing key succeeds. */
  delete(key: string): Promise<void>;
  /** All objects whose key starts with `prefix`, in no particular order. */
  list(prefix: string): AsyncIterable<ObjectInfo>;
  /** Human-readable location for logs and errors, e.g. "s3://bucket" or "file:///var/lib/wsd". */
  describe(): string;
  /**
   * Present on stores whose objects are local files: archives then go straight between zstd and
   * the file (as `tar | zstd > file` does) instead of through a stream on the event loop.
   */
  readonly files?: LocalObjectFiles;
  /**
   * Removes what writers that died left behind under `prefix` and started before `startedBefore`:
   * temp files of the local store, unfinished multipart uploads on S3. Resolves with how many.
   */
  sweepIncomplete?(prefix: string, startedBefore: Date): Promise<number>;
  /**
   * Present on stores that can take a whole file without it passing through the event loop
   * (a rename or an in-kernel copy locally, a streamed PUT of known length on S3). Same commit
   * semantics as put: the object appears atomically, and only once it is durable. `file` must
   * be a regular file that nobody writes any more; a link there is refused. It may be moved
   * into the store: afterwards the caller only removes what is left at `file` (if anything).
   */
  putFile?(key: string, file: string, options?: PutOptions): Promise<{ size: number }>;
}

export interface LocalObjectFiles {
  /** Opens an object's file for reading; throws ObjectNotFoundError if there is none. */
  open(key: string): Promise<FileHandle>;
  /** Starts a new object written through a file; nothing is visible under `key` before commit(). */
  create(key: string): Promise<LocalObjectWriter>;
  /**
   * This process's private (0700) staging directory on the store's file system: files made in
   * it (in a directory of their own) reach putFile as a rename. Never listed as objects.
   */
  staging?(): Promise<string>;
}

export interface LocalObjectWriter {
  /** Empty, open for reading and writing. */
  readonly file: FileHandle;
  /** Tells of bytes written so far (a speed-up only: starts their writeback early). */
  wrote(bytes: number): void;
  /** Makes the file durable and publishes it atomically under the key; closes the file. */
  commit(): Promise<{ size: number }>;
  /** Closes and removes the file, if not committed; idempotent. */
  abort(): Promise<void>;
}

export class ObjectNotFoundError extends DomainError {
  override name = "ObjectNotFoundError";
  constructor(readonly key: string) {
    super("not-found", `object ${key} does not exist`);
  }
}

/** A byte range outside the object (e.g. an index naming bytes of a pack that it does not have). */
export class ObjectRangeError extends DomainError {
  override name = "ObjectRangeError";
  constructor(
    readonly key: string,
    message: string,
  ) {
    super("failed-precondition", `object ${key}: ${message}`);
  }
}

/** A file given to putFile that is not a plain file of its own (a link, a directory, linked twice). */
export class ObjectSourceFileError extends DomainError {
  override name = "ObjectSourceFileError";
  constructor(
    readonly file: string,
    message: string,
  ) {
    super("failed-precondition", `${file}: ${message}`);
  }
}

/** Keys are built from validated ids, so a bad one is our bug: internal. */
export class InvalidObjectKeyError extends DomainError {
  override name = "InvalidObjectKeyError";
  constructor(message: string) {
    super("internal", message);
  }
}

/** Segment alphabet of object keys: portable across S3, GCS, Ceph and local file systems. */
export const OBJECT_KEY_SEGMENT = /^[A-Za-z0-9_][A-Za-z0-9._-]{0,254}$/;

/** Throws InvalidObjectKeyError unless every segment of `key` is a plain name (no "", ".", ".."). */
export function assertValidKey(key: string, { allowTrailingSlash = false } = {}): void {
  const body = allowTrailingSlash && key.endsWith("/") ? key.slice(0, -1) : key;
  if (body === "" && allowTrailingSlash) return;
  const segments = body.split("/");
  if (key.length > 1024 || segments.some((s) => !OBJECT_KEY_SEGMENT.test(s))) {
    throw new InvalidObjectKeyError(`invalid object key ${JSON.stringify(key)}`);
  }
}

export async function putBytes(
  store: ObjectStore,
  key: string,
  bytes: Buffer,
  options?: PutOptions,
) {
  return store.put(key, Readable.from([bytes]), options);
}

export async function getBytes(
  store: ObjectStore,
  key: string,
  options?: GetOptions,
): Promise<Buffer> {
  const chunks: Buffer[] = [];
  for await (const c of await store.get(key, options)) chunks.push(c as Buffer);
  return Buffer.concat(chunks);
}

/** getBytes, or undefined when the key does not exist (e.g. a manifest not written yet). */
export async function getBytesIfExists(
  store: ObjectStore,
  key: string,
  options?: GetOptions,
): Promise<Buffer | undefined> {
  try {
    return await getBytes(store, key, options);
  } catch (err) {
    if (err instanceof ObjectNotFoundError) return undefined;
    throw err;
  }
}

/**
 * Exactly `length` bytes of `key` from `start` (one ranged GET). A store that answers with fewer
 * or more bytes is ObjectRangeError: a short read is never taken for the range.
 */
export async function getRange(
  store: ObjectStore,
  key: string,
  start: number,
  length: number,
  options: { signal?: AbortSignal | undefined } = {},
): Promise<Buffer> {
  if (length <= 0) throw new ObjectRangeError(key, `empty range at ${start}`);
  const out = Buffer.allocUnsafe(length);
  let filled = 0;
  const body = await store.get(key, {
    range: { start, end: start + length - 1 },
    signal: options.signal,
  });
  for await (const c of body) {
    const chunk = c as Buffer;
    if (filled + chunk.length > length) {
      body.destroy();
      throw new ObjectRangeError(key, `range ${start}+${length} answered with more bytes`);
    }
    chunk.copy(out, filled);
    filled += chunk.length;
  }
  if (filled !== length) {
    throw new ObjectRangeError(key, `range ${start}+${length} answered with ${filled} bytes`);
  }
  return out;
}
