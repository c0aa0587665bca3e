import { type ChildProcess, spawn } from "node:child_process";
import type { Readable, Writable } from "node:stream";
import { minimalEnv } from "../platform/index.js";

/**
 * zstd runs as the `zstd` CLI connected by pipes. Node 20 has no zstd in node:zlib; the CLI is in
 * every distro (Debian: package `zstd`), multi-threaded with -T0, runs on another core than the
 * event loop, and needs no native addon build. Data only ever flows through the pipes.
 */
export class ZstdProcess {
  /** A pipe, unless the input is a file descriptor or path given to the constructor. */
  readonly stdin: Writable | null;
  /** A pipe, unless the output is a file descriptor given to the constructor. */
  readonly stdout: Readable | null;
  /** Resolves when zstd exited with 0; rejects with its stderr otherwise. */
  readonly exited: Promise<void>;
  private readonly child: ChildProcess;

  private constructor(
    args: string[],
    zstdPath: string,
    stdin: "pipe" | "ignore" | number = "pipe",
    stdout: "pipe" | number = "pipe",
  ) {
    this.child = spawn(zstdPath, args, {
      env: minimalEnv(),
      stdio: [stdin, stdout, "pipe"],
    });
    this.stdin = this.child.stdin;
    this.stdout = this.child.stdout;
    let stderr = "";
    this.child.stderr?.setEncoding("utf8");
    this.child.stderr?.on("data", (s: string) => {
      if (stderr.length < 4096) stderr += s;
    });
    this.exited = new Promise((resolve, reject) => {
      this.child.on("error", (err) => reject(new Error(`cannot run ${zstdPath}: ${err.message}`)));
      this.child.on("close", (code, signal) => {
        if (code === 0) resolve();
        else
          reject(
            new ZstdFailedError(
              `zstd ${args.includes("-d") ? "decompression" : "compression"} failed (${signal ?? `exit ${code}`}): ${stderr.trim()}`,
              signal === null ? code : null,
              signal,
            ),
          );
      });
    });
    // a dead zstd makes our writes fail with EPIPE; `exited` reports the real cause
    this.stdin?.on("error", () => {});
    this.exited.catch(() => {});
  }

  /**
   * Compresses what is read from `input` (a file or FIFO path) into `output`: a pipe read through
   * `stdout`, or a file descriptor zstd writes itself (no copy through this process).
   */
  static compress(
    input: string,
    level: number,
    output: "pipe" | number = "pipe",
    zstdPath = "zstd",
  ): ZstdProcess {
    if (!Number.isInteger(level) || level < 1 || level > 19) {
      throw new RangeError(`zstd level must be 1..19, got ${level}`);
    }
    // --no-sparse: holes would be seeked over in a file output, which a reader following the
    // growing file must not have to care about
    return new ZstdProcess(
      ["-q", "-c", `-${level}`, "-T0", "--no-sparse", "--", input],
      zstdPath,
      "ignore",
      output,
    );
  }

  /**
   * Decompresses `input` (a pipe written through `stdin`, or a file descriptor zstd reads itself)
   * into `output` (a pipe read through `stdout`, or a file descriptor).
   */
  static decompress(
    input: "pipe" | number = "pipe",
    output: "pipe" | number = "pipe",
    zstdPath = "zstd",
  ): ZstdProcess {
    return new ZstdProcess(["-q", "-d", "-c", "--no-sparse", "-"], zstdPath, input, output);
  }

  /** `stdin`, for a zstd started to read from a pipe. */
  inputPipe(): Writable {
    if (!this.stdin) throw new Error("zstd was started reading a file, not a pipe");
    return this.stdin;
  }

  /** `stdout`, for a zstd started to write into a pipe. */
  outputPipe(): Readable {
    if (!this.stdout) throw new Error("zstd was started writing a file, not a pipe");
    return this.stdout;
  }

  kill(): void {
    if (this.child.exitCode === null && this.child.signalCode === null) this.child.kill("SIGKILL");
  }
}

export class ZstdFailedError extends Error {
  override name = "ZstdFailedError";
  constructor(
    message: string,
    /** zstd's exit code when it ended by itself; null when a signal killed it. */
    readonly exitCode: number | null,
    /** The signal that killed zstd, if one did. */
    readonly signal: NodeJS.Signals | null = null,
  ) {
    super(message);
  }

  /**
   * zstd could not write its output because its reader stopped (EPIPE, or SIGPIPE: child processes
   * start with the default disposition): a consequence, never a cause.
   */
  get lostItsReader(): boolean {
    return this.signal === "SIGPIPE" || /Broken pipe|Write error/i.test(this.message);
  }

  /**
   * zstd ended by itself reporting a problem with its input (e.g. "Data corruption detected"): not
   * killed (OOM killer, us) and not merely unable to write because its reader stopped.
   */
  get rejectedInput(): boolean {
    return this.exitCode !== null && !this.lostItsReader;
  }
}
