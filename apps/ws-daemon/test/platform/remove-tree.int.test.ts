import { execFile } from "node:child_process";
import { mkdir, mkdtemp, readdir, readFile, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { promisify } from "node:util";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { removeTree, Trash } from "../../src/platform/index.js";
import { isRoot, notRootReason } from "../support/env.js";

const run = promisify(execFile);

if (!isRoot) console.warn(notRootReason("[remove-tree mount tests]"));

/** A filesystem mounted inside a tree is not the tree's: the delete never crosses into it. */
describe.skipIf(!isRoot)("removeTree and a mount inside the tree", () => {
  let root: string;
  let mounted: string | undefined;
  beforeEach(async () => {
    root = await mkdtemp(join(tmpdir(), "wsd-remove-mount-"));
  });
  afterEach(async () => {
    if (mounted) await run("umount", [mounted]).catch(() => undefined);
    mounted = undefined;
    await rm(root, { recursive: true, force: true });
  });

  const treeWithMount = async (): Promise<{ ws: string; mount: string }> => {
    const ws = join(root, "area", "ws");
    const mount = join(ws, "deep", "mnt");
    await mkdir(mount, { recursive: true });
    await writeFile(join(ws, "deep", "own-file"), "own");
    await run("mount", ["-t", "tmpfs", "-o", "size=1m", "tmpfs", mount]);
    mounted = mount;
    await writeFile(join(mount, "foreign"), "not the tree's");
    return { ws, mount };
  };

  it("refuses to descend into it, and what is mounted there stays", async () => {
    const { ws, mount } = await treeWithMount();
    await expect(removeTree(ws)).rejects.toMatchObject({
      kind: "failed-precondition",
      message: expect.stringContaining("another filesystem is mounted there"),
    });
    expect(await readFile(join(mount, "foreign"), "utf8")).toBe("not the tree's");
  });

  it("Trash.discard of a mount point fails without touching its content", async () => {
    const { mount } = await treeWithMount();
    const trash = new Trash(join(root, "area", ".trash"));
    // rename(2) of a mount point is EBUSY: its content is not ours to delete.
    await expect(trash.discard(mount)).rejects.toMatchObject({ code: "EBUSY" });
    expect(await readdir(mount)).toEqual(["foreign"]);
  });
});

describe.skipIf(!isRoot)("Trash.empty with an entry that cannot be deleted", () => {
  let root: string;
  let mounted: string | undefined;
  beforeEach(async () => {
    root = await mkdtemp(join(tmpdir(), "wsd-trash-mount-"));
  });
  afterEach(async () => {
    if (mounted) await run("umount", [mounted]).catch(() => undefined);
    mounted = undefined;
    await rm(root, { recursive: true, force: true });
  });

  it("deletes the others, then fails naming how many it could not delete", async () => {
    const trash = new Trash(join(root, ".trash"));
    await trash.ensure();
    const stuck = join(root, ".trash", "a-stuck", "mnt");
    await mkdir(stuck, { recursive: true });
    await run("mount", ["-t", "tmpfs", "-o", "size=1m", "tmpfs", stuck]);
    mounted = stuck;
    await writeFile(join(stuck, "foreign"), "x");
    await mkdir(join(root, ".trash", "b-fine", "deep"), { recursive: true });
    await expect(trash.empty()).rejects.toMatchObject({
      kind: "failed-precondition",
      message: expect.stringContaining("1 of 2 entries"),
    });
    expect(await readdir(join(root, ".trash"))).toEqual(["a-stuck"]);
    expect(await readdir(stuck)).toEqual(["foreign"]);
  });
});
