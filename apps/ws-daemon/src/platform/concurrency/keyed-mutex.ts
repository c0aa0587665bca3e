/**
 * FIFO mutual exclusion per key (e.g. per workspace). `run` enqueues synchronously, so an
 * operation started before another (in program order) also runs before it; a failed operation
 * does not stop the ones queued behind it.
 */
export class KeyedMutex {
  private readonly tails = new Map<string, Promise<void>>();

  run<T>(key: string, op: () => Promise<T>): Promise<T> {
    const previous = this.tails.get(key) ?? Promise.resolve();
    const result = previous.then(op);
    const tail = result.then(
      () => undefined,
      () => undefined,
    );
    this.tails.set(key, tail);
    void tail.then(() => {
      if (this.tails.get(key) === tail) this.tails.delete(key);
    });
    return result;
  }

  isLocked(key: string): boolean {
    return this.tails.has(key);
  }
}
