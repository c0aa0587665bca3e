import { describe, expect, it } from "vitest";
import type { Clock } from "../../src/platform/clock.js";
import { KeyedTokenBuckets, TokenBucket } from "../../src/rpc/index.js";

const fakeClock = () => {
  let t = 1_000_000;
  const advance = (ms: number) => {
    t += ms;
  };
  const clock: Clock = { now: () => t, sleep: async (ms) => advance(ms) };
  return { clock, advance };
};

describe("TokenBucket", () => {
  it("allows a burst of 4, then one more per 2.5 s", () => {
    const { clock, advance } = fakeClock();
    const b = new TokenBucket(4, 2500, clock);
    expect([1, 2, 3, 4].map(() => b.tryTake())).toEqual([true, true, true, true]);
    expect(b.tryTake()).toBe(false);
    advance(2499);
    expect(b.tryTake()).toBe(false);
    advance(1);
    expect(b.tryTake()).toBe(true);
    expect(b.tryTake()).toBe(false);
  });

  it("keeps partial progress and never exceeds the burst", () => {
    const { clock, advance } = fakeClock();
    const b = new TokenBucket(4, 1500, clock);
    for (let i = 0; i < 4; i++) b.tryTake();
    advance(1000);
    expect(b.tryTake()).toBe(false);
    advance(500);
    expect(b.tryTake()).toBe(true);
    advance(1_000_000);
    expect(b.available()).toBe(4);
  });

  it("rejects nonsense parameters", () => {
    const { clock } = fakeClock();
    expect(() => new TokenBucket(0, 100, clock)).toThrow(RangeError);
    expect(() => new TokenBucket(1, 0, clock)).toThrow(RangeError);
  });

  it("keeps one bucket per key", () => {
    const { clock } = fakeClock();
    const k = new KeyedTokenBuckets(1, 1000, clock);
    expect(k.tryTake("ws-a")).toBe(true);
    expect(k.tryTake("ws-a")).toBe(false);
    expect(k.tryTake("ws-b")).toBe(true);
    k.delete("ws-a");
    expect(k.tryTake("ws-a")).toBe(true);
  });
});
