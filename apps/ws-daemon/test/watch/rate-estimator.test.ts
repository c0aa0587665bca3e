import { describe, expect, it } from "vitest";
import { RateEstimator } from "../../src/watch/rate-estimator.js";

describe("RateEstimator", () => {
  it("is unknown until reports span some time, then the slope over the last seconds", () => {
    const r = new RateEstimator();
    r.add(0, 0);
    r.add(100, 1_000);
    expect(r.bytesPerSecond()).toBe(0);
    expect(r.etaMs(1_000, 10_000)).toBeUndefined();
    r.add(1_000, 10_000);
    expect(r.bytesPerSecond()).toBe(10_000);
    expect(r.etaMs(10_000, 30_000)).toBe(2_000);
    // a later, slower stretch replaces the early fast one once it leaves the window
    for (let t = 2_000; t <= 12_000; t += 1_000) r.add(t, 10_000 + (t - 1_000));
    expect(r.bytesPerSecond()).toBeCloseTo(1_000, 0);
    expect(r.etaMs(1, 0)).toBeUndefined();
  });
});
