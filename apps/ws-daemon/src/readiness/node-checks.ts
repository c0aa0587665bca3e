import { open, statfs, unlink } from "node:fs/promises";
import * as path from "node:path";

/**
 * The file the writability check creates and deletes. Dot-names in the working area belong to
 * the daemon (workspace ids cannot start with a dot), so it never meets a workspace's folder.
 */
export const PROBE_FILE = ".readiness-probe";

/** Bytes an unprivileged writer can still use on the filesystem holding `dir`. */
export async function freeBytes(dir: string): Promise<number> {
  const s = await statfs(dir);
  return Number(s.bavail) * Number(s.bsize);
}

/**
 * Creates, writes, syncs and deletes a small file in `dir`: proves the directory exists, is a
 * directory, its filesystem is mounted read-write and accepts data (a full disk fails the
 * write or the sync). Throws the system error otherwise.
 */
export async function checkWritable(dir: string): Promise<void> {
  const file = path.join(dir, PROBE_FILE);
  const handle = await open(file, "w", 0o600);
  try {
    await handle.writeFile("ok\n");
    await handle.sync();
  } finally {
    await handle.close();
  }
  await unlink(file);
}
