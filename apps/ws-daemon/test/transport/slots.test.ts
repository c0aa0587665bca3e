import { describe, expect, it } from "vitest";
import { Slots } from "../../src/transport/slots.js";

describe("Slots", () => {
  it("removes a value only from its own slot, and reuses emptied slots", () => {
    const slots = new Slots<object>();
    const a = {};
    const b = {};
    const sa = slots.add(a);
    const sb = slots.add(b);
    expect(slots.size).toBe(2);
    expect(slots.remove(sa, b)).toBe(false);
    expect(slots.remove(sa, a)).toBe(true);
    expect(slots.remove(sa, a)).toBe(false);
    const c = {};
    expect(slots.add(c)).toBe(sa);
    // the old owner of a reused slot cannot remove its successor
    expect(slots.remove(sa, a)).toBe(false);
    expect(slots.size).toBe(2);
    const seen: object[] = [];
    slots.forEach((v) => {
      seen.push(v);
    });
    expect(seen).toEqual([c, b]);
    expect(slots.remove(sb, b)).toBe(true);
    expect(slots.remove(-1, c)).toBe(false);
  });

  it("lets forEach's callback remove and add", () => {
    const slots = new Slots<number>();
    const at = [1, 2, 3, 4].map((v) => slots.add(v));
    const visited: number[] = [];
    slots.forEach((v, slot) => {
      visited.push(v);
      slots.remove(slot, v);
      if (v === 1) slots.remove(at[1] ?? -1, 2);
      slots.add(v * 10);
    });
    expect(visited).toEqual([1, 3, 4]);
    const left: number[] = [];
    slots.forEach((v) => {
      left.push(v);
    });
    expect(left.sort((x, y) => x - y)).toEqual([10, 30, 40]);
  });
});
