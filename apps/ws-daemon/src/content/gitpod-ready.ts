import { constants } from "node:fs";
import { type FileHandle, lchown, lstat, mkdir, open, rename } from "node:fs/promises";
import { errnoCode, type Owner, removeChild } from "../platform/index.js";
import type { InitializerStats, InitSource } from "./workspace-record.js";

/** Gitpod's supervisor waits for `<workspace>/.gitpod/ready` (content-service-api wsready.go). */
export const GITPOD_DIR = ".gitpod";
export const GITPOD_READY_FILE = `${GITPOD_DIR}/ready`;
const TEMP_NAME = "ready.tmp";

/** Upstream's metric types per initializer kind; the empty initializer reports none. */
const METRIC_TYPE: Partial<Record<InitializerStats["kind"], string>> = {
  git: "git",
  download: "fileDownload",
  snapshot: "snapshot",
  backup: "fromBackup",
  composite: "composite",
  prebuild: "prebuild",
};

export interface GitpodReadyFile {
  source: InitSource;
  metrics: Array<{ type: string; duration: number; size: number }>;
}

/** The JSON upstream writes: durations in nanoseconds (Go's time.Duration), sizes in bytes. */
export const gitpodReadyContent = (source: InitSource, stats: readonly InitializerStats[]) =>
  ({
    source,
    metrics: stats.flatMap((s) => {
      const type = METRIC_TYPE[s.kind];
      return type ? [{ type, duration: Math.round(s.durationMs * 1e6), size: s.bytes }] : [];
    }),
  }) satisfies GitpodReadyFile;

const DIR_NO_FOLLOW = constants.O_RDONLY | constants.O_DIRECTORY | constants.O_NOFOLLOW;
const NEW_FILE = constants.O_WRONLY | constants.O_CREAT | constants.O_EXCL | constants.O_NOFOLLOW;

const lstatOrUndefined = (path: string) =>
  lstat(path).catch((err: unknown) => {
    if (errnoCode(err) === "ENOENT") return undefined;
    throw err;
  });

/**
 * A `.gitpod` that is not a directory (the old single-file config) is renamed to `.gitpod.yaml`,
 * or removed when that exists already, as upstream's EnsureCleanDotGitpodDirectory does (minus
 * its `git mv`). A symlink is handled as itself, never through its target.
 */
const ensureGitpodDir = async (contentDir: string, owner: Owner | undefined): Promise<void> => {
  const path = `${contentDir}/${GITPOD_DIR}`;
  const stats = await lstatOrUndefined(path);
  if (stats?.isDirectory()) return;
  if (stats) {
    if (await lstatOrUndefined(`${contentDir}/.gitpod.yaml`))
      await removeChild(contentDir, GITPOD_DIR);
    else await rename(path, `${contentDir}/.gitpod.yaml`);
  }
  await mkdir(path, { mode: 0o755 });
  if (owner) await lchown(path, owner.uid, owner.gid);
};

/**
 * Writes `.gitpod/ready` as upstream does: `.gitpod/ready.tmp` (0644, the workspace's owner),
 * then a rename, so a watcher sees the complete file at once. Workspace content (and workspace
 * processes running meanwhile) control `.gitpod`: the directory is opened without following a
 * link and everything below happens through its descriptor, a stale `ready.tmp` (even a link
 * to a host file) is removed as itself, and the temp file is created exclusively.
 */
export const writeGitpodReadyFile = async (
  contentDir: string,
  content: GitpodReadyFile,
  owner: Owner | undefined,
): Promise<void> => {
  await ensureGitpodDir(contentDir, owner);
  const dir: FileHandle = await open(`${contentDir}/${GITPOD_DIR}`, DIR_NO_FOLLOW);
  try {
    const at = `/proc/self/fd/${dir.fd}`;
    // "<fd>/." : the magic link is followed to the directory, whose last component is no link
    await removeChild(`${at}/.`, TEMP_NAME);
    const file = await open(`${at}/${TEMP_NAME}`, NEW_FILE, 0o644);
    try {
      await file.writeFile(JSON.stringify(content));
      if (owner) await file.chown(owner.uid, owner.gid);
      await file.chmod(0o644);
      await file.sync();
    } finally {
      await file.close();
    }
    await rename(`${at}/${TEMP_NAME}`, `${at}/ready`);
    await dir.sync();
  } finally {
    await dir.close();
  }
};

/**
 * A restored backup or snapshot may hold the ready file of the workspace it came from; it must
 * not signal readiness before this init is done (upstream removes it before every upload).
 */
export const removeStaleGitpodReadyFile = async (contentDir: string): Promise<void> => {
  const stats = await lstatOrUndefined(`${contentDir}/${GITPOD_DIR}`);
  if (!stats?.isDirectory()) return;
  const dir = await open(`${contentDir}/${GITPOD_DIR}`, DIR_NO_FOLLOW).catch(() => undefined);
  if (!dir) return;
  try {
    await removeChild(`/proc/self/fd/${dir.fd}/.`, "ready");
  } finally {
    await dir.close();
  }
};
