import { execFileSync } from "node:child_process";
import { closeSync, constants, mkdtempSync, openSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";

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
    this.dir = mkdtempSync(path.join(tmpdir(), "wsd-tar-"));
    this.path = path.join(this.dir, "tar");
    execFileSync("mkfifo", ["-m", "600", this.path], { stdio: "ignore" });
  }

  /**
   * Opens the FIFO for reading and writing, which never blocks: handed to zstd as its output, it
   * also keeps the pipe's data alive until the extraction worker opened its end (a FIFO's buffer
   * is dropped once nobody holds it open). Close it once the worker reported that it opened.
   */
  openWriteEnd(): number {
    return openSync(this.path, constants.O_RDWR);
  }

  /**
   * Removes the FIFO and releases a thread blocked in open() because the other end never came (e.g.
   * zstd failed to start): a momentary read-write open completes both a blocked reader's and a
   * blocked writer's open, after which the reader sees end of file and the writer EPIPE. It is
   * opened before the name goes, so a thread arriving at any moment either gets released or finds
   * no FIFO at all.
   */
  remove(): void {
    let both: number | undefined;
    try {
      both = openSync(this.path, constants.O_RDWR);
    } catch {
      // already gone
    }
    // idempotent: called once both ends are open and again when the archive settles
    rmSync(this.dir, { recursive: true, force: true });
    if (both !== undefined) closeSync(both);
  }
}
