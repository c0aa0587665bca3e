import { type ChildProcess, spawn } from "node:child_process";
import path from "node:path";
import { createInterface } from "node:readline";
import { minimalEnv } from "../platform/index.js";
import { ArchiveFifo } from "./archive-fifo.js";
import type { SomeArchiveLimits } from "./archive-limits.js";
import { type ArchiveDeadline, reviveTarError, watchDeadline } from "./create-archive.js";
import type { PieceOptions } from "./file-pieces.js";
import { parseNativeChunkerLine } from "./native-chunker-report.js";
import { nativeWalkArgs, nativeWalkRefusal } from "./native-walk.js";
import type { TarJob, TarProgress } from "./tar-worker.js";
import { emptySummary, type TarWriteSummary } from "./tar-writer.js";
import { startWorkerJob } from "./worker-pool.js";

export type { NativeChunkEvent } from "./native-chunker-report.js";

/** How long a stopped chunker may take to exit before the caller goes on without it. */
const STUCK_EXIT_WAIT_MS = 2000;
const delay = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms).unref());

import type { NativeChunkEvent } from "./native-chunker-report.js";

export interface NativeChunkTreeOptions {
  /** The wsd-chunker binary (native/wsd-chunker.c). */
  chunkerPath: string;
  /** A private directory (0700, ours) the chunker writes its packs into. */
  packDir: string;
  /** A file of 32-byte chunk ids already stored (the chunker reports them as known). */
  knownIdsFile?: string | undefined;
  packTargetBytes: number;
  zstdLevel: number;
  /** Packs sealed and not yet acknowledged before the chunker waits (bounds disk and uploads). */
  maxSealedPacks: number;
  /** Mark large file bodies and runs of small entries as pieces, and skip reading the `reusable` ones. */
  pieces?: PieceOptions | undefined;
  /**
   * The chunker walks the tree itself (`--walk`, default): file bodies never pass through
   * JavaScript. False: the tar worker walks and writes the stream into a FIFO the chunker reads.
   */
  nativeWalk?: boolean | undefined;
  /** Compression threads of the chunker. Default 2. */
  threads?: number | undefined;
  idShift?: number | undefined;
  signal?: AbortSignal | undefined;
  limits?: SomeArchiveLimits | undefined;
  deadline?: ArchiveDeadline | undefined;
  onProgress?: ((p: { files: number; tarBytes: number }) => void) | undefined;
}

export interface NativeChunkedTree {
  /**
   * The chunker's report in stream order. It ends only once the whole tree was walked, chunked
   * and every pack sealed; any failure (the walk, a limit, the deadline, the signal, the chunker)
   * is thrown from it. Leaving it early stops the walk and the chunker.
   */
  events: AsyncGenerator<NativeChunkEvent, void, undefined>;
  /** Tells the chunker that one more sealed pack was uploaded (its file may be gone). */
  ack: () => void;
  /** Stops the walk and the chunker; `events` throws `err` (e.g. an upload failed). */
  fail: (err: unknown) => void;
  /** The walk's summary (entries, tar bytes, warnings), once `events` ended. */
  summary: () => TarWriteSummary;
}

/**
 * Cuts the tar stream of `dir` (exactly the stream create-archive.ts compresses) with the native
 * chunker: wsd-chunker walks the tree itself (native-walk.ts; or, with `nativeWalk: false`, the tar
 * worker writes the framed stream into a FIFO it reads), cuts, hashes, deduplicates and
 * compresses (one zstd frame per new chunk) into pack files in `packDir`. The event loop only
 * reads its report lines.
 */
