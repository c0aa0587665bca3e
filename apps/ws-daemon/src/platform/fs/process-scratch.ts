import { constants } from "node:fs";
import { chmod, lstat, mkdir, readdir, readlink } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { DomainError } from "../errors.js";
import { processStartTime } from "../proc.js";
import { removeTree } from "./remove-tree.js";

/**
 * Where the daemon keeps what lives only while an operation runs (archive FIFOs, pack files of
 * the native chunker, git's private HOMEs, sandbox mount points). Each daemon process claims a
 * directory of its own below `<tmp>/wsd-scratch`, named after its pid namespace, pid and start
 * time; a later start removes the directories of processes that are gone, so a crash (or a
 * SIGKILL) leaves nothing behind for longer than the next start. Directories of processes in
 * other pid namespaces are never touched: their pids mean nothing here.
 */
export interface ScratchClaim {
  /** This process's directory (0700). */
  readonly dir: string;
  /** Directories of ended processes removed while claiming. */
  readonly removed: readonly string[];
}

const SCRATCH_PARENT = "wsd-scratch";
const ENTRY = /^(\d+)-(\d+)-(\d+)$/;

let claimed: { dir: string; users: number } | undefined;

/**
 * The directory for temporary files: the claimed scratch directory once a daemon claimed one in
 * this process, os.tmpdir() otherwise (library use, tests of single modules).
 */
export const scratchDir = (): string => claimed?.dir ?? tmpdir();

const pidNamespace = async (): Promise<string> => {
  const link = await readlink("/proc/self/ns/pid");
  const inode = /\[(\d+)\]/.exec(link)?.[1];
  if (inode === undefined) throw new Error(`unexpected /proc/self/ns/pid link: ${link}`);
  return inode;
};

/**
 * The shared parent must be a real directory of ours that nobody else can write: otherwise a
 * local user could plant a symlink or a directory of theirs and steer where the daemon writes.
 */
const ensurePrivateParent = async (parent: string): Promise<void> => {
  await mkdir(parent, { mode: 0o700 }).catch((err: NodeJS.ErrnoException) => {
    if (err.code !== "EEXIST") throw err;
  });
  const st = await lstat(parent);
  const uid = process.getuid?.() ?? st.uid;
  if (!st.isDirectory() || st.uid !== uid) {
    throw new DomainError(
      "failed-precondition",
      `${parent} is not a directory owned by uid ${uid} (a symlink or someone else's); remove it or set TMPDIR elsewhere`,
    );
  }
  if ((st.mode & 0o077) !== 0) await chmod(parent, 0o700);
};

const isLive = async (entry: string, ownNamespace: string): Promise<boolean> => {
  const m = ENTRY.exec(entry);
  if (!m) return true; // not ours to judge: leave it
  const [, namespace, pid, start] = m as unknown as [string, string, string, string];
  if (namespace !== ownNamespace) return true;
  const started = await processStartTime(Number(pid));
  return started !== undefined && started.toString() === start;
};

/**
 * Claims this process's scratch directory (once per process; later claims share it) and removes
 * those of ended processes. Pair each claim with `releaseProcessScratch`.
 */
export const claimProcessScratch = async (base: string = tmpdir()): Promise<ScratchClaim> => {
  if (claimed) {
    claimed.users++;
    return { dir: claimed.dir, removed: [] };
  }
  const parent = join(base, SCRATCH_PARENT);
  await ensurePrivateParent(parent);
  const namespace = await pidNamespace();
  const start = await processStartTime(process.pid);
  if (start === undefined) throw new Error("cannot read this process's start time from /proc");
  const dir = join(parent, `${namespace}-${process.pid}-${start}`);

  const removed: string[] = [];
  for (const entry of await readdir(parent)) {
    if (await isLive(entry, namespace)) continue;
    const stale = join(parent, entry);
    await removeTree(stale);
    removed.push(stale);
  }
  await mkdir(dir, { mode: 0o700 }).catch((err: NodeJS.ErrnoException) => {
    if (err.code !== "EEXIST") throw err;
  });
  const st = await lstat(dir);
  if (!st.isDirectory() || (st.mode & constants.S_IFMT) !== constants.S_IFDIR) {
    throw new DomainError("failed-precondition", `${dir} is not a directory`);
  }
  await chmod(dir, 0o700);
  claimed = { dir, users: 1 };
  return { dir, removed };
};

/** Ends a claim; the last one removes the directory with whatever is still in it. */
export const releaseProcessScratch = async (): Promise<void> => {
  if (!claimed) return;
  claimed.users--;
  if (claimed.users > 0) return;
  const { dir } = claimed;
  claimed = undefined;
  await removeTree(dir).catch(() => undefined);
};
