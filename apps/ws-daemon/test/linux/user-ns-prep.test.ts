import { describe, expect, it } from "vitest";
import { kernelAtLeast } from "../../src/linux/user-ns-prep.js";

describe("kernelAtLeast", () => {
  it("compares major.minor", () => {
    expect(kernelAtLeast("6.18.44-fc-v782", 5, 12)).toBe(true);
    expect(kernelAtLeast("5.12.0", 5, 12)).toBe(true);
    expect(kernelAtLeast("5.11.22", 5, 12)).toBe(false);
    expect(kernelAtLeast("4.19.0", 5, 12)).toBe(false);
    expect(kernelAtLeast("garbage", 5, 12)).toBe(false);
  });
});
