import { randomBytes } from "node:crypto";
import type { Stats } from "node:fs";
import { constants } from "node:fs";
import { type FileHandle, lstat, open, readdir, rename, rmdir, unlink } from "node:fs/promises";
import { basename, dirname } from "node:path";
import { DomainError, errnoCode } from "../errors.js";

/**
 * Deleting a tree that someone else can still change (a workspace process with its working
 * directory inside it) by path names is not safe: `rm -r` lists `a`, then unlinks `a/b/c`, and
 * if `a/b` became a symlink in between, the unlink lands wherever the link points. Node has no
 * `openat`/`unlinkat`, so every step here goes through `/proc/self/fd/<fd>/<name>`: the kernel
 * resolves the magic link to the directory we hold open (not to a path), and `<name>` is a
 * single component looked up in it. Directories are opened with O_NOFOLLOW|O_DIRECTORY and their
 * dev/ino compared with the lstat that classified them; unlink and rmdir never follow a final
 * symlink. So every name removed is an entry of a directory that was verified to be part of the
 * tree, and no link is ever followed.
 */
export interface RemoveTreeOptions {
  /**
   * Runs after a directory's names were read and before any of them is removed; `path` reaches
   * that directory (through /proc/self/fd). For fault-injection tests: it lets a test act like a
   * workspace process racing the walk.
   */
  afterList?: (listed: { path: string; names: readonly string[] }) => Promise<void> | void;
}

const DIRECTORY_NO_FOLLOW = constants.O_RDONLY | constants.O_DIRECTORY | constants.O_NOFOLLOW;
/** A directory listed this often and still not empty is being refilled as fast as we delete. */
const MAX_PASSES = 8;
/** Deeper directories are moved up to the top of the tree instead of holding more descriptors. */
const MAX_OPEN_DEPTH = 32;
/** Files of one directory unlinked at once (the thread pool does the work). */
const PARALLEL_UNLINKS = 32;

const through = (dir: FileHandle, name?: string): string =>
  name === undefined ? `/proc/self/fd/${dir.fd}` : `/proc/self/fd/${dir.fd}/${name}`;

/** `op`, with the listed errno codes meaning "someone changed it; look again". */
const tolerating = async (op: Promise<unknown>, codes: readonly string[]): Promise<void> => {
  try {
    await op;
  } catch (err) {
    const code = errnoCode(err);
    if (code === undefined || !codes.includes(code)) throw err;
  }
};

const lstatIfPresent = async (path: string): Promise<Stats | undefined> => {
  try {
    return await lstat(path);
  } catch (err) {
    if (errnoCode(err) === "ENOENT") return undefined;
    throw err;
  }
};

/** Opens a directory entry as a directory, or undefined when it is not one (any more). */
const openDirectory = async (path: string): Promise<FileHandle | undefined> => {
  try {
    return await open(path, DIRECTORY_NO_FOLLOW);
  } catch (err) {
    const code = errnoCode(err);
    // ELOOP: a symlink now; ENOTDIR: a file now; ENOENT: gone.
    if (code === "ELOOP" || code === "ENOTDIR" || code === "ENOENT") return undefined;
    throw err;
  }
};

const sameInode = (a: Stats, b: Stats): boolean => a.dev === b.dev && a.ino === b.ino;

class TreeRemoval {
  private flattened = 0;

  constructor(
    /** The tree's top directory (emptied, and where too-deep directories are moved). */
    private readonly top: FileHandle,
    /** Its filesystem: the walk never crosses into another one (a mount inside the tree). */
    private readonly dev: number,
    private readonly options: RemoveTreeOptions,
  ) {}

  /** Removes every entry of `dir` (open, verified); `depth` directories are open above it. */
  async empty(dir: FileHandle, depth: number, shown: string): Promise<void> {
    for (let pass = 0; ; pass++) {
      const names = await readdir(through(dir));
      if (names.length === 0) return;
      // Moving a too-deep directory to the top adds work there that is ours, not a racer's.
      if (pass >= MAX_PASSES + (dir === this.top ? this.flattened : 0)) {
        throw new DomainError(
          "failed-precondition",
          `cannot delete ${shown}: it keeps changing while it is being deleted`,
        );
      }
      await this.options.afterList?.({ path: through(dir), names });
      // Files and links go in parallel (one lstat and one unlink each); directories one at a
      // time, which bounds the descriptors held open to one per level.
      const directories: { name: string; seen: Stats }[] = [];
      for (let i = 0; i < names.length; i += PARALLEL_UNLINKS) {
        await Promise.all(
          names.slice(i, i + PARALLEL_UNLINKS).map(async (name) => {
            const seen = await this.unlinkUnlessDirectory(through(dir, name));
            if (seen) directories.push({ name, seen });
          }),
        );
      }
      for (const { name, seen } of directories) {
        await this.removeDirectory(dir, name, seen, depth, `${shown}/${name}`);
      }
    }
  }

