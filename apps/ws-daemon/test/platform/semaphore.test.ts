import { describe, expect, it } from "vitest";
import { deferred, Semaphore } from "../../src/platform/index.js";

describe("Semaphore", () => {
  it("refuses a limit that is not a positive integer", () => {
    for (const bad of [0, -1, 1.5, Number.NaN]) {
      expect(() => new Semaphore(bad)).toThrow(RangeError);
    }
  });

  it("runs at most `limit` operations at once and starts the waiting ones in FIFO order", async () => {
    const s = new Semaphore(2);
    const gates = [deferred(), deferred(), deferred(), deferred()];
    const started: number[] = [];
    const runs = gates.map((gate, i) =>
      s.run(async () => {
        started.push(i);
        await gate.promise;
        return i;
      }),
    );
    await Promise.resolve();
    expect(started).toEqual([0, 1]);
    expect([s.running, s.queued]).toEqual([2, 2]);
    gates[1]?.resolve();
    await runs[1];
    await new Promise((r) => setImmediate(r));
    expect(started).toEqual([0, 1, 2]);
    expect([s.running, s.queued]).toEqual([2, 1]);
    for (const g of gates) g.resolve();
    expect(await Promise.all(runs)).toEqual([0, 1, 2, 3]);
    expect([s.running, s.queued]).toEqual([0, 0]);
  });

  it("a failing operation frees its slot", async () => {
    const s = new Semaphore(1);
    await expect(
      s.run(async () => {
        throw new Error("boom");
      }),
    ).rejects.toThrow("boom");
    expect(await s.run(async () => "next")).toBe("next");
    expect(s.running).toBe(0);
  });

  it("reports how long an operation waited for its slot", async () => {
    let now = 100;
    const s = new Semaphore(1, () => now);
    const gate = deferred();
    const waits: number[] = [];
    const first = s.run(
      () => gate.promise,
      (w) => waits.push(w),
    );
    const second = s.run(
      async () => undefined,
      (w) => waits.push(w),
    );
    now = 130;
    gate.resolve();
    await Promise.all([first, second]);
    expect(waits).toEqual([0, 30]);
  });
});
