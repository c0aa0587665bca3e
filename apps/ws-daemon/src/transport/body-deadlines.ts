import type * as http2 from "node:http2";
import { Slots } from "./slots.js";

/**
 * Streams whose request body is still arriving, with one sweep for all of them (a timer per
 * call would cost more than the call): a client that sends a body slowly, or half of it and
 * then nothing, gets its stream answered and closed.
 */
export class BodyDeadlines {
  private readonly waiting = new Slots<http2.ServerHttp2Stream>();
  /** Date.now() when the stream in the same slot of `waiting` was added. */
  private readonly since: number[] = [];
  private sweep: NodeJS.Timeout | undefined;

  constructor(
    private readonly timeoutMs: number,
    private readonly onExpired: (stream: http2.ServerHttp2Stream) => void,
  ) {}

  /** Starts the stream's wait; the number returned ends it (`delete`). */
  add(stream: http2.ServerHttp2Stream): number {
    const slot = this.waiting.add(stream);
    this.since[slot] = Date.now();
    if (this.sweep === undefined) {
      this.sweep = setInterval(() => this.expire(), Math.min(1000, this.timeoutMs));
      this.sweep.unref();
    }
    return slot;
  }

  delete(slot: number, stream: http2.ServerHttp2Stream): void {
    this.waiting.remove(slot, stream);
  }

  private expire(): void {
    const limit = Date.now() - this.timeoutMs;
    this.waiting.forEach((stream, slot) => {
      // a stream the client reset is forgotten here rather than by a listener on every call
      if (stream.destroyed) {
        this.waiting.remove(slot, stream);
        return;
      }
      if ((this.since[slot] ?? 0) > limit) return;
      this.waiting.remove(slot, stream);
      this.onExpired(stream);
    });
    if (this.waiting.size === 0) {
      clearInterval(this.sweep);
      this.sweep = undefined;
    }
  }
}
