/** A counting semaphore with a FIFO queue; the wait time is reported so it can become a metric. */
export class Semaphore {
  private active = 0;
  private readonly waiting: (() => void)[] = [];

  constructor(
    private readonly limit: number,
    private readonly now: () => number = Date.now,
  ) {
    if (!Number.isInteger(limit) || limit < 1)
      throw new RangeError("limit must be an integer >= 1");
  }

  get running(): number {
    return this.active;
  }

  get queued(): number {
    return this.waiting.length;
  }

  /** Runs `op` once a slot is free; `onStart` receives how long it waited in the queue. */
  async run<T>(op: () => Promise<T>, onStart?: (waitedMs: number) => void): Promise<T> {
    const enqueuedAt = this.now();
    if (this.active < this.limit) {
      this.active++;
    } else {
      // The releasing operation hands its slot over directly, so `active` stays unchanged.
      await new Promise<void>((resolve) => this.waiting.push(resolve));
    }
    onStart?.(this.now() - enqueuedAt);
    try {
      return await op();
    } finally {
      const next = this.waiting.shift();
      if (next) next();
      else this.active--;
    }
  }
}
