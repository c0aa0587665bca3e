import { describe, expect, it } from "vitest";
import { StreamIdTable } from "../../src/transport/stream-id-table.js";

/** A deterministic pseudo-random sequence (xorshift), so a failure can be replayed. */
function randomFrom(seed: number): () => number {
  let x = seed;
  return () => {
    x ^= x << 13;
    x ^= x >>> 17;
    x ^= x << 5;
    return (x >>> 0) / 2 ** 32;
  };
}

const sorted = <V>(entries: Iterable<[number, V]>) => [...entries].sort(([a], [b]) => a - b);

describe("StreamIdTable", () => {
  it("holds what a Map holds through random additions, replacements and deletions", () => {
    for (const seed of [1, 7, 42, 2024]) {
      const random = randomFrom(seed);
      const table = new StreamIdTable<string>(4);
      const model = new Map<number, string>();
      let nextId = 1;
      const live: number[] = [];
      for (let step = 0; step < 5000; step++) {
        const r = random();
        if (r < 0.45 || live.length === 0) {
          // new streams mostly, as HTTP/2 numbers them (odd, increasing), now and then far apart
          const id = random() < 0.02 ? nextId + 2 * Math.floor(random() * 5000) : nextId;
          nextId = id + 2;
          table.set(id, `s${id}`);
          model.set(id, `s${id}`);
          live.push(id);
        } else if (r < 0.5) {
          const id = live[Math.floor(random() * live.length)] ?? 0;
          table.set(id, `again${id}`);
          model.set(id, `again${id}`);
        } else {
          const at = Math.floor(random() * live.length);
          const id = live[at] ?? 0;
          live.splice(at, 1);
          expect(table.delete(id)).toBe(true);
          model.delete(id);
          expect(table.delete(id)).toBe(false);
        }
        expect(table.size).toBe(model.size);
      }
      for (const [id, value] of model) expect(table.get(id)).toBe(value);
      expect(sorted(table.entries())).toEqual(sorted(model.entries()));
      expect(table.get(nextId)).toBeUndefined();
      expect(table.has(nextId)).toBe(false);
    }
  });

  it("lets forEach's callback delete entries, as Node does when it destroys every stream", () => {
    const table = new StreamIdTable<number>();
    for (let id = 1; id < 200; id += 2) table.set(id, id);
    const visited: number[] = [];
    table.forEach((value, id, t) => {
      visited.push(value);
      t.delete(id);
      // deleting one not yet visited: it must not be visited any more
      t.delete(id + 2);
    });
    expect(table.size).toBe(0);
    expect(visited).toEqual(Array.from({ length: 50 }, (_, i) => 1 + 4 * i));
  });

  it("keeps an old stream found among many newer ones (collisions after the ids wrap the table)", () => {
    const table = new StreamIdTable<string>(16);
    table.set(1, "long-lived");
    for (let id = 3; id < 100_000; id += 2) {
      table.set(id, "short");
      table.delete(id);
    }
    expect(table.get(1)).toBe("long-lived");
    expect(table.size).toBe(1);
    expect([...table.keys()]).toEqual([1]);
    expect([...table.values()]).toEqual(["long-lived"]);
  });

  it("refuses what is not a stream id", () => {
    const table = new StreamIdTable<string>();
    expect(() => table.set(0, "x")).toThrow(RangeError);
    expect(() => table.set(1.5, "x")).toThrow(RangeError);
    expect(table.get(0)).toBeUndefined();
  });
});
