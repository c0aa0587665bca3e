import { describe, expect, it } from "vitest";
import { deferred, KeyedSerializer } from "../../src/platform/index.js";

const tick = () => new Promise((r) => setImmediate(r));

describe("KeyedSerializer", () => {
  it("runs one task per key at a time and bounds concurrency across keys", async () => {
    const waits: string[] = [];
    const s = new KeyedSerializer({ maxConcurrent: 2, onWait: (_ms, key) => waits.push(key) });
    const log: string[] = [];
    const gates = { a1: deferred(), a2: deferred(), b1: deferred(), c1: deferred() };
    const task = (name: keyof typeof gates) => async () => {
      log.push(`start ${name}`);
      await gates[name].promise;
      log.push(`end ${name}`);
      return name;
    };
    const results = [
      s.run("a", task("a1")),
      s.run("a", task("a2")),
      s.run("b", task("b1")),
      s.run("c", task("c1")),
    ];
    await tick();
    expect(log).toEqual(["start a1", "start b1"]);
    expect(s.active).toBe(2);
    gates.b1.resolve();
    await tick();
    // c1 takes b's slot; a2 still waits for a1
    expect(log).toEqual(["start a1", "start b1", "end b1", "start c1"]);
    gates.a1.resolve();
    gates.c1.resolve();
    gates.a2.resolve();
    expect(await Promise.all(results)).toEqual(["a1", "a2", "b1", "c1"]);
    expect(log.indexOf("start a2")).toBeGreaterThan(log.indexOf("end a1"));
    expect(waits.sort()).toEqual(["a", "a", "b", "c"]);
    expect(s.active).toBe(0);
  });

  it("keeps going after a failed task", async () => {
    const s = new KeyedSerializer({ maxConcurrent: 1 });
    const failed = s.run("k", async () => {
      throw new Error("boom");
    });
    const next = s.run("k", async () => "ok");
    await expect(failed).rejects.toThrow("boom");
    expect(await next).toBe("ok");
  });
});
