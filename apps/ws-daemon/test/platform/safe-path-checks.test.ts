import { mkdir, mkdtemp, rm, symlink, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { DomainError, relativePathSegments, resolveInside } from "../../src/platform/index.js";

/**
 * One bad input per check of safe-path.ts (issue 17, finding 6): each is refused by exactly one
 * check, and the messages are compared whole, so a check that stops working, or reports the
 * wrong place, fails its own test.
 */
const refusal = (relPath: string): string => {
  try {
    relativePathSegments(relPath, "field");
  } catch (err) {
    expect(err).toBeInstanceOf(DomainError);
    expect(err).toMatchObject({ kind: "invalid-argument" });
    return (err as Error).message;
  }
  throw new Error(`${JSON.stringify(relPath)} was accepted`);
};

describe("relativePathSegments, one check at a time", () => {
  it("NUL: a NUL byte in an otherwise plain relative name", () => {
    expect(refusal("a\0b")).toBe("field: must not contain NUL bytes");
  });

  it("absolute: a leading slash on a path without `..`", () => {
    expect(refusal("/etc")).toBe(
      'field: must be relative to the workspace, got absolute path "/etc"',
    );
  });

  it("`..`: a parent reference in the middle of a relative path", () => {
    expect(refusal("a/../b")).toBe('field: must not contain "..", got "a/../b"');
  });

  it("drops empty and `.` segments, and keeps names that merely contain dots", () => {
    expect(relativePathSegments("./a//.b/./..c/c../", "f")).toEqual(["a", ".b", "..c", "c.."]);
    expect(relativePathSegments("", "f")).toEqual([]);
    expect(relativePathSegments("a/", "f")).toEqual(["a"]);
  });
});

describe("resolveInside, one check at a time", () => {
  let root: string;
  let base: string;
  beforeEach(async () => {
    base = await mkdtemp(join(tmpdir(), "wsd-safe-path-"));
    root = join(base, "ws");
    await mkdir(join(root, "dir", "sub"), { recursive: true });
    await writeFile(join(root, "dir", "file"), "x");
    await symlink("sub", join(root, "dir", "link"));
  });
  afterEach(() => rm(base, { recursive: true, force: true }));

  it("accepts a regular file as the last component (only inner components must be directories)", async () => {
    await expect(resolveInside(root, "dir/file")).resolves.toBe(join(root, "dir/file"));
  });

  it("a missing component ends the walk: the rest is resolved lexically", async () => {
    await expect(resolveInside(root, "dir/new/x")).resolves.toBe(join(root, "dir/new/x"));
  });

  it("symlink: a link one level down is refused, naming the path up to it", async () => {
    await expect(resolveInside(root, "dir/link/x", "target")).rejects.toMatchObject({
      kind: "invalid-argument",
      message: 'target: "dir/link/x" passes through a symlink (dir/link), which is not allowed',
    });
  });

  it("symlink: a link as the last component is refused too", async () => {
    await expect(resolveInside(root, "dir/link", "target")).rejects.toMatchObject({
      message: 'target: "dir/link" passes through a symlink (dir/link), which is not allowed',
    });
  });

  it("not a directory: a regular file with a path below it", async () => {
    await expect(resolveInside(root, "dir/file/x", "target")).rejects.toMatchObject({
      kind: "invalid-argument",
      message: "target: dir/file is not a directory",
    });
  });

  it("the field name defaults to `path`", async () => {
    await expect(resolveInside(root, "dir/file/x")).rejects.toMatchObject({
      message: "path: dir/file is not a directory",
    });
  });

  it("fail closed: an lstat error other than ENOENT is not taken for 'absent'", async () => {
    // The root itself is a file: lstat of root/x fails with ENOTDIR, which says nothing about
    // what is there. Taking it for "not there yet" would resolve a path nobody checked.
    await expect(resolveInside(join(root, "dir", "file"), "x")).rejects.toMatchObject({
      code: "ENOTDIR",
    });
  });

  it("a name too long for the filesystem is invalid-argument, not 'absent'", async () => {
    await expect(resolveInside(root, `dir/${"n".repeat(300)}`, "target")).rejects.toMatchObject({
      kind: "invalid-argument",
      message: "target: a name in the path is too long",
    });
  });
});
