import { lchown, lstat, mkdir } from "node:fs/promises";
import { join } from "node:path";
import { type Owner, removeChild, writeFileAtomic } from "../platform/index.js";
import type { InitializerStats, InitSource } from "./workspace-record.js";

/** Directory inside every workspace that belongs to the daemon. */
export const DAEMON_DIR = ".ws-daemon";
const READY_FILE = "ready.json";
export const READY_MARKER = `${DAEMON_DIR}/${READY_FILE}`;

export interface ReadyMarker {
  source: InitSource;
  stats: InitializerStats[];
  readyAt: string;
}

/**
 * The workspace's content (a cloned repository, a restored archive) may already have put something
 * at DAEMON_DIR, e.g. a symlink to a directory outside the workspace. The name is ours: anything
 * that is not a real directory is removed (a symlink itself, never its target) before we use it.
 */
const ensureDaemonDir = async (
  contentDir: string,
  create: boolean,
  owner?: Owner,
): Promise<boolean> => {
  const dir = join(contentDir, DAEMON_DIR);
  const stats = await lstat(dir).catch((err: NodeJS.ErrnoException) => {
    if (err.code === "ENOENT") return undefined;
    throw err;
  });
  if (stats && !stats.isDirectory()) await removeChild(contentDir, DAEMON_DIR);
  if (stats?.isDirectory()) return true;
  if (!create) return false;
  await mkdir(dir, { mode: 0o755 });
  if (owner) await lchown(dir, owner.uid, owner.gid);
  return true;
};

/** Written last, atomically (rename), so a watcher that sees the file sees all of the content. */
export const writeReadyMarker = async (
  contentDir: string,
  marker: ReadyMarker,
  owner?: Owner,
): Promise<void> => {
  await ensureDaemonDir(contentDir, true, owner);
  const path = join(contentDir, READY_MARKER);
  await writeFileAtomic(path, `${JSON.stringify(marker, null, 2)}\n`);
  // like everything else in the workspace, the marker is the workspace user's
  if (owner) await lchown(path, owner.uid, owner.gid);
};

/**
 * A restored backup/snapshot contains the marker of the workspace it was taken from; it must not
 * signal readiness before this init has finished, so it goes as soon as the archive is unpacked.
 * (A symlinked marker goes itself, never its target; the walk below `.ws-daemon` follows no link.)
 */
export const removeStaleReadyMarker = async (contentDir: string): Promise<void> => {
  if (await ensureDaemonDir(contentDir, false)) {
    await removeChild(join(contentDir, DAEMON_DIR), READY_FILE);
  }
};
