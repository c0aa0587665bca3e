import { describe, expect, it } from "vitest";
import { validateConfig } from "../../src/config/load-config.js";
import type { Clock, Log } from "../../src/platform/index.js";
import { INSECURE_WARNING_INTERVAL_MS, warnWhileInsecure } from "../../src/wiring/index.js";

/** A clock whose time moves only when the test advances it; sleeps end when their time comes. */
class SteppedClock implements Clock {
  private time = 0;
  private sleepers: Array<{ until: number; wake: () => void }> = [];

  now(): number {
    return this.time;
  }

  sleep(ms: number, signal?: AbortSignal): Promise<void> {
    return new Promise((resolve, reject) => {
      if (signal?.aborted) return reject(signal.reason);
      const sleeper = { until: this.time + ms, wake: resolve };
      this.sleepers.push(sleeper);
      signal?.addEventListener("abort", () => {
        this.sleepers = this.sleepers.filter((s) => s !== sleeper);
        reject(signal.reason);
      });
    });
  }

  get pendingSleeps(): number {
    return this.sleepers.length;
  }

  /** Moves time forward and lets every woken sleeper run before returning. */
  async advance(ms: number): Promise<void> {
    this.time += ms;
    const due = this.sleepers.filter((s) => s.until <= this.time);
    this.sleepers = this.sleepers.filter((s) => s.until > this.time);
    for (const s of due) s.wake();
    for (let i = 0; i < 10; i++) await Promise.resolve();
  }
}

const recordingLog = () => {
  const lines: Array<{ level: string; msg: string; fields: Record<string, unknown> | undefined }> =
    [];
  const log: Log = (level, msg, fields) => {
    lines.push({ level, msg, fields });
  };
  return { log, lines };
};

describe("listen.insecure is said at start and every hour", () => {
  it("warns at start, again after each hour of the clock, and not after stop", async () => {
    const config = validateConfig({ listen: { host: "0.0.0.0", insecure: true } });
    const clock = new SteppedClock();
    const { log, lines } = recordingLog();
    const warning = warnWhileInsecure(config, "http://0.0.0.0:8080", clock, log);
    expect(lines).toHaveLength(1);
    expect(lines[0]).toMatchObject({
      level: "warn",
      msg: expect.stringMatching(
        /listen\.insecure: the node API is served off loopback without mutual TLS/,
      ),
      fields: { address: "http://0.0.0.0:8080", host: "0.0.0.0" },
    });
    await clock.advance(INSECURE_WARNING_INTERVAL_MS - 1);
    expect(lines).toHaveLength(1);
    await clock.advance(1);
    expect(lines).toHaveLength(2);
    await clock.advance(INSECURE_WARNING_INTERVAL_MS);
    expect(lines).toHaveLength(3);
    expect(INSECURE_WARNING_INTERVAL_MS).toBe(3_600_000);
    warning.stop();
    await clock.advance(5 * INSECURE_WARNING_INTERVAL_MS);
    expect(lines).toHaveLength(3);
    expect(clock.pendingSleeps).toBe(0);
  });

  it.each([
    ["loopback", { listen: { host: "127.0.0.1" } }],
    ["loopback, even with insecure set", { listen: { host: "::1", insecure: true } }],
    [
      "mutual TLS off loopback",
      {
        listen: { host: "0.0.0.0" },
        tls: { certFile: "/c", keyFile: "/k", clientCaFile: "/ca" },
      },
    ],
  ])("says nothing with %s", async (_what, raw) => {
    const clock = new SteppedClock();
    const { log, lines } = recordingLog();
    warnWhileInsecure(validateConfig(raw), "x", clock, log);
    await clock.advance(2 * INSECURE_WARNING_INTERVAL_MS);
    expect(lines).toEqual([]);
    expect(clock.pendingSleeps).toBe(0);
  });
});
