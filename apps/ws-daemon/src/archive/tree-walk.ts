import {
  closeSync,
  constants,
  fstatSync,
  lstatSync,
  openSync,
  readdirSync,
  type Stats,
} from "node:fs";
import { ArchiveTreeChangedError } from "./archive-errors.js";

/** One entry of the tree, as the walk listed it. */
export interface WalkEntry {
  /** Relative path with "/" separators; "" for the root. */
  rel: string;
  /** lstat at listing time, through the parent directory's descriptor. */
  st: Stats;
  /**
   * Where to open or read the entry: `/proc/self/fd/<parent>/<name>`, which resolves the parent
   * through the descriptor the walk holds (Node has no openat). Only the last component is looked
   * up by name, so open it with O_NOFOLLOW; valid until the walk is resumed.
   */
  at: string;
}

export interface WalkOptions {
  signal?: AbortSignal | undefined;
  /** Directories skipped because they vanished between the listing and their turn. */
  warnings: string[];
  /** Fault hook for tests: called right after a directory was listed, before its children are opened. */
  afterList?: ((dirRel: string) => void) | undefined;
}

/** A directory the walk holds open while some of its children still wait for their turn. */
interface OpenDir {
  fd: number;
  /** `/proc/self/fd/<fd>`: this directory itself, wherever it is now. */
  path: string;
  /** Children listed but not yet processed; the descriptor is closed when it reaches 0. */
  pending: number;
}

interface Pending {
  rel: string;
  name: string;
  st: Stats;
  parent: OpenDir | undefined;
}

const DIR_FLAGS = constants.O_RDONLY | constants.O_DIRECTORY | constants.O_NOFOLLOW;

/**
 * Walks `root` depth first, names sorted, by directory descriptor: every directory is opened with
 * O_DIRECTORY|O_NOFOLLOW relative to its parent's descriptor and must be the inode (dev/ino) that
 * the listing saw, and every child is looked up relative to its parent's descriptor. A workspace
 * process that swaps a directory for a symlink (`z -> /etc`, `z -> ..`) after the walk listed it
 * therefore never leads the walk outside the tree: the swap fails the walk with
 * ArchiveTreeChangedError (decided in favour of failing over skipping: the previous archive stays,
 * and an archive that silently lacks a directory would look complete). A directory swapped after
 * it was opened is read as the directory that was listed.
 *
 * Costs per entry what the path-based walk cost (one lstat, one open for files), plus one open and
 * one fstat per directory. Descriptors held: one per directory on the current path.
 * A directory's entry is yielded once it is open, before its children.
 */
export function* walkTree(root: string, options: WalkOptions): Generator<WalkEntry> {
  const open = new Set<OpenDir>();
  const stack: Pending[] = [];
  const openDir = (fd: number): OpenDir => {
    const dir = { fd, path: `/proc/self/fd/${fd}`, pending: 0 };
    open.add(dir);
    return dir;
  };
  const close = (dir: OpenDir) => {
    open.delete(dir);
    closeSync(dir.fd);
  };
  /** One child of `dir` is done with it. */
  const release = (dir: OpenDir | undefined) => {
    if (dir !== undefined && --dir.pending === 0) close(dir);
  };
  try {
    const rootDir = openDir(openSync(root, DIR_FLAGS));
    stack.push({ rel: "", name: "", st: fstatSync(rootDir.fd), parent: undefined });
    for (let item = stack.pop(); item !== undefined; item = stack.pop()) {
      if (options.signal?.aborted) throw options.signal.reason ?? new Error("aborted");
      const { parent } = item;
      if (parent === undefined) {
        yield { rel: "", st: item.st, at: root };
        list(rootDir, item.rel);
        continue;
      }
      const at = `${parent.path}/${item.name}`;
      if (!item.st.isDirectory()) {
        yield { rel: item.rel, st: item.st, at };
        release(parent);
        continue;
      }
      const dir = openChildDirectory(at, item);
      if (dir === undefined) {
        options.warnings.push(`directory vanished while archiving: ${item.rel}`);
        release(parent);
        continue;
      }
      const opened = openDir(dir);
      yield { rel: item.rel, st: item.st, at };
      release(parent);
      list(opened, item.rel);
    }
  } finally {
    for (const dir of open) closeSync(dir.fd);
  }

  /** Lists `dir` onto the stack (first name on top); closes it at once if it is empty. */
  function list(dir: OpenDir, rel: string): void {
    const names = readdirSync(dir.path).sort();
    let pushed = 0;
    // pushed last to first, so the first name is on top and comes out next
    for (let i = names.length - 1; i >= 0; i--) {
      const name = names[i] as string;
      // a rename during the listing can show a name twice; an archive must not hold it twice
      if (name === names[i - 1]) continue;
      const childRel = rel === "" ? name : `${rel}/${name}`;
      // no leniency for a name that cannot be looked up: it may not be valid UTF-8 (Node lists it
      // mangled), and a backup that silently lacks it would look complete
      const st = lstatSync(`${dir.path}/${name}`);
      stack.push({ rel: childRel, name, st, parent: dir });
      pushed++;
    }
    dir.pending += pushed;
    options.afterList?.(rel);
    // no child will release it: close it now
    if (dir.pending === 0) close(dir);
  }
}

/**
 * Opens the directory `item` names through its parent's descriptor; undefined if it vanished.
 * Anything but the very directory the listing saw is a swap.
 */
function openChildDirectory(at: string, item: Pending): number | undefined {
  let fd: number;
  try {
    fd = openSync(at, DIR_FLAGS);
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    if (code === "ENOENT") return undefined;
    if (code === "ELOOP") throw ArchiveTreeChangedError.directory(item.rel, "now a symlink");
    if (code === "ENOTDIR")
      throw ArchiveTreeChangedError.directory(item.rel, "now not a directory");
    throw err;
  }
  const st = fstatSync(fd);
  if (st.ino !== item.st.ino || st.dev !== item.st.dev) {
    closeSync(fd);
    throw ArchiveTreeChangedError.directory(item.rel, "now another directory");
  }
  return fd;
}
