import { mkdir, readdir, readFile, readlink, rename, symlink, writeFile } from "node:fs/promises";
import { join } from "node:path";
import type { RemoveTreeOptions } from "../../src/platform/index.js";

/**
 * The attacker of issue 17's finding 3, played through the delete walk's `afterList` fault
 * hook: a workspace process with its working directory inside a tree the daemon deletes swaps a
 * directory for a symlink while the walk runs.
 */
export type AfterList = NonNullable<RemoveTreeOptions["afterList"]>;

/** Every path below `dir` with the content of its files ("<dir>" for directories, "-> t" for links). */
export const treeSnapshot = async (dir: string): Promise<Record<string, string>> => {
  const out: Record<string, string> = {};
  const walk = async (d: string, prefix: string): Promise<void> => {
    for (const e of await readdir(d, { withFileTypes: true })) {
      const p = join(d, e.name);
      if (e.isDirectory()) {
        out[prefix + e.name] = "<dir>";
        await walk(p, `${prefix}${e.name}/`);
      } else if (e.isSymbolicLink()) out[prefix + e.name] = `-> ${await readlink(p)}`;
      else out[prefix + e.name] = await readFile(p, "utf8");
    }
  };
  await walk(dir, "");
  return out;
};

/** A canary tree at `dir` with the same names as `sub` of `makeVictimTree`. */
export const makeCanary = async (
  dir: string,
): Promise<{ dir: string; before: Record<string, string> }> => {
  await mkdir(join(dir, "nested"), { recursive: true });
  await writeFile(join(dir, "f1"), "canary one");
  await writeFile(join(dir, "f2"), "canary two");
  await writeFile(join(dir, "nested", "f3"), "canary three");
  return { dir, before: await treeSnapshot(dir) };
};

/** Fills `dir` (created if needed) with `a/sub/{f1,f2,nested/f3}` and `top.txt`. */
export const makeVictimTree = async (dir: string): Promise<string> => {
  await mkdir(join(dir, "a", "sub", "nested"), { recursive: true });
  await writeFile(join(dir, "a", "sub", "f1"), "one");
  await writeFile(join(dir, "a", "sub", "f2"), "two");
  await writeFile(join(dir, "a", "sub", "nested", "f3"), "three");
  await writeFile(join(dir, "top.txt"), "top");
  return dir;
};

/** Where the listed directory is now (the safe walk hands over a /proc/self/fd path). */
export const currentPath = async (listedPath: string): Promise<string> =>
  listedPath.startsWith("/proc/") ? readlink(listedPath) : listedPath;

/** A hook that attacks once; `fired` tells the test that the attack really ran. */
export interface Attack extends AfterList {
  readonly fired: boolean;
}

const once = (
  when: (names: readonly string[]) => boolean,
  victim: (listedDir: string) => string,
  target: string,
): Attack => {
  let fired = false;
  const hook = async ({ path, names }: { path: string; names: readonly string[] }) => {
    if (fired || !when(names)) return;
    fired = true;
    const where = victim(await currentPath(path));
    await rename(where, `${where}.gone`);
    await symlink(target, where);
  };
  return Object.defineProperty(hook, "fired", { get: () => fired }) as Attack;
};

/** Once, right after `sub` was listed: `mv sub sub.gone && ln -s <target> sub`. */
export const swapListedDirectory = (target: string): Attack =>
  once(
    (names) => names.includes("nested"),
    (dir) => dir,
    target,
  );

/** Once, right after `a` (the parent of `sub`) was listed: swaps `sub` the same way. */
export const swapChildAfterParentListed = (target: string): Attack =>
  once(
    (names) => names.includes("sub"),
    (dir) => join(dir, "sub"),
    target,
  );
