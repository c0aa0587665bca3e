import { describe, expect, it } from "vitest";
import { retry, retryDelay } from "../../src/platform/index.js";
import { RecordingClock } from "./fake-clock.js";

const failing = (failures: number, value = "ok") => {
  let calls = 0;
  return async (attempt: number) => {
    calls++;
    expect(attempt).toBe(calls);
    if (calls <= failures) throw new Error(`failure ${calls}`);
    return value;
  };
};

describe("retry", () => {
  it("waits by the policy between attempts and returns the first success", async () => {
    for (const [backoff, expected] of [
      ["constant", [100, 100, 100]],
      ["linear", [100, 200, 300]],
      ["exponential", [100, 200, 400]],
    ] as const) {
      const clock = new RecordingClock();
      const result = await retry(failing(3), {
        attempts: 4,
        delayMs: 100,
        backoff,
        clock,
        retryable: () => true,
      });
      expect(result).toBe("ok");
      expect(clock.sleeps, backoff).toEqual(expected);
    }
  });

  it("gives up after `attempts` with the last error", async () => {
    const clock = new RecordingClock();
    await expect(
      retry(failing(5), {
        attempts: 3,
        delayMs: 1,
        backoff: "constant",
        clock,
        retryable: () => true,
      }),
    ).rejects.toThrow("failure 3");
    expect(clock.sleeps).toEqual([1, 1]);
  });

  it("rethrows a non-retryable error at once", async () => {
    const clock = new RecordingClock();
    const seen: unknown[] = [];
    await expect(
      retry(failing(5), {
        attempts: 5,
        delayMs: 1,
        backoff: "constant",
        clock,
        retryable: (err, attempt) => {
          seen.push([String(err), attempt]);
          return attempt < 2;
        },
      }),
    ).rejects.toThrow("failure 2");
    expect(seen).toEqual([
      ["Error: failure 1", 1],
      ["Error: failure 2", 2],
    ]);
  });

  it("calls onRetry before each wait and caps delays at maxDelayMs", async () => {
    const clock = new RecordingClock();
    const retries: [number, number][] = [];
    await retry(failing(4), {
      attempts: 5,
      delayMs: 100,
      backoff: "exponential",
      maxDelayMs: 250,
      clock,
      retryable: () => true,
      onRetry: (_err, attempt, delayMs) => {
        retries.push([attempt, delayMs]);
      },
    });
    expect(retries).toEqual([
      [1, 100],
      [2, 200],
      [3, 250],
      [4, 250],
    ]);
  });

  it("an aborted signal stops the waiting with its reason", async () => {
    const clock = new RecordingClock();
    const controller = new AbortController();
    controller.abort(new Error("stop"));
    await expect(
      retry(failing(1), {
        attempts: 3,
        delayMs: 1,
        backoff: "constant",
        clock,
        signal: controller.signal,
        retryable: () => true,
      }),
    ).rejects.toThrow("stop");
  });

  it("retryDelay of attempt n", () => {
    expect(retryDelay({ attempts: 9, delayMs: 10, backoff: "linear" }, 4)).toBe(40);
    expect(retryDelay({ attempts: 9, delayMs: 10, backoff: "exponential" }, 4)).toBe(80);
    expect(retryDelay({ attempts: 9, delayMs: 10, backoff: "constant" }, 4)).toBe(10);
  });
});
