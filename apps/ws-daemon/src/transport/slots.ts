/**
 * A set of values, each kept in a numbered slot that its owner remembers and hands back to
 * remove it. Meant for what comes and goes with every call (the streams awaiting their request
 * body, the calls whose signal exists): a Set or Map with that churn rehashes into a new table
 * every few dozen additions, and V8 keeps the old table pointing to the new one, so one table
 * that reached the old generation keeps every later member alive until a full collection (see
 * StreamIdTable). Here a removal empties its slot and later additions reuse it.
 */
export class Slots<T> {
  private readonly values: (T | undefined)[] = [];
  private readonly free: number[] = [];
  private count = 0;

  get size(): number {
    return this.count;
  }

  /** Adds `value`; the slot number removes it again. */
  add(value: T): number {
    const slot = this.free.pop() ?? this.values.length;
    this.values[slot] = value;
    this.count++;
    return slot;
  }

  /** Removes `value` from `slot`; false when the slot holds something else (removed already). */
  remove(slot: number, value: T): boolean {
    if (slot < 0 || this.values[slot] !== value || value === undefined) return false;
    this.values[slot] = undefined;
    this.free.push(slot);
    this.count--;
    return true;
  }

  /** Every value with its slot, from a copy: `callback` may remove (and add). */
  forEach(callback: (value: T, slot: number) => void): void {
    const taken: [T, number][] = [];
    this.values.forEach((value, slot) => {
      if (value !== undefined) taken.push([value, slot]);
    });
    for (const [value, slot] of taken) {
      if (this.values[slot] === value) callback(value, slot);
    }
  }
}
