import { describe, expect, it } from "vitest";
import { KeyedMutex } from "../../src/platform/index.js";

const tick = () => new Promise((r) => setTimeout(r, 5));

describe("KeyedMutex", () => {
  it("runs one key's operations one at a time in call order, other keys alongside", async () => {
    const m = new KeyedMutex();
    const events: string[] = [];
    const op = (name: string) => async () => {
      events.push(`${name} start`);
      await tick();
      events.push(`${name} end`);
      return name;
    };
    const results = await Promise.all([
      m.run("a", op("a1")),
      m.run("b", op("b1")),
      m.run("a", op("a2")),
    ]);
    expect(results).toEqual(["a1", "b1", "a2"]);
    expect(events.indexOf("a1 end")).toBeLessThan(events.indexOf("a2 start"));
    expect(events.indexOf("b1 start")).toBeLessThan(events.indexOf("a1 end"));
  });

  it("a failing operation rejects its caller only; the next one still runs", async () => {
    const m = new KeyedMutex();
    const failed = m.run("k", async () => {
      throw new Error("boom");
    });
    const next = m.run("k", async () => "ran");
    expect(m.isLocked("k")).toBe(true);
    await expect(failed).rejects.toThrow("boom");
    await expect(next).resolves.toBe("ran");
    await tick();
    expect(m.isLocked("k")).toBe(false);
  });
});
