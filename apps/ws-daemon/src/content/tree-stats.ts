import { lstat, readdir } from "node:fs/promises";
import { join } from "node:path";

export interface TreeStats {
  bytes: number;
  files: number;
}

/**
 * Size of a directory tree without following symlinks: apparent bytes of regular files and the
 * number of entries (files, dirs, links), not counting the root.
 */
export const measureTree = async (
  root: string,
  skip?: (path: string) => boolean,
): Promise<TreeStats> => {
  const stats: TreeStats = { bytes: 0, files: 0 };
  const walk = async (dir: string): Promise<void> => {
    const entries = await readdir(dir, { withFileTypes: true });
    for (const entry of entries) {
      const path = join(dir, entry.name);
      if (skip?.(path)) continue;
      stats.files++;
      if (entry.isDirectory()) await walk(path);
      else if (entry.isFile()) stats.bytes += (await lstat(path)).size;
    }
  };
  try {
    await walk(root);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== "ENOENT") throw err;
  }
  return stats;
};
