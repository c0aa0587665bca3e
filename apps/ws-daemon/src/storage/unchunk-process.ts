import { spawn } from "node:child_process";
import { accessSync, closeSync, constants } from "node:fs";
import path from "node:path";
import type { Writable } from "node:stream";
import { fileURLToPath } from "node:url";
import type { TarFeeder } from "../archive/index.js";
import type { ChunkIndex } from "../chunks/index.js";
import { ContentCorruptError, minimalEnv } from "../platform/index.js";
import type { ChunkRecord } from "./chunk-records.js";

/** Record header of native/wsd-unchunk.c: kind, payload bytes, raw bytes, reserved, sha256. */
const HEADER_BYTES = 48;
const KIND = { frame: 1, raw: 2, file: 3 } as const;
/** Payload of a "file" record: descriptor, frame bytes, offset (u64). */
const FILE_RECORD_BYTES = 16;
/** Exit codes of wsd-unchunk. */
const EXIT_CORRUPT = 3;
const EXIT_READER_GONE = 5;

/**
 * The unchunk helper (native/wsd-unchunk.c), if built: `configured`, else $WSD_UNCHUNK, else
 * beside the bundle (dist/../native or dist/../native/build) or beside the sources. Undefined when
 * none is an executable file: restores then verify chunks in this process (readChunks).
 */
export function findUnchunkHelper(configured?: string): string | undefined {
  const candidates = configured
    ? [configured]
    : [
        process.env.WSD_UNCHUNK,
        // the image puts native/build's programs into native/ beside dist/
        path.resolve(path.dirname(process.argv[1] ?? "."), "..", "native", "wsd-unchunk"),
        path.resolve(path.dirname(process.argv[1] ?? "."), "..", "native", "build", "wsd-unchunk"),
        fileURLToPath(new URL("../../native/build/wsd-unchunk", import.meta.url)),
      ];
  for (const candidate of candidates) {
    if (!candidate) continue;
    try {
      accessSync(candidate, constants.X_OK);
      return candidate;
    } catch {
      // not there: the next one
    }
  }
  return undefined;
}

/**
 * Feeds the extractor's FIFO through wsd-unchunk: the records go to its stdin, and it writes each
 * chunk into the FIFO only after the chunk's length and sha256 matched the index, so the chunks'
 * bytes never pass through this process (only frames of framed packs do, unless the helper reads
 * them from `packFiles`: descriptors it inherits as 3, 4, ... for "file" records). A chunk that
 * fails is ContentCorruptError; nothing of it reaches the extractor.
 */
export function unchunkFeeder(
  helper: string,
  index: ChunkIndex,
  records: AsyncIterable<ChunkRecord>,
  packFiles: readonly number[] = [],
): TarFeeder {
  return (writeEnd, workerOpened, stop) => {
    let closed = false;
    const close = () => {
      if (closed) return;
      closed = true;
      closeSync(writeEnd);
    };
    const child = spawn(helper, packFiles.length > 0 ? ["--files", String(packFiles.length)] : [], {
      env: minimalEnv(),
      stdio: ["pipe", writeEnd, "pipe", ...packFiles],
    });
    // the helper holds its own copy; ours only keeps the FIFO open for the worker's open()
    workerOpened.then(close, close);
    const kill = () => {
      if (child.exitCode === null && child.signalCode === null) child.kill("SIGKILL");
    };
    stop.addEventListener("abort", kill, { once: true });
    let stderr = "";
    child.stderr?.setEncoding("utf8");
    child.stderr?.on("data", (s: string) => {
      if (stderr.length < 4096) stderr += s;
    });
    const exited = new Promise<void>((resolve, reject) => {
      child.on("error", (err) => reject(new Error(`cannot run ${helper}: ${err.message}`)));
      child.on("close", (code, signal) => {
        if (code === 0) resolve();
        else if (code === EXIT_CORRUPT)
          reject(new ContentCorruptError(`archive chunk refused: ${stderr.trim()}`));
        else if (code === EXIT_READER_GONE)
          reject(Object.assign(new Error("the extractor stopped reading"), { code: "EPIPE" }));
        else reject(new Error(`${helper} failed (${signal ?? `exit ${code}`}): ${stderr.trim()}`));
      });
    });
    exited.catch(() => {});
    const stdin = child.stdin;
    if (!stdin) throw new Error("wsd-unchunk was started without its stdin");
    // a dead helper makes our writes fail with EPIPE; `exited` tells why it died
    stdin.on("error", () => {});
    const feeding = (async () => {
      try {
        for await (const record of records) {
          stop.throwIfAborted();
          const chunk = index.chunks[record.chunk];
          if (!chunk)
            throw new ContentCorruptError(`record of chunk ${record.chunk} outside the index`);
          const payload = record.kind === "file" ? fileRecord(record) : record.payload;
          const header = Buffer.alloc(HEADER_BYTES);
          header.writeUInt32LE(KIND[record.kind], 0);
          header.writeUInt32LE(payload.length, 4);
          header.writeUInt32LE(chunk.length, 8);
          header.write(chunk.sha256, 16, "hex");
          stdin.write(header);
          if (!stdin.write(payload)) await drained(stdin);
        }
        stdin.end();
      } catch (err) {
        stdin.destroy();
        kill();
        throw err;
      }
    })();
    const fed = Promise.allSettled([feeding, exited]).then(([feedOutcome, exitOutcome]) => {
      if (exitOutcome.status === "rejected" && exitOutcome.reason instanceof ContentCorruptError)
        throw exitOutcome.reason;
      if (feedOutcome.status === "rejected" && !isBrokenPipe(feedOutcome.reason))
        throw feedOutcome.reason;
      if (exitOutcome.status === "rejected") throw exitOutcome.reason;
      if (feedOutcome.status === "rejected") throw feedOutcome.reason;
    });
    fed.catch(() => {}).finally(() => stop.removeEventListener("abort", kill));
    return { fed, close };
  };
}

function fileRecord(record: Extract<ChunkRecord, { kind: "file" }>): Buffer {
  const payload = Buffer.alloc(FILE_RECORD_BYTES);
  payload.writeUInt32LE(record.fd, 0);
  payload.writeUInt32LE(record.length, 4);
  payload.writeBigUInt64LE(BigInt(record.offset), 8);
  return payload;
}

/** Waits until `stream` can take more, or failed or closed (then the next write reports why). */
function drained(stream: Writable): Promise<void> {
  return new Promise((resolve, reject) => {
    const done = (err?: Error) => {
      stream.off("drain", onDrain);
      stream.off("close", onClose);
      stream.off("error", done);
      if (err) reject(err);
      else resolve();
    };
    const onDrain = () => done();
    const onClose = () =>
      done(Object.assign(new Error("wsd-unchunk closed its input"), { code: "EPIPE" }));
    stream.on("drain", onDrain);
    stream.on("close", onClose);
    stream.on("error", done);
  });
}

const isBrokenPipe = (err: unknown) => {
  const code = (err as NodeJS.ErrnoException | undefined)?.code;
  return (
    code === "EPIPE" || code === "ERR_STREAM_DESTROYED" || code === "ERR_STREAM_WRITE_AFTER_END"
  );
};
