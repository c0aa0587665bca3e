import { existsSync } from "node:fs";
import { copyFile, mkdir, mkdtemp, readdir, symlink } from "node:fs/promises";
import { tmpdir } from "node:os";
import * as path from "node:path";
import { sh } from "./shell.js";

/** Everything the two packages are packed from: their folders and the root files they use. */
const packedFrom = [
  "package.json",
  "tsconfig.base.json",
  "LICENSE",
  "README.md",
  "libs/api-ts",
  "libs/api-mocks",
];

/**
 * A copy of the packages' sources as a fresh clone has them: the files git tracks, plus new
 * ones it does not ignore (so the test sees work in progress), and nothing it ignores (no
 * dist/, no caches). node_modules links each third-party package of the repository (as
 * `npm ci` would install them) but holds no `@ws-daemon/*`, so nothing can be taken from a
 * build in the repository.
 */
export async function cleanTree(repoRoot: string): Promise<string> {
  const listed = await sh(
    "git",
    ["ls-files", "-z", "--cached", "--others", "--exclude-standard", "--", ...packedFrom],
    repoRoot,
  ).catch((e: unknown) => {
    throw new Error(
      `the pack test copies the sources git knows about, and git could not list them: ${String(e)}`,
    );
  });
  const files = listed.split("\0").filter((f) => f !== "" && existsSync(path.join(repoRoot, f)));
  const tree = await mkdtemp(path.join(tmpdir(), "wsd-clean-tree-"));
  for (const file of files) {
    await mkdir(path.dirname(path.join(tree, file)), { recursive: true });
    await copyFile(path.join(repoRoot, file), path.join(tree, file));
  }
  const modules = path.join(tree, "node_modules");
  await mkdir(modules);
  for (const entry of await readdir(path.join(repoRoot, "node_modules"))) {
    if (entry === "@ws-daemon" || entry === ".cache") continue;
    await symlink(path.join(repoRoot, "node_modules", entry), path.join(modules, entry));
  }
  return tree;
}
