import { KeyedMutex } from "../concurrency/keyed-mutex.js";

/**
 * Runs tasks one at a time per key (e.g. per workspace) and at most `maxConcurrent` across keys.
 * Backups and snapshots of one workspace must not interleave (the second would race the first's
 * manifest and garbage collection); across workspaces a bound keeps disk, CPU and uplink usable.
 */
export interface KeyedSerializerOptions {
  maxConcurrent: number;
  /** Called when a task starts, with how long it waited for its key and a global slot (ms). */
  onWait?: (waitedMs: number, key: string) => void;
  now?: () => number;
}

export class KeyedSerializer {
  private readonly keys = new KeyedMutex();
  private readonly waiters: (() => void)[] = [];
  private running = 0;
  private readonly now: () => number;

  constructor(private readonly options: KeyedSerializerOptions) {
    if (!(options.maxConcurrent >= 1)) throw new RangeError("maxConcurrent must be >= 1");
    this.now = options.now ?? Date.now;
  }

  /** Tasks currently running (holding a global slot). */
  get active(): number {
    return this.running;
  }

  /** Tasks waiting for a global slot. */
  get queued(): number {
    return this.waiters.length;
  }

  run<T>(key: string, task: () => Promise<T>): Promise<T> {
    const enqueued = this.now();
    return this.keys.run(key, async () => {
      await this.acquire();
      try {
        this.options.onWait?.(this.now() - enqueued, key);
        return await task();
      } finally {
        this.release();
      }
    });
  }

  private acquire(): Promise<void> {
    if (this.running < this.options.maxConcurrent) {
      this.running++;
      return Promise.resolve();
    }
    return new Promise((resolve) => this.waiters.push(resolve));
  }

  private release(): void {
    const next = this.waiters.shift();
    if (next) next();
    else this.running--;
  }
}
