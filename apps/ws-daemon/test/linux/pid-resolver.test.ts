import { describe, expect, it } from "vitest";
import { validatePidValue } from "../../src/linux/pid-resolver.js";
import { MAX_PID } from "../../src/platform/index.js";
import { errorKind } from "./support/error-kind.js";

describe("validatePidValue", () => {
  for (const v of [
    0,
    -1,
    -4_000_000,
    MAX_PID + 1,
    1.5,
    Number.NaN,
    2 ** 53,
    9_223_372_036_854_775_807n,
    -1n,
  ]) {
    it(`rejects ${String(v)} as invalid-argument`, async () => {
      expect(await errorKind(() => validatePidValue(v))).toBe("invalid-argument");
    });
  }
  it("accepts bigint wire values in range", () => {
    expect(validatePidValue(42n)).toBe(42);
    expect(validatePidValue(MAX_PID)).toBe(MAX_PID);
  });
});
