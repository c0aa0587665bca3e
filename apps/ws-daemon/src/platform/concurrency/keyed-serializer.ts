import { KeyedMutex } from "./keyed-mutex.js";
import { Semaphore } from "./semaphore.js";

export interface KeyedSerializerOptions {
  maxConcurrent: number;
  /** Called when a task starts, with how long it waited for its key and a global slot (ms). */
  onWait?: (waitedMs: number, key: string) => void;
  now?: () => number;
}

/**
 * Runs tasks one at a time per key (e.g. per workspace) and at most `maxConcurrent` across keys.
 * Backups and snapshots of one workspace must not interleave (the second would race the first's
 * manifest and garbage collection); across workspaces a bound keeps disk, CPU and uplink usable.
 */
export class KeyedSerializer {
  private readonly keys = new KeyedMutex();
  private readonly slots: Semaphore;
  private readonly now: () => number;

  constructor(private readonly options: KeyedSerializerOptions) {
    this.now = options.now ?? Date.now;
    this.slots = new Semaphore(options.maxConcurrent, this.now);
  }

  /** Tasks currently running (holding a global slot). */
  get active(): number {
    return this.slots.running;
  }

  /** Tasks waiting for a global slot. */
  get queued(): number {
    return this.slots.queued;
  }

  run<T>(key: string, task: () => Promise<T>): Promise<T> {
    const enqueued = this.now();
    return this.keys.run(key, () =>
      this.slots.run(task, () => this.options.onWait?.(this.now() - enqueued, key)),
    );
  }
}
