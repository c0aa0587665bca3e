import { describe, expect, it } from "vitest";
import { DomainError } from "../../src/platform/index.js";
import { type ProgressView, type WatchEvent, WatcherQueue } from "../../src/watch/index.js";

const progress = (bytesDone: number): WatchEvent => ({
  type: "progress",
  at: bytesDone,
  progress: {
    operation: "backup",
    phase: "archiving",
    initializer: "",
    detail: "",
    bytesDone,
    bytesTotal: 100,
    filesDone: 0,
    filesTotal: 0,
    bytesPerSecond: 0,
    elapsedMs: 0,
  } satisfies ProgressView,
});
const state = (at: number): WatchEvent => ({
  type: "state",
  at,
  from: "available",
  to: "available",
});

const drain = async (q: WatcherQueue) => {
  const out: WatchEvent[] = [];
  for (let e = await q.next(); e; e = await q.next()) out.push(e);
  return out;
};

describe("WatcherQueue", () => {
  it("coalesces progress a slow watcher has not taken yet, but keeps every transition in order", async () => {
    const q = new WatcherQueue();
    q.push(progress(1));
    q.push(progress(2));
    q.push(state(3));
    q.push(progress(4));
    q.push(progress(5));
    q.push(progress(6));
    q.push({ type: "finished", at: 7, operation: "backup", outcome: { ok: true }, elapsedMs: 7 });
    q.close();
    const events = await drain(q);
    expect(events.map((e) => `${e.type}@${e.at}`)).toEqual([
      "progress@2",
      "state@3",
      "progress@6",
      "finished@7",
    ]);
    expect(q.coalesced).toBe(3);
  });

  it("never holds more than 2 × limit + 1 events, and ends an overflowing watcher with RESOURCE_EXHAUSTED", async () => {
    const q = new WatcherQueue(4);
    for (let i = 0; i < 4; i++) {
      q.push(progress(i));
      q.push(state(i));
    }
    q.push(progress(99));
    expect(q.pending).toBe(9);
    q.push(state(100));
    const error = await q.next().catch((e: unknown) => e);
    expect(error).toBeInstanceOf(DomainError);
    expect((error as DomainError).kind).toBe("resource-exhausted");
    expect(q.pending).toBe(0);
  });

  it("a waiting reader wakes on push and on close; pushes after close are ignored", async () => {
    const q = new WatcherQueue();
    const first = q.next();
    q.push(state(1));
    expect((await first)?.at).toBe(1);
    const end = q.next();
    q.close();
    expect(await end).toBeUndefined();
    q.push(state(2));
    expect(await q.next()).toBeUndefined();
  });

  it("a publisher never waits: a million progress events to a watcher that reads nothing take no memory", () => {
    const q = new WatcherQueue();
    const started = performance.now();
    for (let i = 0; i < 1_000_000; i++) q.push(progress(i));
    expect(q.pending).toBe(1);
    expect(performance.now() - started).toBeLessThan(2_000);
  });
});
