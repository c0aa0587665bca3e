import { afterEach, beforeEach, describe, expect, it, vi } from "vitest";
import type { OperationProgressReport } from "../../src/content/index.js";
import type { Clock } from "../../src/platform/index.js";
import { type WatchEvent, WatchHub } from "../../src/watch/index.js";

const HEARTBEAT_MS = 100;
const clock: Clock = { now: () => Date.now(), sleep: async () => undefined };

const report = (bytesDone: number): OperationProgressReport => ({
  operation: "init",
  phase: "restoring",
  initializer: "backup",
  detail: "",
  bytesDone,
  bytesTotal: 1000,
  filesDone: 0,
  filesTotal: 10,
});

/** Every event the watcher has been handed so far (a prompt reader: nothing coalesces). */
const pending = (queue: { pending: number; next(): Promise<WatchEvent | undefined> }) => {
  const out: Promise<WatchEvent | undefined>[] = [];
  for (let n = queue.pending; n > 0; n--) out.push(queue.next());
  return Promise.all(out) as Promise<WatchEvent[]>;
};
/** Lets `ms` pass in steps of 10 ms, reading what the watcher gets after each step. */
const readFor = async (queue: Parameters<typeof pending>[0], ms: number, seen: WatchEvent[]) => {
  for (let t = 0; t < ms; t += 10) {
    vi.advanceTimersByTime(10);
    seen.push(...(await pending(queue)));
  }
};
const progressOf = (events: WatchEvent[]) =>
  events.flatMap((e) => (e.type === "progress" ? [{ at: e.at, ...e.progress }] : []));

beforeEach(() => {
  vi.useFakeTimers();
});
afterEach(() => {
  vi.useRealTimers();
});

describe("WatchHub's progress heartbeat", () => {
  it("repeats the latest figures of a quiet operation, so a watcher hears of it at least every 1.5 heartbeats", async () => {
    const hub = new WatchHub(clock, undefined, HEARTBEAT_MS);
    const queue = hub.subscribe("ws");
    hub.hooks.onOperationStarted("ws", "init");
    hub.hooks.onOperationProgress("ws", report(400));
    // the work stalls (a worker blocked on a slow disk) for two seconds
    const events: WatchEvent[] = [];
    await readFor(queue, 2000, events);
    const seen = progressOf(events);
    expect(seen.length).toBeGreaterThanOrEqual(2000 / (HEARTBEAT_MS * 1.5));
    const gaps = seen.slice(1).map((p, i) => p.at - (seen[i]?.at ?? p.at));
    expect(Math.max(...gaps)).toBeLessThanOrEqual(HEARTBEAT_MS * 1.5);
    // the same figures, no invented progress; the rate falls as the stall lasts
    expect(new Set(seen.map((p) => p.bytesDone))).toEqual(new Set([400]));
    expect(seen.at(-1)?.elapsedMs).toBeGreaterThanOrEqual(2000);
    expect(seen.at(-1)?.bytesPerSecond).toBe(0);
  });

  it("adds nothing while the work reports often enough by itself", async () => {
    const hub = new WatchHub(clock, undefined, HEARTBEAT_MS);
    const queue = hub.subscribe("ws");
    hub.hooks.onOperationStarted("ws", "init");
    const events: WatchEvent[] = [];
    for (let bytes = 0; bytes <= 1000; bytes += 50) {
      hub.hooks.onOperationProgress("ws", report(bytes));
      await readFor(queue, HEARTBEAT_MS / 2, events);
    }
    const seen = progressOf(events);
    expect(seen.map((p) => p.bytesDone)).toEqual(Array.from({ length: 21 }, (_, i) => i * 50));
  });

  it("stops with the operation, sends nothing to unwatched workspaces and holds no timer when idle", async () => {
    const hub = new WatchHub(clock, undefined, HEARTBEAT_MS);
    const watched = hub.subscribe("ws");
    hub.hooks.onOperationStarted("other", "backup");
    hub.hooks.onOperationProgress("other", { ...report(1), operation: "backup" });
    hub.hooks.onOperationStarted("ws", "init");
    hub.hooks.onOperationProgress("ws", report(1));
    hub.hooks.onOperationFinished("ws", "init", { ok: true });
    vi.advanceTimersByTime(1000);
    const seen = await pending(watched);
    expect(seen.map((e) => e.type)).toEqual(["started", "progress", "finished"]);
    expect(vi.getTimerCount()).toBe(1); // "other" still runs
    hub.hooks.onOperationFinished("other", "backup", { ok: true });
    expect(vi.getTimerCount()).toBe(0);
  });
});
