import { DomainError } from "../platform/index.js";
import type { WatchEvent } from "./watch-event.js";

/** Pending transitions (state changes, operation starts and ends) one watcher may fall behind by. */
export const DEFAULT_WATCHER_LIMIT = 256;

/**
 * One watcher's buffer between the operations (which push synchronously and never wait) and the
 * stream that sends to the client (which pulls as fast as the client reads).
 *
 * The policy, documented in proto/README.md: progress is coalesced (a progress event still
 * waiting is replaced by a newer one, so at most one sits between two transitions), transitions
 * are never dropped; a watcher with more than `limit` transitions pending is ended with
 * RESOURCE_EXHAUSTED rather than silently losing one. Memory per watcher is therefore bounded by
 * 2 × limit + 1 events.
 */
export class WatcherQueue implements AsyncIterable<WatchEvent> {
  private items: WatchEvent[] = [];
  private transitions = 0;
  private closed = false;
  private failure: Error | undefined;
  private wake: (() => void) | undefined;
  private readonly closeListeners: (() => void)[] = [];
  /** Progress events replaced before they were sent (for tests and metrics). */
  coalesced = 0;

  constructor(private readonly limit = DEFAULT_WATCHER_LIMIT) {}

  push(event: WatchEvent): void {
    if (this.closed) return;
    const last = this.items.at(-1);
    if (event.type === "progress" && last?.type === "progress") {
      this.items[this.items.length - 1] = event;
      this.coalesced++;
      return;
    }
    if (event.type !== "progress" && ++this.transitions > this.limit) {
      this.close(
        new DomainError(
          "resource-exhausted",
          `the watcher fell more than ${this.limit} state changes behind; watch again to resume from the current state`,
        ),
      );
      return;
    }
    this.items.push(event);
    this.signal();
  }

  /** Ends the stream after what is pending, or at once with `error`. Idempotent. */
  close(error?: Error): void {
    if (this.closed) return;
    this.closed = true;
    if (error) {
      this.failure = error;
      this.items = [];
    }
    this.signal();
    for (const listener of this.closeListeners.splice(0)) listener();
  }

  onClose(listener: () => void): void {
    if (this.closed) listener();
    else this.closeListeners.push(listener);
  }

  /** Drops what is pending (a snapshot taken now already reflects it). */
  discardPending(): void {
    this.items = [];
    this.transitions = 0;
  }

  get pending(): number {
    return this.items.length;
  }

  /** The next event; undefined once closed and drained. Rejects with the close error. */
  async next(): Promise<WatchEvent | undefined> {
    for (;;) {
      const item = this.items.shift();
      if (item) {
        if (item.type !== "progress") this.transitions--;
        return item;
      }
      if (this.failure) throw this.failure;
      if (this.closed) return undefined;
      await new Promise<void>((resolve) => {
        this.wake = resolve;
      });
    }
  }

  async *[Symbol.asyncIterator](): AsyncIterator<WatchEvent> {
    try {
      for (;;) {
        const event = await this.next();
        if (!event) return;
        yield event;
      }
    } finally {
      this.close();
    }
  }

  private signal(): void {
    const wake = this.wake;
    this.wake = undefined;
    wake?.();
  }
}
