import { lstat, readdir } from "node:fs/promises";
import { join } from "node:path";

export interface TreeStats {
  bytes: number;
  files: number;
}

/** Sums regular-file sizes below `root` without following symlinks (they count as neither). */
export const measureTree = async (root: string): Promise<TreeStats> => {
  const stats: TreeStats = { bytes: 0, files: 0 };
  const pending = [root];
  while (pending.length > 0) {
    const dir = pending.pop()!;
    let entries: import("node:fs").Dirent[];
    try {
      entries = await readdir(dir, { withFileTypes: true });
    } catch {
      continue; // vanished or unreadable: the stats are informational only
    }
    for (const entry of entries) {
      const path = join(dir, entry.name);
      if (entry.isDirectory()) pending.push(path);
      else if (entry.isFile()) {
        stats.files++;
        try {
          stats.bytes += (await lstat(path)).size;
        } catch {
          // removed concurrently
        }
      }
    }
  }
  return stats;
};
