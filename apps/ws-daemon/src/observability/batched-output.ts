import { writeSync } from "node:fs";

export interface BatchedOutputOptions {
  /** The descriptor lines go to (1: stdout). */
  fd: number;
  /** Waiting lines are written at least this often. */
  flushMs: number;
  /** ... and as soon as this many characters wait. */
  maxPendingChars: number;
}

/**
 * A log destination that gathers lines and writes them with one write(2) per batch: with a
 * line per RPC, a write per line (pino's stdout, or its asynchronous SonicBoom, which moves the
 * write to the thread pool but costs as much) was the largest single cost of a small unary
 * call. Lines wait at most `flushMs`; everything waiting is written synchronously when the
 * process exits (also after a fatal error), so only a SIGKILL can lose up to `flushMs` of lines.
 */
export class BatchedOutput {
  private pending: string[] = [];
  private pendingChars = 0;
  private broken = false;
  /** After a full non-blocking pipe, batches go through Node's stream (which queues) in order. */
  private viaStream: NodeJS.WritableStream | undefined;
  private readonly timer: NodeJS.Timeout;
  private readonly onExit = () => this.flush();

  constructor(private readonly options: BatchedOutputOptions) {
    this.timer = setInterval(() => this.flush(), options.flushMs);
    this.timer.unref();
    process.on("exit", this.onExit);
  }

  /** pino's destination interface: one serialized line (with its newline) per call. */
  write(line: string): boolean {
    if (this.broken) return true;
    this.pending.push(line);
    this.pendingChars += line.length;
    if (this.pendingChars >= this.options.maxPendingChars) this.flush();
    return true;
  }

  /** Writes whatever waits, now. */
  flush(): void {
    if (this.pendingChars === 0) return;
    const bytes = Buffer.from(this.pending.join(""), "utf8");
    this.pending = [];
    this.pendingChars = 0;
    this.writeAll(bytes);
  }

  /** Writes what waits and stops the timer (the output stays open). */
  close(): void {
    this.flush();
    clearInterval(this.timer);
    process.off("exit", this.onExit);
  }

  private writeAll(bytes: Buffer): void {
    if (this.viaStream) {
      this.viaStream.write(bytes);
      return;
    }
    let offset = 0;
    while (offset < bytes.length) {
      try {
        offset += writeSync(this.options.fd, bytes, offset);
      } catch (e) {
        const code = (e as NodeJS.ErrnoException).code;
        const stream = this.streamOfFd();
        if (code === "EAGAIN" && stream) {
          // a non-blocking pipe that is full: from now on libuv writes when the reader catches up
          this.viaStream = stream;
          stream.write(bytes.subarray(offset));
          return;
        }
        // EPIPE and the like: nobody reads the log any more; keep serving without it
        this.broken = true;
        this.pending = [];
        this.pendingChars = 0;
        return;
      }
    }
  }

  private streamOfFd(): NodeJS.WritableStream | undefined {
    if (this.options.fd === 1) return process.stdout;
    if (this.options.fd === 2) return process.stderr;
    return undefined;
  }
}
