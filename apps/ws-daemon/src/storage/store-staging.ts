import { constants } from "node:fs";
import { chmod, lstat, mkdir, readdir } from "node:fs/promises";
import path from "node:path";
import { DomainError, namespaceInode, processStartTime, removeTree } from "../platform/index.js";

/**
 * The local store's staging area, `<root>/.wsd-staging`: files written here (the native
 * chunker's packs) lie on the store's file system, so publishing one is a rename, not a copy.
 * Its name starts with "." like the store's temp files, so no key can name it and neither
 * list() nor the chunk GC ever see it. Each daemon process stages below a directory of its own
 * named `<pidns>-<pid>-<start>` (as its scratch directory is); a later claim removes those of
 * processes that ended, so a crash leaves staged packs only until the next start.
 */
export const STAGING_DIR = ".wsd-staging";

const ENTRY = /^(\d+)-(\d+)-(\d+)$/;

export class StagingDirectoryError extends DomainError {
  override name = "StagingDirectoryError";
  constructor(message: string) {
    super("failed-precondition", message);
  }
}

/**
 * Checks that `dir` is a real directory (never a link) owned by this process's user, and makes
 * it 0700: whoever planted a link there or owns it could otherwise read or replace staged packs.
 */
const assertPrivateDirectory = async (dir: string): Promise<void> => {
  const st = await lstat(dir);
  const uid = process.getuid?.() ?? st.uid;
  if ((st.mode & constants.S_IFMT) !== constants.S_IFDIR || st.uid !== uid) {
    throw new StagingDirectoryError(
      `${dir} is not a directory owned by uid ${uid} (a link or someone else's): the store will not stage files through it; remove it`,
    );
  }
  if ((st.mode & 0o777) !== 0o700) await chmod(dir, 0o700);
};

const mkdirPrivate = async (dir: string): Promise<void> => {
  await mkdir(dir, { mode: 0o700 }).catch((err: NodeJS.ErrnoException) => {
    if (err.code !== "EEXIST") throw err;
  });
  await assertPrivateDirectory(dir);
};

/** Whether the staging entry `name` may still be in use: not ours to judge, or its process lives. */
const mayBeLive = async (name: string, ownNamespace: string): Promise<boolean> => {
  const m = ENTRY.exec(name);
  if (!m) return true;
  const [, namespace, pid, start] = m as unknown as [string, string, string, string];
  if (namespace !== ownNamespace) return true;
  const started = await processStartTime(Number(pid));
  return started !== undefined && started.toString() === start;
};

export interface StagingClaim {
  /** This process's staging directory (0700) below the store's root. */
  dir: string;
  /** Directories of ended processes that were removed. */
  removed: string[];
}

const ownEntry = async (): Promise<{ namespace: string; name: string }> => {
  const namespace = await namespaceInode(process.pid, "pid");
  const start = await processStartTime(process.pid);
  if (namespace === undefined || start === undefined) {
    throw new Error("cannot read this process's pid namespace or start time from /proc");
  }
  return { namespace: String(namespace), name: `${namespace}-${process.pid}-${start}` };
};

/**
 * Removes the staging directories of ended processes (in this pid namespace) below `root`;
 * returns them. A staging parent that is not a real directory is left alone: nothing is
 * followed, and the next claim reports it.
 */
export async function sweepEndedStaging(root: string): Promise<string[]> {
  const parent = path.join(root, STAGING_DIR);
  const st = await lstat(parent).catch((err: NodeJS.ErrnoException) => {
    if (err.code === "ENOENT") return undefined;
    throw err;
  });
  if (!st?.isDirectory()) return [];
  const own = await ownEntry();
  const removed: string[] = [];
  for (const entry of await readdir(parent)) {
    if (entry === own.name || (await mayBeLive(entry, own.namespace))) continue;
    const stale = path.join(parent, entry);
    await removeTree(stale);
    removed.push(stale);
  }
  return removed;
}

/** Claims this process's staging directory below `root`, removing those of ended processes. */
export async function claimStagingDirectory(root: string): Promise<StagingClaim> {
  await mkdir(root, { recursive: true });
  const parent = path.join(root, STAGING_DIR);
  await mkdirPrivate(parent);
  const removed = await sweepEndedStaging(root);
  const dir = path.join(parent, (await ownEntry()).name);
  await mkdirPrivate(dir);
  return { dir, removed };
}