  /** Unlinks a file or link; returns the lstat of a directory, which is left for the caller. */
  private async unlinkUnlessDirectory(path: string): Promise<Stats | undefined> {
    const seen = await lstatIfPresent(path);
    if (!seen) return undefined;
    if (seen.isDirectory()) return seen;
    // EISDIR: replaced by a directory since the lstat; the next pass sees it.
    await tolerating(unlink(path), ["ENOENT", "EISDIR"]);
    return undefined;
  }

  /**
   * Removes the directory `name` of `parent`, classified by `seen`. Whatever changed under us
   * is left for the next pass of the parent.
   */
  private async removeDirectory(
    parent: FileHandle,
    name: string,
    seen: Stats,
    depth: number,
    shown: string,
  ): Promise<void> {
    const path = through(parent, name);
    if (seen.dev !== this.dev) {
      throw new DomainError(
        "failed-precondition",
        `cannot delete ${shown}: another filesystem is mounted there`,
      );
    }
    if (depth >= MAX_OPEN_DEPTH) {
      await this.moveToTop(path);
      return;
    }
    const child = await openDirectory(path);
    if (!child) return;
    try {
      // Swapped between the lstat and the open: not the directory we classified; look again.
      if (!sameInode(await child.stat(), seen)) return;
      await this.empty(child, depth + 1, shown);
    } finally {
      await child.close();
    }
    // ENOTDIR: replaced by a link or file; ENOTEMPTY: refilled. The next pass sees either.
    await tolerating(rmdir(path), ["ENOENT", "ENOTDIR", "ENOTEMPTY"]);
  }

  private async moveToTop(path: string): Promise<void> {
    const target = through(this.top, `.deep-${randomBytes(8).toString("hex")}`);
    await tolerating(rename(path, target), ["ENOENT"]);
    this.flattened++;
  }
}

/** Removes `name` (a file, a link or a whole directory tree) from the open directory `parent`. */
const removeEntryOf = async (
  parent: FileHandle,
  name: string,
  options: RemoveTreeOptions,
): Promise<void> => {
  const path = through(parent, name);
  const seen = await lstatIfPresent(path);
  if (!seen) return;
  if (!seen.isDirectory()) {
    await tolerating(unlink(path), ["ENOENT"]);
    return;
  }
  const top = await openDirectory(path);
  if (!top) throw changedError(name);
  try {
    if (!sameInode(await top.stat(), seen)) throw changedError(name);
    await new TreeRemoval(top, seen.dev, options).empty(top, 1, name);
  } finally {
    await top.close();
  }
  await tolerating(rmdir(path), ["ENOENT"]);
};

const changedError = (name: string): DomainError =>
  new DomainError(
    "failed-precondition",
    `cannot delete ${name}: it was replaced while it was being deleted`,
  );

/** Opens a directory the caller trusts by path, refusing a symlink as its last component. */
const openTrusted = async (path: string): Promise<FileHandle> => open(path, DIRECTORY_NO_FOLLOW);

/**
 * Removes `parent/name` (a file, a link or a directory tree) without ever following a link:
 * only `parent` is looked up by path (its last component must not be a symlink), everything
 * below it through the descriptors of verified directories. A missing entry is fine.
 */
export const removeChild = async (
  parent: string,
  name: string,
  options: RemoveTreeOptions = {},
): Promise<void> => {
  if (name === "" || name === "." || name === ".." || name.includes("/")) {
    throw new DomainError(
      "invalid-argument",
      `not a directory entry name: ${JSON.stringify(name)}`,
    );
  }
  let dir: FileHandle;
  try {
    dir = await openTrusted(parent);
  } catch (err) {
    if (errnoCode(err) === "ENOENT") return;
    throw err;
  }
  try {
    await removeEntryOf(dir, name, options);
  } finally {
    await dir.close();
  }
};

/** `removeChild(dirname(path), basename(path))`: the parent directory must be trusted. */
export const removeTree = (path: string, options: RemoveTreeOptions = {}): Promise<void> =>
  removeChild(dirname(path), basename(path), options);

/** Removes everything inside the directory `path` (kept itself), never following a link. */
export const emptyDirectory = async (
  path: string,
  options: RemoveTreeOptions = {},
): Promise<void> => {
  const dir = await openTrusted(path);
  try {
    const stats = await dir.stat();
    await new TreeRemoval(dir, stats.dev, options).empty(dir, 1, basename(path));
  } finally {
    await dir.close();
  }
};
