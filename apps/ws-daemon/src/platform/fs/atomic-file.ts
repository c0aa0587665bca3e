import { randomBytes } from "node:crypto";
import { open, rename, rm } from "node:fs/promises";
import { basename, dirname, join } from "node:path";

const fsyncDir = async (dir: string): Promise<void> => {
  const handle = await open(dir, "r");
  try {
    await handle.sync();
  } finally {
    await handle.close();
  }
};

/**
 * Writes a file so that readers (and a crash) see either the old or the complete new content:
 * temp file in the same directory, fsync, rename over the target, fsync the directory so the
 * rename itself survives a power loss.
 */
export const writeFileAtomic = async (
  path: string,
  data: string | Uint8Array,
  mode = 0o644,
): Promise<void> => {
  const dir = dirname(path);
  const temp = join(dir, `.${basename(path)}.tmp-${randomBytes(6).toString("hex")}`);
  const handle = await open(temp, "wx", mode);
  try {
    try {
      await handle.writeFile(data);
      await handle.sync();
    } finally {
      await handle.close();
    }
    await rename(temp, path);
  } catch (err) {
    await rm(temp, { force: true });
    throw err;
  }
  await fsyncDir(dir);
};

/** Removes a file and makes the removal durable. Missing files are fine. */
export const removeFileDurably = async (path: string): Promise<void> => {
  await rm(path, { force: true });
  await fsyncDir(dirname(path));
};
