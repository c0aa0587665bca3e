import type { Dirent } from "node:fs";
import { lstat, readdir } from "node:fs/promises";
import { join } from "node:path";
import { errnoCode } from "../errors.js";

export interface TreeMeasure {
  /** Apparent bytes of the regular files. */
  regularFileBytes: number;
  regularFiles: number;
  directories: number;
  /** Symlinks, fifos, sockets, devices. */
  otherEntries: number;
}

export interface MeasureTreeOptions {
  /** Leave out a path (and, for a directory, everything below it). */
  skip?: (path: string) => boolean;
  /**
   * "strict" fails on any unreadable directory (except a missing root); "best-effort" counts what
   * it can read and skips what vanished or cannot be read (figures that are informational only).
   */
  mode?: "strict" | "best-effort";
}

/**
 * Counts a directory tree without following symlinks; the root itself is not counted. A missing
 * root measures as empty.
 */
export const measureTree = async (
  root: string,
  options: MeasureTreeOptions = {},
): Promise<TreeMeasure> => {
  const strict = (options.mode ?? "strict") === "strict";
  const m: TreeMeasure = { regularFileBytes: 0, regularFiles: 0, directories: 0, otherEntries: 0 };
  const pending = [root];
  while (pending.length > 0) {
    const dir = pending.pop() as string;
    let entries: Dirent[];
    try {
      entries = await readdir(dir, { withFileTypes: true });
    } catch (err) {
      if (errnoCode(err) === "ENOENT" && dir === root) return m;
      if (strict) throw err;
      continue;
    }
    for (const entry of entries) {
      const path = join(dir, entry.name);
      if (options.skip?.(path)) continue;
      if (entry.isDirectory()) {
        m.directories++;
        pending.push(path);
      } else if (entry.isFile()) {
        m.regularFiles++;
        try {
          m.regularFileBytes += (await lstat(path)).size;
        } catch (err) {
          if (strict) throw err;
        }
      } else {
        m.otherEntries++;
      }
    }
  }
  return m;
};

/** Every entry below the root (files, directories, links, ...). */
export const entryCount = (m: TreeMeasure): number =>
  m.regularFiles + m.directories + m.otherEntries;
