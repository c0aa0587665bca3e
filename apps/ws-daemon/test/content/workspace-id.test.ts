import { describe, expect, it } from "vitest";
import { validateMetadata, validateWorkspaceId } from "../../src/content/index.js";

/**
 * One bad input per check of workspace-id.ts (issue 17, finding 6): each input below is refused
 * by exactly one check, so a check that stops working fails its own test.
 */
const refusal = (value: unknown): string => {
  try {
    validateWorkspaceId(value);
  } catch (err) {
    expect(err).toMatchObject({ kind: "invalid-argument" });
    return (err as Error).message;
  }
  throw new Error(`${JSON.stringify(value)} was accepted`);
};

const CHARSET = 'id must be 1-128 characters of [A-Za-z0-9._-] and must not start with "."';

describe("validateWorkspaceId", () => {
  it.each(["a", "0", "_", "-", "ws-1.2_3", "A-Za-z0-9._-", "a..b", "x".repeat(128)])(
    "accepts %j",
    (id) => {
      expect(validateWorkspaceId(id)).toBe(id);
    },
  );

  it("type check: a number (whose text would pass the charset) is refused as missing", () => {
    expect(refusal(42)).toBe("id is required");
    expect(refusal(undefined)).toBe("id is required");
  });

  it("empty check: an empty string is 'required', not a charset error", () => {
    expect(refusal("")).toBe("id is required");
  });

  it("first character: a leading dot is refused (dot-names in the working area are the daemon's)", () => {
    expect(refusal(".state")).toBe(`${CHARSET}, got ".state"`);
    expect(refusal("..")).toBe(`${CHARSET}, got ".."`);
  });

  it("length: 129 characters are refused", () => {
    expect(refusal("x".repeat(129))).toContain(CHARSET);
  });

  it("charset: one character outside [A-Za-z0-9._-] is refused", () => {
    for (const id of ["a/b", "a b", "ü", "a\0", "a:b"]) expect(refusal(id)).toContain(CHARSET);
  });

  it("start anchor: a bad character before a valid tail is refused", () => {
    expect(refusal("/x")).toContain(CHARSET);
  });

  it("end anchor: a valid head before a bad character is refused", () => {
    expect(refusal("x/")).toContain(CHARSET);
    expect(refusal("x\n")).toContain(CHARSET);
  });

  it("the message shows at most 140 characters of the refused value", () => {
    const value = `!${"a".repeat(139)}###`;
    const message = refusal(value);
    expect(message).toContain(JSON.stringify(value.slice(0, 140)));
    expect(message).not.toContain("#");
  });
});

describe("validateMetadata", () => {
  it("returns exactly owner and metaId", () => {
    const extra = { owner: "o", metaId: "m", other: "x" } as unknown as Parameters<
      typeof validateMetadata
    >[0];
    expect(validateMetadata(extra)).toEqual({ owner: "o", metaId: "m" });
  });

  it("missing metadata is refused", () => {
    expect(() => validateMetadata(undefined)).toThrow(
      expect.objectContaining({ kind: "invalid-argument", message: "metadata is required" }),
    );
  });

  it("each field is checked under its own name", () => {
    expect(() => validateMetadata({ owner: "../x", metaId: "m" })).toThrow(
      /^metadata\.owner must be/,
    );
    expect(() => validateMetadata({ owner: "o", metaId: "" })).toThrow(
      "metadata.metaId is required",
    );
  });
});
