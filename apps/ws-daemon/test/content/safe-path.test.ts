import { mkdir, symlink, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { relativePathSegments, resolveInside } from "../../src/platform/fs/safe-path.js";
import { DomainError } from "../../src/platform/index.js";
import { makeTempDirs, type TempDirs } from "./fixtures.js";

describe("relativePathSegments", () => {
  it.each([
    ["", []],
    [".", []],
    ["a/b", ["a", "b"]],
    ["./a//b/./", ["a", "b"]],
    ["a..b/c", ["a..b", "c"]],
  ])("accepts %j", (input, expected) => {
    expect(relativePathSegments(input, "f")).toEqual(expected);
  });

  it.each(["..", "../x", "a/../../x", "a/..", "/etc/passwd", "/", "a\0b"])(
    "refuses %j",
    (input) => {
      try {
        relativePathSegments(input, "field.name");
        expect.unreachable();
      } catch (err) {
        expect(err).toBeInstanceOf(DomainError);
        expect((err as DomainError).kind).toBe("invalid-argument");
        expect((err as DomainError).message).toContain("field.name");
      }
    },
  );
});

describe("resolveInside", () => {
  let dirs: TempDirs;
  let root: string;
  beforeEach(async () => {
    dirs = await makeTempDirs();
    root = join(dirs.root, "ws");
    await mkdir(join(root, "real/dir"), { recursive: true });
    await writeFile(join(root, "file"), "x");
    await symlink("/etc", join(root, "out"));
    await symlink("real", join(root, "inside"));
  });
  afterEach(() => dirs.cleanup());

  it("resolves existing and not yet existing paths below the root", async () => {
    await expect(resolveInside(root, "real/dir")).resolves.toBe(join(root, "real/dir"));
    await expect(resolveInside(root, "real/new/deeper")).resolves.toBe(
      join(root, "real/new/deeper"),
    );
    await expect(resolveInside(root, "")).resolves.toBe(root);
  });

  it.each(["out", "out/passwd", "inside/dir", "inside"])(
    "refuses a path through the symlink %j",
    async (p) => {
      await expect(resolveInside(root, p, "checkoutLocation")).rejects.toMatchObject({
        kind: "invalid-argument",
        message: expect.stringContaining("symlink"),
      });
    },
  );

  it("refuses a path that continues below a regular file", async () => {
    await expect(resolveInside(root, "file/x")).rejects.toMatchObject({ kind: "invalid-argument" });
  });
});
