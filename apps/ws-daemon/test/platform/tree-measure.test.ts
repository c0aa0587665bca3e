import { mkdir, mkdtemp, rm, symlink, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { entryCount, measureTree } from "../../src/platform/index.js";

let root: string;
beforeAll(async () => {
  root = await mkdtemp(join(tmpdir(), "wsd-measure-"));
  await mkdir(join(root, "a/b"), { recursive: true });
  await writeFile(join(root, "a/one.txt"), "12345");
  await writeFile(join(root, "a/b/two.bin"), Buffer.alloc(1000));
  await symlink("/etc/passwd", join(root, "link"));
  await mkdir(join(root, "skipped"));
  await writeFile(join(root, "skipped/big"), Buffer.alloc(5000));
});
afterAll(() => rm(root, { recursive: true, force: true }));

describe("measureTree", () => {
  it("counts files, directories and other entries without following links", async () => {
    const m = await measureTree(root, { skip: (p) => p === join(root, "skipped") });
    expect(m).toEqual({ regularFileBytes: 1005, regularFiles: 2, directories: 2, otherEntries: 1 });
    expect(entryCount(m)).toBe(5);
  });

  it("a missing root measures as empty", async () => {
    expect(await measureTree(join(root, "nope"))).toEqual({
      regularFileBytes: 0,
      regularFiles: 0,
      directories: 0,
      otherEntries: 0,
    });
  });

  it("strict fails on a root that is a file, best-effort measures it as empty", async () => {
    const file = join(root, "a/one.txt");
    await expect(measureTree(file)).rejects.toMatchObject({ code: "ENOTDIR" });
    expect(entryCount(await measureTree(file, { mode: "best-effort" }))).toBe(0);
  });
});
