import { createHash, randomBytes } from "node:crypto";
import { createWriteStream } from "node:fs";
import { mkdir, open, rename, rm } from "node:fs/promises";
import { basename, dirname, join } from "node:path";
import { Readable, Transform } from "node:stream";
import { pipeline } from "node:stream/promises";
import type { ReadableStream as WebReadableStream } from "node:stream/web";
import { type Clock, errorMessage, retry } from "../platform/index.js";
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
}

/** Worth another attempt: a network error, a 5xx, a body that broke off, a timed-out attempt. */
class TransientDownloadError extends Error {}

const DEFAULT_TIMEOUT_MS = 10 * 60_000;

/**
 * Streams the body to a hidden temp file next to the destination while hashing it, and renames
 * it into place only when the digest matches: the file never becomes visible unverified, and a
 * failure leaves nothing behind.
 */
export const downloadVerified = async (options: DownloadOptions): Promise<{ bytes: number }> => {
  const shownUrl = redactUrl(options.url);
  await mkdir(dirname(options.destination), { recursive: true, mode: 0o755 });
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

  const destination = options.destination;
  const temp = join(
    dirname(destination),
    `.${basename(destination)}.download-${randomBytes(6).toString("hex")}`,
  );
  const hash = createHash("sha256");
  let bytes = 0;
  const hashing = new Transform({
    transform(chunk: Buffer, _encoding, callback) {
      hash.update(chunk);
      bytes += chunk.length;
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
      if (options.signal.aborted) throw err;
      throw new TransientDownloadError(`download ${shownUrl}: ${errorMessage(err)}`, {
        cause: err,
      });
    }
    // Durable before it becomes visible: a crash must not leave a verified name with lost data.
    const handle = await open(temp, "r");
    try {
      await handle.sync();
    } finally {
      await handle.close();
    }
    const actual = `sha256:${hash.digest("hex")}`;
    if (actual !== options.digest) {
      throw new ContentError(
        "data-loss",
        `download ${shownUrl}: digest mismatch, expected ${options.digest}, got ${actual}`,
      );
    }
    await rename(temp, destination);
    return { bytes };
  } catch (err) {
    await rm(temp, { force: true });
    throw err;
  }
};
