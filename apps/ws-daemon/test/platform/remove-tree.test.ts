import {
  lstat,
  mkdir,
  mkdtemp,
  readdir,
  rm,
  rmdir,
  stat,
  symlink,
  unlink,
  writeFile,
} from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { emptyDirectory, removeChild, removeTree, Trash } from "../../src/platform/index.js";
import {
  type AfterList,
  currentPath,
  makeCanary as makeCanaryAt,
  makeVictimTree,
  treeSnapshot as snapshot,
  swapChildAfterParentListed,
  swapListedDirectory,
} from "../support/swap-attack.js";

/**
 * Finding 3 of issue 17: a workspace process with its working directory inside a tree that the
 * daemon deletes swaps a directory for a symlink while the delete walks. These tests play that
 * process through the `afterList` fault hook, on the real filesystem (as root in CI: nothing
 * protects the canary but the walk itself).
 */
let root: string;
beforeEach(async () => {
  root = await mkdtemp(join(tmpdir(), "wsd-remove-tree-"));
});
afterEach(async () => {
  await rm(root, { recursive: true, force: true });
});

const makeCanary = () => makeCanaryAt(join(root, "outside", "canary"));
const makeTree = (area: string) => makeVictimTree(join(area, "ws"));

/**
 * How `rm -r` and Node's `fs.rm({ recursive: true })` walk: lstat a path, list it, then recurse
 * into `path/name` by name, resolving every component again.
 */
const removeByName = async (path: string, afterList: AfterList): Promise<void> => {
  const stats = await lstat(path);
  if (!stats.isDirectory()) return unlink(path);
  const names = await readdir(path);
  await afterList({ path, names });
  for (const name of names) await removeByName(join(path, name), afterList);
  await rmdir(path);
};

describe("a directory swapped for a symlink while the delete walks (attack)", () => {
  it("succeeds against a walk by path names: the canary outside is deleted", async () => {
    const canary = await makeCanary();
    const ws = await makeTree(join(root, "area"));
    const attack = swapListedDirectory(canary.dir);
    await removeByName(ws, attack).catch(() => undefined);
    expect(attack.fired).toBe(true);
    // This is the attack working: without it the test below would prove nothing.
    expect(await snapshot(canary.dir)).not.toEqual(canary.before);
    await expect(stat(join(canary.dir, "f1"))).rejects.toMatchObject({ code: "ENOENT" });
  });

  it("removeTree: swapped after it was listed, the canary stays and the tree is gone", async () => {
    const canary = await makeCanary();
    const ws = await makeTree(join(root, "area"));
    let listings = 0;
    const attack = swapListedDirectory(canary.dir);
    await removeTree(ws, {
      afterList: async (listed) => {
        listings++;
        await attack(listed);
      },
    });
    expect(attack.fired).toBe(true);
    expect(listings).toBeGreaterThan(3);
    expect(await snapshot(canary.dir)).toEqual(canary.before);
    expect(await readdir(join(root, "area"))).toEqual([]);
  });

  it("removeTree: swapped right after its parent was listed, the canary stays", async () => {
    const canary = await makeCanary();
    const ws = await makeTree(join(root, "area"));
    const attack = swapChildAfterParentListed(canary.dir);
    await removeTree(ws, { afterList: attack });
    expect(attack.fired).toBe(true);
    expect(await snapshot(canary.dir)).toEqual(canary.before);
    expect(await readdir(join(root, "area"))).toEqual([]);
  });

  it("removeTree: a link to the working area itself (`..`) deletes no other workspace", async () => {
    const area = join(root, "area");
    const ws = await makeTree(area);
    await mkdir(join(area, "other", "sub", "nested"), { recursive: true });
    await writeFile(join(area, "other", "sub", "f1"), "tenant");
    await writeFile(join(area, "other", "f1"), "tenant");
    const before = await snapshot(join(area, "other"));
    // `sub` becomes `sub -> ../..`: the working area, every tenant's content.
    const attack = swapListedDirectory("../..");
    await removeTree(ws, { afterList: attack });
    expect(attack.fired).toBe(true);
    expect(await snapshot(join(area, "other"))).toEqual(before);
    expect(await readdir(area)).toEqual(["other"]);
  });

  it("Trash.discard: renamed away first, then deleted by descriptor; the canary stays", async () => {
    const canary = await makeCanary();
    const area = join(root, "area");
    const ws = await makeTree(area);
    const attack = swapListedDirectory(canary.dir);
    const trash = new Trash(join(area, ".trash"), { afterList: attack });
    await trash.discard(ws);
    expect(attack.fired).toBe(true);
    expect(await snapshot(canary.dir)).toEqual(canary.before);
    expect(await readdir(area)).toEqual([".trash"]);
    expect(await readdir(join(area, ".trash"))).toEqual([]);
    expect((await lstat(join(area, ".trash"))).mode & 0o7777).toBe(0o700);
  });
});

