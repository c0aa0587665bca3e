import { execFileSync } from "node:child_process";
import { closeSync, constants, mkdtempSync, openSync, rmSync } from "node:fs";
import path from "node:path";
import { scratchDir } from "../platform/index.js";

/**
 * A FIFO in a private temporary directory between zstd and an archive worker thread: the tar writer
 * feeds zstd through it on backup, zstd feeds the extractor through it on restore. A real pipe
 * between the two, instead of Node relaying every byte through a socket on the main thread, is what
 * lets them overlap like `tar | zstd` (Node cannot create anonymous pipes, hence the named one).
 */
export class ArchiveFifo {
  readonly path: string;
  private readonly dir: string;

  constructor() {
    this.dir = mkdtempSync(path.join(scratchDir(), "wsd-tar-"));
    this.path = path.join(this.dir, "tar");
    execFileSync("mkfifo", ["-m", "600", this.path], { stdio: "ignore" });
  }

  /**
   * Opens a write end for zstd without blocking. A read end of our own comes first (a non-blocking
   * open for reading never waits), so the write-only open finds a reader; it also keeps the data
   * zstd writes alive until the extraction worker opened its end (a FIFO's buffer is dropped once
   * nobody holds it open). Close both once the worker reported that it opened: from then on the
   * worker is the only reader, so zstd gets EPIPE if the worker stops reading, and the worker
   * sees end of file once zstd exits. (A single read-write descriptor would make zstd a reader of
   * its own output: with the worker gone it would block forever on a full pipe.)
   */
  openWriteEnd(): { writeEnd: number; keepAlive: number } {
    const keepAlive = openSync(this.path, constants.O_RDONLY | constants.O_NONBLOCK);
    try {
      return { writeEnd: openSync(this.path, constants.O_WRONLY), keepAlive };
    } catch (err) {
      closeSync(keepAlive);
      throw err;
    }
  }

  /**
   * Removes the FIFO and releases a thread blocked in open() because the other end never came (e.g.
   * zstd failed to start): a momentary read-write open completes both a blocked reader's and a
   * blocked writer's open, after which the reader sees end of file and the writer EPIPE. Where
   * the other end may never come and a worker may still be on its way into open(), removeWhen()
   * is the safe form.
   */
  remove(): void {
    const both = this.release();
    // idempotent: called once both ends are open and again when the archive settles
    rmSync(this.dir, { recursive: true, force: true });
    if (both !== undefined) closeSync(both);
  }

  /**
   * For when the other end may never come: a thread that looked the name up but had not started
   * waiting in open() when a single release happened would block for good, so releases repeat
   * until `settled` (the worker's job), and only then does the name go.
   */
  async removeWhen(settled: Promise<unknown>): Promise<void> {
    let done = false;
    const ended = settled.then(
      () => {
        done = true;
      },
      () => {
        done = true;
      },
    );
    while (!done) {
      const both = this.release();
      if (both === undefined) break;
      closeSync(both);
      await Promise.race([ended, new Promise((r) => setTimeout(r, 50))]);
    }
    this.remove();
  }

  /** Opens both ends (never blocks), which completes any open() waiting for the other end. */
  private release(): number | undefined {
    try {
      return openSync(this.path, constants.O_RDWR);
    } catch {
      return undefined; // already gone
    }
  }
}
