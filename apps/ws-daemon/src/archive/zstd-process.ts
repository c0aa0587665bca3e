import { type ChildProcessByStdio, spawn } from "node:child_process";
import type { Readable, Writable } from "node:stream";
import { minimalEnv } from "../adapters/process-runner.js";

/**
 * zstd runs as the `zstd` CLI connected by pipes. Node 20 has no zstd in node:zlib; the CLI is in
 * every distro (Debian: package `zstd`), multi-threaded with -T0, runs on another core than the
 * event loop, and needs no native addon build. Data only ever flows through the pipes.
 */
export class ZstdProcess {
  readonly stdin: Writable;
  readonly stdout: Readable;
  /** Resolves when zstd exited with 0; rejects with its stderr otherwise. */
  readonly exited: Promise<void>;
  private readonly child: ChildProcessByStdio<Writable, Readable, Readable>;

  private constructor(args: string[], zstdPath: string) {
    this.child = spawn(zstdPath, args, {
      env: minimalEnv(),
      stdio: ["pipe", "pipe", "pipe"],
    });
    this.stdin = this.child.stdin;
    this.stdout = this.child.stdout;
    let stderr = "";
    this.child.stderr.setEncoding("utf8");
    this.child.stderr.on("data", (s: string) => {
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
            ),
          );
      });
    });
    // a dead zstd makes our writes fail with EPIPE; `exited` reports the real cause
    this.stdin.on("error", () => {});
    this.exited.catch(() => {});
  }

  static compress(level: number, zstdPath = "zstd"): ZstdProcess {
    if (!Number.isInteger(level) || level < 1 || level > 19) {
      throw new RangeError(`zstd level must be 1..19, got ${level}`);
    }
    return new ZstdProcess(["-q", "-c", `-${level}`, "-T0", "-"], zstdPath);
  }

  /** Compresses what is read from `input` (a file or FIFO path) instead of stdin. */
  static compressFrom(input: string, level: number, zstdPath = "zstd"): ZstdProcess {
    if (!Number.isInteger(level) || level < 1 || level > 19) {
      throw new RangeError(`zstd level must be 1..19, got ${level}`);
    }
    const z = new ZstdProcess(["-q", "-c", `-${level}`, "-T0", "--", input], zstdPath);
    z.stdin.end();
    return z;
  }

  static decompress(zstdPath = "zstd"): ZstdProcess {
    return new ZstdProcess(["-q", "-d", "-c", "-"], zstdPath);
  }

  kill(): void {
    if (this.child.exitCode === null && this.child.signalCode === null) this.child.kill("SIGKILL");
  }
}

export class ZstdFailedError extends Error {
  override name = "ZstdFailedError";
}