describe("removeTree", () => {
  it("removes links themselves, never what they point to", async () => {
    const canary = await makeCanary();
    const ws = join(root, "ws");
    await mkdir(join(ws, "d"), { recursive: true });
    await symlink(canary.dir, join(ws, "dir-link"));
    await symlink(join(canary.dir, "f1"), join(ws, "d", "file-link"));
    await symlink("/nonexistent", join(ws, "dangling"));
    await removeTree(ws);
    await expect(lstat(ws)).rejects.toMatchObject({ code: "ENOENT" });
    expect(await snapshot(canary.dir)).toEqual(canary.before);
  });

  it("removes a file, a symlink (not its target), and accepts a missing path", async () => {
    const canary = await makeCanary();
    await writeFile(join(root, "file"), "x");
    await symlink(canary.dir, join(root, "link"));
    await removeTree(join(root, "file"));
    await removeTree(join(root, "link"));
    await removeTree(join(root, "missing"));
    await removeTree(join(root, "missing-parent", "x"));
    expect(await readdir(root)).toEqual(["outside"]);
    expect(await snapshot(canary.dir)).toEqual(canary.before);
  });

  it("removes a tree deeper than the descriptors it keeps open", async () => {
    const ws = join(root, "ws");
    const deep = join(ws, ...Array.from({ length: 100 }, (_, i) => `d${i}`));
    await mkdir(deep, { recursive: true });
    await writeFile(join(deep, "leaf"), "leaf");
    await writeFile(join(ws, "d0", "d1", "side"), "side");
    await removeTree(ws);
    expect(await readdir(root)).toEqual([]);
  });

  it("gives up with a clear error on a directory refilled on every pass, keeping the rest", async () => {
    const ws = join(root, "ws");
    await mkdir(join(ws, "busy"), { recursive: true });
    let n = 0;
    const refill: AfterList = async ({ path }) => {
      await writeFile(join(await currentPath(path), `new-${n++}`), "x");
    };
    await expect(removeTree(ws, { afterList: refill })).rejects.toMatchObject({
      kind: "failed-precondition",
      message: expect.stringContaining("keeps changing"),
    });
  });

  it("refuses a parent whose last component is a symlink (it is trusted by path only)", async () => {
    const canary = await makeCanary();
    await symlink(canary.dir, join(root, "parent-link"));
    // O_NOFOLLOW|O_DIRECTORY on a symlink: Linux answers ENOTDIR (ELOOP without O_DIRECTORY).
    await expect(removeChild(join(root, "parent-link"), "f1")).rejects.toMatchObject({
      code: expect.stringMatching(/^(ENOTDIR|ELOOP)$/),
    });
    expect(await snapshot(canary.dir)).toEqual(canary.before);
  });

  it("refuses names that are not a single entry", async () => {
    for (const name of ["", ".", "..", "a/b"]) {
      await expect(removeChild(root, name)).rejects.toMatchObject({ kind: "invalid-argument" });
    }
  });

  it("emptyDirectory keeps the directory and removes what is inside, links not followed", async () => {
    const canary = await makeCanary();
    const ws = await makeTree(join(root, "area"));
    await symlink(canary.dir, join(ws, "link"));
    const attack = swapChildAfterParentListed(canary.dir);
    await emptyDirectory(ws, { afterList: attack });
    expect(attack.fired).toBe(true);
    expect(await readdir(ws)).toEqual([]);
    expect(await snapshot(canary.dir)).toEqual(canary.before);
  });
});

describe("Trash", () => {
  it("empty removes what an interrupted discard left, and nothing else", async () => {
    const area = join(root, "area");
    const trash = new Trash(join(area, ".trash"));
    await mkdir(area);
    await trash.ensure();
    await makeTree(join(area, ".trash", "left-over"));
    await writeFile(join(area, ".trash", "stray-file"), "x");
    await mkdir(join(area, "kept"));
    expect((await trash.empty()).sort()).toEqual(["left-over", "stray-file"]);
    expect(await readdir(join(area, ".trash"))).toEqual([]);
    expect(await readdir(area)).toEqual([".trash", "kept"].sort());
  });

  it("empty of a trash that was never created finds nothing", async () => {
    expect(await new Trash(join(root, "none", ".trash")).empty()).toEqual([]);
  });

  it("ensure makes an existing trash private again and refuses a non-directory", async () => {
    const dir = join(root, ".trash");
    await mkdir(dir, { mode: 0o777 });
    await new Trash(dir).ensure();
    expect((await lstat(dir)).mode & 0o7777).toBe(0o700);
    await writeFile(join(root, "file-trash"), "x");
    await expect(new Trash(join(root, "file-trash")).ensure()).rejects.toMatchObject({
      kind: "failed-precondition",
    });
  });

  it("discard of a missing path does nothing", async () => {
    const trash = new Trash(join(root, ".trash"));
    await trash.discard(join(root, "missing"));
    expect(await readdir(root)).toEqual([".trash"]);
  });
});