export function chunkTreeNatively(dir: string, options: NativeChunkTreeOptions): NativeChunkedTree {
  const summary = emptySummary();
  const queue: NativeChunkEvent[] = [];
  let wake: (() => void) | undefined;
  const wakeUp = () => {
    const w = wake;
    wake = undefined;
    w?.();
  };
  let ended = false;
  let failure: unknown;
  let lastProgress = 0;
  let endLine: { dataBytes: number; reusedBytes: number } | undefined;
  const nativeWalk = options.nativeWalk ?? true;
  let walked: TarWriteSummary | undefined;
  const fifo = nativeWalk ? undefined : new ArchiveFifo();
  const source = fifo
    ? ["--input", fifo.path]
    : nativeWalkArgs(dir, {
        idShift: options.idShift,
        limits: options.limits,
        pieces: options.pieces,
        workDir: options.packDir,
        startedMs: Date.now(),
      });
  const args = [
    ...source,
    "--pack-dir",
    options.packDir,
    "--pack-target",
    String(options.packTargetBytes),
    "--level",
    String(options.zstdLevel),
    "--threads",
    String(options.threads ?? 2),
    "--max-sealed",
    String(options.maxSealedPacks),
    ...(options.knownIdsFile ? ["--known", options.knownIdsFile] : []),
  ];
  const child: ChildProcess = spawn(options.chunkerPath, args, {
    env: minimalEnv(),
    stdio: ["pipe", "pipe", "pipe"],
  });
  let stderr = "";
  child.stderr?.setEncoding("utf8");
  child.stderr?.on("data", (s: string) => {
    if (stderr.length < 4096) stderr += s;
  });
  child.stdin?.on("error", () => {});
  const exited = new Promise<void>((resolve, reject) => {
    child.on("error", (err) =>
      reject(new Error(`cannot run ${path.basename(options.chunkerPath)}: ${err.message}`)),
    );
    child.on("close", (code, signal) =>
      code === 0
        ? resolve()
        : reject(
            (nativeWalk && code === 1 && nativeWalkRefusal(stderr)) ||
              new Error(
                `the native chunker failed (${signal ?? `exit ${code}`}): ${stderr.trim()}`,
              ),
          ),
    );
  });
  exited.catch(() => {});
  const stdout = child.stdout;
  if (!stdout) throw new Error("the native chunker has no stdout");
  const lines = createInterface({ input: stdout, crlfDelay: Number.POSITIVE_INFINITY });
  lines.on("line", (line) => {
    if (failure !== undefined || ended) return;
    try {
      const event = parseNativeChunkerLine(line, options.packDir);
      if (event.kind === "end") {
        if (endLine) throw new Error("the native chunker reported its end twice");
        endLine = event;
        return;
      }
      if (endLine) throw new Error("the native chunker reported after its end");
      if (event.kind === "walking" || event.kind === "warning" || event.kind === "walked") {
        if (!nativeWalk || walked)
          throw new Error(`the native chunker reported ${event.kind} unasked`);
        if (event.kind === "warning") summary.warnings.push(event.text);
        else if (event.kind === "walking") onWalkProgress(event);
        else {
          const { kind: _, ...counts } = event;
          walked = { ...counts, warnings: summary.warnings };
        }
        return;
      }
      queue.push(event);
      wakeUp();
    } catch (err) {
      stop(err);
    }
  });
  const reported = new Promise<void>((resolve) => lines.once("close", resolve));

  function onWalkProgress(p: TarProgress): void {
    summary.entries = p.entries;
    summary.bytes = p.bytes;
    summary.plannedBytes = p.plannedBytes;
    const now = Date.now();
    if (options.onProgress && now - lastProgress >= 200) {
      lastProgress = now;
      options.onProgress({ files: p.entries, tarBytes: p.bytes });
    }
  }
  const walking = fifo ? startTarWorker(dir, fifo, options, onWalkProgress) : undefined;
  const bothDone = Promise.allSettled([walking?.done, exited]);
  const stop = (err: unknown) => {
    if (ended || failure !== undefined) return;
    failure = err;
    if (child.exitCode === null && child.signalCode === null) child.kill("SIGKILL");
    walking?.terminate();
    void fifo?.removeWhen(bothDone);
    wakeUp();
  };
  // the native walk's summary is its last line before the end
  const walkDone = walking?.done ?? reportedSummary();
  async function reportedSummary(): Promise<TarWriteSummary> {
    await Promise.all([exited, reported]);
    if (!walked) throw new Error("the native chunker ended without its walk's summary");
    return walked;
  }
  const onAbort = () => stop(options.signal?.reason ?? new Error("aborted"));
  const stopDeadline = options.deadline
    ? watchDeadline(options.deadline, dir, summary, stop)
    : () => {};
  // only the walk, the chunker and its report all ending well, with every byte the walk wrote
  // chunked, is the whole tree
  Promise.all([walkDone, exited, reported]).then(
    ([s]) => {
      Object.assign(summary, s);
      if (!endLine) {
        stop(new Error("the native chunker ended without reporting its end"));
        return;
      }
      // the walk counts the bytes of reused chunks (files it did not read) as written too
      const streamBytes = endLine.dataBytes + endLine.reusedBytes;
      if (streamBytes !== s.bytes) {
        stop(new Error(`chunked ${streamBytes} of the ${s.bytes} tar bytes written`));
        return;
      }
      ended = true;
      wakeUp();
    },
    (err: unknown) => {
      // the walk's write failing with EPIPE means the chunker stopped reading: its own error
      // (a full disk, a malformed stream) is the one that tells why
      if ((err as NodeJS.ErrnoException).code !== "EPIPE") return stop(err);
      exited.then(
        () => stop(err),
        (chunkerErr: unknown) => stop(chunkerErr),
      );
    },
  );

  async function* events(): AsyncGenerator<NativeChunkEvent, void, undefined> {
    if (options.signal?.aborted) onAbort();
    else options.signal?.addEventListener("abort", onAbort, { once: true });
    try {
      for (;;) {
        if (failure !== undefined) throw failure;
        const next = queue.shift();
        if (next) {
          yield next;
          continue;
        }
        if (ended) return;
        await new Promise<void>((resolve) => {
          wake = resolve;
        });
      }
    } finally {
      stop(new Error("chunking was stopped before the end of the tree"));
      stopDeadline();
      options.signal?.removeEventListener("abort", onAbort);
      // the process is gone (or going) before the caller removes its pack directory. A walk stuck
      // in a read that never returns (a FUSE file) cannot die before the read does: SIGKILL is
      // pending, so it writes nothing more, and the backup must not wait for it for good
      await Promise.race([bothDone, delay(STUCK_EXIT_WAIT_MS)]);
    }
  }
  return {
    events: events(),
    ack: () => {
      child.stdin?.write("ack\n");
    },
    fail: (err) => stop(err),
    summary: () => summary,
  };
}

/** The JavaScript walk, writing the framed stream into the FIFO the chunker reads. */
function startTarWorker(
  dir: string,
  fifo: ArchiveFifo,
  options: NativeChunkTreeOptions,
  onProgress: (p: TarProgress) => void,
) {
  const tarJob: TarJob = {
    root: dir,
    fifo: fifo.path,
    idShift: options.idShift,
    limits: options.limits,
    framed: true,
    pieces: options.pieces,
  };
  return startWorkerJob<TarProgress, TarWriteSummary>("tar-worker", tarJob, {
    // a FIFO opens only with both ends: the chunker has its end, nobody needs the name any more
    onOpened: () => fifo.remove(),
    onProgress,
    reviveError: reviveTarError,
  });
}
