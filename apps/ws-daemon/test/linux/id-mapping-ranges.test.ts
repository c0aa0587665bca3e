import { describe, expect, it } from "vitest";
import {
  DEFAULT_ALLOWED_HOST_RANGES,
  hostIdInNamespace,
  type IdMapping,
  toAllowedRange,
  validateIdMappings,
  WORKSPACEKIT_ID_MAPPING,
  workspaceContentOwner,
} from "../../src/linux/id-mapping.js";
import { allowedHostRanges } from "../../src/wiring/compat-settings.js";
import { errorKind } from "./support/error-kind.js";

/** Upstream's installer defaults, {33333, 1} and {100000, 70000}, as the daemon uses them. */
const defaults = DEFAULT_ALLOWED_HOST_RANGES.map(toAllowedRange);
const kindOf = (mappings: readonly IdMapping[]) =>
  errorKind(() => validateIdMappings(mappings, defaults));
const one = (containerId: number, hostId: number, size: number): IdMapping[] => [
  { containerId, hostId, size },
];

describe("WriteIDMapping's allowed host ranges (issue 11)", () => {
  it("default to upstream's root range 33333 and user range 100000..169999", () => {
    expect(defaults).toEqual([
      { start: 33333, end: 33333 },
      { start: 100000, end: 169999 },
    ]);
  });

  it("accept workspacekit's standard mapping [{0->33333,1},{1->100000,65534}]", async () => {
    expect(WORKSPACEKIT_ID_MAPPING).toEqual([
      { containerId: 0, hostId: 33333, size: 1 },
      { containerId: 1, hostId: 100000, size: 65534 },
    ]);
    expect(await kindOf(WORKSPACEKIT_ID_MAPPING)).toBe("ok");
  });

  it("the root range holds exactly 33333: one id below, one above and two ids are refused", async () => {
    expect(await kindOf(one(0, 33333, 1))).toBe("ok");
    expect(await kindOf(one(0, 33332, 1))).toBe("invalid-argument");
    expect(await kindOf(one(0, 33334, 1))).toBe("invalid-argument");
    expect(await kindOf(one(0, 33333, 2))).toBe("invalid-argument");
  });

  it("the user range's ends are both checked", async () => {
    expect(await kindOf(one(1, 100000, 70000))).toBe("ok");
    expect(await kindOf(one(1, 99999, 1))).toBe("invalid-argument");
    expect(await kindOf(one(1, 169999, 1))).toBe("ok");
    expect(await kindOf(one(1, 170000, 1))).toBe("invalid-argument");
  });

  it("refuses upstream's quirk: start inside and size within the range's size, end beyond it", async () => {
    // upstream checked hostStart >= 100000 && size <= 70000 only: this reached 239998
    const quirk = one(1, 169999, 70000);
    expect(await kindOf(quirk)).toBe("invalid-argument");
    const err = await Promise.resolve()
      .then(() => validateIdMappings(quirk, defaults))
      .catch((e: Error) => e);
    expect((err as Error).message).toBe(
      "mapping 0: host ids 169999..239998 are outside every allowed range (33333..33333, 100000..169999)",
    );
  });

  it("a mapping must lie inside one range, not across two adjacent ones", async () => {
    const adjacent = [
      { start: 100, end: 199 },
      { start: 200, end: 299 },
    ];
    expect(await errorKind(() => validateIdMappings(one(0, 150, 100), adjacent))).toBe(
      "invalid-argument",
    );
    expect(await errorKind(() => validateIdMappings(one(0, 200, 100), adjacent))).toBe("ok");
  });

  it("host root and system ids stay out of reach", async () => {
    for (const hostId of [0, 1, 999, 65534]) {
      expect(await kindOf(one(0, hostId, 1)), `host ${hostId}`).toBe("invalid-argument");
    }
  });

  it("the config's older one-range form replaces the list", () => {
    expect(
      allowedHostRanges({
        allowedHostRanges: [{ start: 1, size: 1 }],
        hostRangeStart: 200000,
        hostRangeEnd: 265535,
      }),
    ).toEqual([{ start: 200000, end: 265535 }]);
    expect(allowedHostRanges({ allowedHostRanges: [...DEFAULT_ALLOWED_HOST_RANGES] })).toEqual(
      defaults,
    );
  });
});

describe("content ownership rule (issue 11)", () => {
  it("maps ids through workspacekit's namespace: 0 -> 33333, n -> 100000 + n - 1", () => {
    expect(hostIdInNamespace(0)).toBe(33333);
    expect(hostIdInNamespace(1)).toBe(100000);
    expect(hostIdInNamespace(33333)).toBe(133332);
    expect(hostIdInNamespace(65534)).toBe(165533);
    expect(hostIdInNamespace(65535)).toBeUndefined();
  });

  it("content of a user-namespaced workspace belongs to 133332, otherwise to 33333", () => {
    const user = { uid: 33333, gid: 33333 };
    expect(workspaceContentOwner(user, true)).toEqual({ uid: 133332, gid: 133332 });
    expect(workspaceContentOwner(user, false)).toEqual({ uid: 33333, gid: 33333 });
    expect(workspaceContentOwner({ uid: 1000, gid: 1001 }, true)).toEqual({
      uid: 100999,
      gid: 101000,
    });
  });

  it("a user without a host id in the namespace is refused", async () => {
    expect(await errorKind(() => workspaceContentOwner({ uid: 70000, gid: 33333 }, true))).toBe(
      "invalid-argument",
    );
  });
});
