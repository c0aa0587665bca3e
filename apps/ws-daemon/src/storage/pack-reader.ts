import { type ChildProcess, spawn } from "node:child_process";
import type { FileHandle } from "node:fs/promises";
import { Writable } from "node:stream";
import { pipeline } from "node:stream/promises";
import { ContentCorruptError, minimalEnv } from "../platform/index.js";
import { ObjectNotFoundError, type ObjectStore } from "./object-store.js";

export interface PackToRead {
  key: string;
  /** What the index says the pack decompresses to: the most that is read. */
  rawSize: number;
  /** What the index says the pack object holds. */
  size: number;
}

/**
 * Downloads a pack and decompresses it with a `zstd -d` process of its own (several packs load at
 * once on several cores). The output is bounded by the declared raw size: a pack that
 * decompresses to more or less, does not decompress, or is missing is ContentCorruptError. Its
 * chunks are verified by their hashes by the caller; this only bounds what it may cost.
 */
export async function loadPack(
  objects: ObjectStore,
  pack: PackToRead,
  options: LoadPackOptions,
): Promise<{ raw: Buffer; storedBytes: number }> {
  for (let attempt = 1; ; attempt++) {
    try {
      return await loadPackOnce(objects, pack, options);
    } catch (err) {
      // A zstd whose output ended short and whose exit never reached us ("Known issue" in
      // docs/chunked-backups.md) says nothing about the pack: read it once more. A pack that is
      // really damaged fails the same way again, with its exit status.
      if (!(err instanceof LostPackRead) || attempt >= LOST_READ_ATTEMPTS) throw err;
    }
  }
}

export interface LoadPackOptions {
  signal?: AbortSignal | undefined;
  zstdPath?: string | undefined;
}

const LOST_READ_ATTEMPTS = 3;

/** A pack read whose zstd ended its output short and never reported an exit status. */
class LostPackRead extends ContentCorruptError {}

async function loadPackOnce(
  objects: ObjectStore,
  pack: PackToRead,
  options: LoadPackOptions,
): Promise<{ raw: Buffer; storedBytes: number }> {
  // on a store of local files zstd reads the pack's file itself (as `zstd -d < file` does):
  // only the decompressed bytes pass through this process
  let source: { file: FileHandle; size: number } | { stream: NodeJS.ReadableStream };
  try {
    if (objects.files) {
      const file = await objects.files.open(pack.key);
      source = { file, size: (await file.stat()).size };
    } else {
      source = { stream: await objects.get(pack.key, { signal: options.signal }) };
    }
  } catch (err) {
    if (err instanceof ObjectNotFoundError) {
      throw new ContentCorruptError(`index names pack ${pack.key}, which is missing`);
    }
    throw err;
  }
  let zstd: ChildProcess;
  try {
    zstd = spawn(options.zstdPath ?? "zstd", ["-q", "-d", "-c", "-"], {
      env: minimalEnv(),
      stdio: ["file" in source ? source.file.fd : "pipe", "pipe", "pipe"],
    });
  } finally {
    // the child holds its own copy of the descriptor
    if ("file" in source) await source.file.close();
  }
  const { stdout, stderr: stderrPipe } = zstd;
  if (!stdout || !stderrPipe) throw new Error("zstd was started without its pipes");
  let stderr = "";
  stderrPipe.setEncoding("utf8");
  stderrPipe.on("data", (s: string) => {
    if (stderr.length < 4096) stderr += s;
  });
  zstd.stdin?.on("error", () => {});
  // 'exit' is recorded apart from 'close' (which also waits for the pipes) for the diagnosis
  let exitEvent = "none";
  zstd.on("exit", (code, signal) => {
    exitEvent = signal ?? String(code);
  });
  const exited = new Promise<number | null>((resolve, reject) => {
    zstd.on("error", reject);
    zstd.on("close", (code) => resolve(code));
  });
  const raw = Buffer.allocUnsafe(pack.rawSize);
  let filled = 0;
  let overflow = false;
  const collect = new Writable({
    write(chunk: Buffer, _enc, cb) {
      if (filled + chunk.length > raw.length) {
        overflow = true;
        cb(new ContentCorruptError(`pack ${pack.key} decompresses to more than its index says`));
        return;
      }
      chunk.copy(raw, filled);
      filled += chunk.length;
      cb();
    },
  });
  let storedBytes = "file" in source ? source.size : 0;
  const stdin = zstd.stdin;
  const feed =
    "stream" in source && stdin
      ? pipeline(
          source.stream as AsyncIterable<Buffer>,
          async function* (chunks: AsyncIterable<Buffer>) {
            for await (const b of chunks) {
              storedBytes += b.length;
              yield b;
            }
          },
          stdin,
        )
      : Promise.resolve();
  const drain = pipeline(stdout, collect);
  // zstd closed its output, so it is done. Rarely, on a loaded machine, Node never hears of its
  // exit (docs/chunked-backups.md, "Known issue"); the exit status is only a diagnosis here,
  // because every chunk's sha256 is verified before use, so do not wait for it forever.
  const status = drain.then(
    () => Promise.race([exited, silentAfter(EXIT_STATUS_WAIT_MS)]),
    () => exited,
  );
  try {
    const [fed, drained, code] = await Promise.allSettled([feed, drain, status]);
    if (overflow)
      throw new ContentCorruptError(`pack ${pack.key} decompresses to more than its index says`);
    if (fed.status === "rejected" && (fed.reason as NodeJS.ErrnoException).code !== "EPIPE") {
      throw fed.reason;
    }
    if (code.status === "rejected") throw code.reason;
    if (code.value !== 0 && code.value !== NO_EXIT_STATUS) {
      throw new ContentCorruptError(`pack ${pack.key} cannot be decompressed: ${stderr.trim()}`);
    }
    if (drained.status === "rejected") throw drained.reason;
    if (filled !== pack.rawSize || storedBytes !== pack.size) {
      const message = `pack ${pack.key} does not match its index (${storedBytes} stored bytes decompressing to ${filled}; expected ${pack.size} to ${pack.rawSize}; zstd pid ${zstd.pid}, status ${code.value}, exit event ${exitEvent}${stderr ? `: ${stderr.trim()}` : ""})`;
      if (code.value === NO_EXIT_STATUS && storedBytes === pack.size) {
        throw new LostPackRead(message);
      }
      throw new ContentCorruptError(message);
    }
    return { raw, storedBytes };
  } finally {
    if (zstd.exitCode === null && zstd.signalCode === null) zstd.kill("SIGKILL");
  }
}

const EXIT_STATUS_WAIT_MS = 5000;
const NO_EXIT_STATUS = "no exit status";

function silentAfter(ms: number): Promise<typeof NO_EXIT_STATUS> {
  return new Promise((resolve) => setTimeout(() => resolve(NO_EXIT_STATUS), ms).unref());
}
