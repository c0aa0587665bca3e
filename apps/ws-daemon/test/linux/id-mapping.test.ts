import { describe, expect, it } from "vitest";
import {
  type IdMapping,
  MAX_ID_MAP_LINES,
  validateIdMappings,
} from "../../src/linux/id-mapping.js";
import { errorKind } from "./support/error-kind.js";

const allowed = { start: 100000, end: 165535 };
const kindOf = (mappings: readonly IdMapping[]) =>
  errorKind(() => validateIdMappings(mappings, allowed));

describe("validateIdMappings", () => {
  it("accepts a typical workspace mapping reaching exactly the end of the range", async () => {
    expect(await kindOf([{ containerId: 0, hostId: 100000, size: 65536 }])).toBe("ok");
    expect(
      await kindOf([
        { containerId: 0, hostId: 100000, size: 1 },
        { containerId: 1, hostId: 100001, size: 65535 },
      ]),
    ).toBe("ok");
  });

  const bad: Array<[string, IdMapping[]]> = [
    ["empty list", []],
    ["size 0", [{ containerId: 0, hostId: 100000, size: 0 }]],
    ["host end one past the range end", [{ containerId: 0, hostId: 100000, size: 65537 }]],
    ["host start below the range", [{ containerId: 0, hostId: 99999, size: 1 }]],
    ["negative id", [{ containerId: -1, hostId: 100000, size: 1 }]],
    ["fractional id", [{ containerId: 0.5, hostId: 100000, size: 1 }]],
    ["32-bit overflow", [{ containerId: 0xffff_ffff, hostId: 100000, size: 2 }]],
    [
      "overlapping container ranges",
      [
        { containerId: 0, hostId: 100000, size: 10 },
        { containerId: 5, hostId: 100100, size: 10 },
      ],
    ],
    [
      "overlapping host ranges",
      [
        { containerId: 0, hostId: 100000, size: 10 },
        { containerId: 100, hostId: 100009, size: 10 },
      ],
    ],
  ];
  for (const [name, mappings] of bad) {
    it(`rejects ${name} as invalid-argument`, async () => {
      expect(await kindOf(mappings)).toBe("invalid-argument");
    });
  }

  it("enforces the kernel's line limit", async () => {
    const many = (n: number) =>
      Array.from({ length: n }, (_, i) => ({ containerId: i, hostId: 100000 + i, size: 1 }));
    expect(await kindOf(many(MAX_ID_MAP_LINES))).toBe("ok");
    expect(await kindOf(many(MAX_ID_MAP_LINES + 1))).toBe("invalid-argument");
  });
});
