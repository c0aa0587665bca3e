import { createHash, randomBytes } from "node:crypto";
import { createWriteStream } from "node:fs";
import { open, rename, rm } from "node:fs/promises";
import { basename, dirname, join } from "node:path";
import { Readable, Transform } from "node:stream";
import { pipeline } from "node:stream/promises";
import type { ReadableStream as WebReadableStream } from "node:stream/web";
import {
  type Clock,
  errorMessage,
  isDomainError,
  mkdirOwned,
  type Owner,
  retry,
} from "../platform/index.js";
import { ContentError } from "./content-error.js";
import { redactUrl } from "./initializer-spec.js";
import type { FetchLike } from "./ports.js";

export interface DownloadOptions {
  fetch: FetchLike;
  clock: Clock;
  url: string;
  /** `sha256:<hex>`, validated beforehand. */
  digest: string;
  /** Absolute destination, already confined to the workspace. */
  destination: string;
  signal?: AbortSignal;
  /** Total tries for transient failures (network errors, 5xx). */
  attempts?: number;
  retryDelayMs?: number;
  /** Per attempt: a server that never finishes must not hold the init forever. */
  timeoutMs?: number;
  /** Largest body accepted; more is refused while streaming (config `downloads.maxBytes`). */
  maxBytes?: number;
  /** The workspace user: the file and the directories created for it belong to it. */
  owner?: Owner;
}

/** Worth another attempt: a network error, a 5xx, a body that broke off, a timed-out attempt. */
class TransientDownloadError extends Error {}

const DEFAULT_TIMEOUT_MS = 10 * 60_000;
/** 4 GiB; the configuration's default of `downloads.maxBytes` (a config test keeps them equal). */
export const DEFAULT_DOWNLOAD_MAX_BYTES = 4 * 1024 ** 3;

const tooLarge = (shownUrl: string, what: string, maxBytes: number): ContentError =>
  new ContentError(
    "resource-exhausted",
    `download ${shownUrl}: ${what} the limit of ${maxBytes} bytes (downloads.maxBytes)`,
  );

/**
 * Streams the body to a hidden temp file next to the destination while hashing it, and renames
 * it into place only when the digest matches: the file never becomes visible unverified, and a
 * failure leaves nothing behind.
 */
export const downloadVerified = async (options: DownloadOptions): Promise<{ bytes: number }> => {
  const shownUrl = redactUrl(options.url);
  await mkdirOwned(dirname(options.destination), options.owner);
  let attempts = 0;
  try {
    return await retry(
      (attempt) => {
        attempts = attempt;
        return downloadOnce(options, shownUrl);
      },
      {
        attempts: Math.max(1, options.attempts ?? 3),
        delayMs: options.retryDelayMs ?? 500,
        backoff: "linear",
        clock: options.clock,
        signal: options.signal,
        retryable: (err) => err instanceof TransientDownloadError && !options.signal?.aborted,
      },
    );
  } catch (err) {
    if (err instanceof TransientDownloadError) {
      throw new ContentError("unavailable", `${err.message} (after ${attempts} attempts)`, {
        cause: err,
      });
    }
    throw err;
  }
};

const downloadOnce = async (
  outer: DownloadOptions,
  shownUrl: string,
): Promise<{ bytes: number }> => {
  const timeoutMs = outer.timeoutMs ?? DEFAULT_TIMEOUT_MS;
  const timeout = AbortSignal.timeout(timeoutMs);
  const signal = outer.signal ? AbortSignal.any([outer.signal, timeout]) : timeout;
  try {
    return await downloadWithSignal({ ...outer, signal }, shownUrl);
  } catch (err) {
    if (timeout.aborted && !outer.signal?.aborted) {
      throw new TransientDownloadError(`download ${shownUrl}: not complete within ${timeoutMs} ms`);
    }
    throw err;
  }
};

const downloadWithSignal = async (
  options: DownloadOptions & { signal: AbortSignal },
  shownUrl: string,
): Promise<{ bytes: number }> => {
  let response: Response;
  try {
    response = await options.fetch(options.url, { signal: options.signal });
  } catch (err) {
    if (options.signal.aborted) throw err;
    // The network policy (a refused address, too many redirects): another attempt cannot help.
    if (isDomainError(err)) {
      throw new ContentError(err.kind, `download ${shownUrl}: ${err.message}`, { cause: err });
    }
    throw new TransientDownloadError(`download ${shownUrl}: ${errorMessage(err)}`, {
      cause: err,
    });
  }
  if (response.status !== 200 || !response.body) {
    await response.body?.cancel().catch(() => undefined);
    const message = `download ${shownUrl}: server answered HTTP ${response.status}`;
    if (response.status >= 500) throw new TransientDownloadError(message);
    throw new ContentError(
      response.status === 404 || response.status === 410 ? "not-found" : "failed-precondition",
      message,
    );
  }

  const maxBytes = options.maxBytes ?? DEFAULT_DOWNLOAD_MAX_BYTES;
  const announced = Number(response.headers.get("content-length") ?? Number.NaN);
  if (announced > maxBytes) {
    await response.body.cancel().catch(() => undefined);
    throw tooLarge(shownUrl, `the server announces ${announced} bytes, more than`, maxBytes);
  }

  const destination = options.destination;
  const temp = join(
    dirname(destination),
    `.${basename(destination)}.download-${randomBytes(6).toString("hex")}`,
  );
  const hash = createHash("sha256");
  let bytes = 0;
  const hashing = new Transform({
    transform(chunk: Buffer, _encoding, callback) {
      bytes += chunk.length;
      // Counted as it streams: an endless body stops here, not at the timeout or the disk's end.
      if (bytes > maxBytes) {
        callback(tooLarge(shownUrl, "the body is larger than", maxBytes));
        return;
      }
      hash.update(chunk);
      callback(null, chunk);
    },
  });
  try {
    try {
      const body = Readable.fromWeb(response.body as unknown as WebReadableStream<Uint8Array>);
      await pipeline(body, hashing, createWriteStream(temp, { flags: "wx", mode: 0o644 }), {
        signal: options.signal,
      });
    } catch (err) {
      if (options.signal.aborted || err instanceof ContentError) throw err;
      throw new TransientDownloadError(`download ${shownUrl}: ${errorMessage(err)}`, {
        cause: err,
      });
    }
    // Durable before it becomes visible: a crash must not leave a verified name with lost data.
    const handle = await open(temp, "r");
    try {
      if (options.owner) await handle.chown(options.owner.uid, options.owner.gid);
      await handle.sync();
    } finally {
      await handle.close();
    }
    const actual = `sha256:${hash.digest("hex")}`;
    if (actual !== options.digest) {
      // The digest of what was fetched is not told: it would let a caller learn (or confirm a
      // guess of) what a URL serves without ever seeing it.
      throw new ContentError(
        "data-loss",
        `download ${shownUrl}: digest mismatch, the content is not ${options.digest}`,
      );
    }
    await rename(temp, destination);
    return { bytes };
  } catch (err) {
    await rm(temp, { force: true });
    throw err;
  }
};
