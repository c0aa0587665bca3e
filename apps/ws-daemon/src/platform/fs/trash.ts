import { randomBytes } from "node:crypto";
import { chmod, lstat, mkdir, readdir, rename } from "node:fs/promises";
import { basename, join } from "node:path";
import { DomainError, errnoCode, errorMessage } from "../errors.js";
import { type RemoveTreeOptions, removeChild, removeTree } from "./remove-tree.js";

/**
 * A daemon-private directory (mode 0700, on the same filesystem as what it receives) where trees
 * go to be deleted. `discard` first renames the tree into it, which is atomic: from that moment
 * no path that a workspace can name leads into the tree any more, and what is deleted is exactly
 * what was there. The delete itself never follows a link (removeTree). A crash mid-delete leaves
 * an entry here; `empty` removes those at the next start.
 */
export class Trash {
  constructor(
    readonly dir: string,
    private readonly options: RemoveTreeOptions = {},
  ) {}

  /** Creates the directory if needed; an existing one is made private again. */
  async ensure(): Promise<void> {
    await mkdir(this.dir, { mode: 0o700 }).catch((err: unknown) => {
      if (errnoCode(err) !== "EEXIST") throw err;
    });
    const stats = await lstat(this.dir);
    if (!stats.isDirectory()) {
      throw new DomainError("failed-precondition", `${this.dir} exists and is not a directory`);
    }
    if ((stats.mode & 0o7777) !== 0o700) await chmod(this.dir, 0o700);
  }

  /**
   * Deletes `path` (a tree, a file or a link; missing is fine). Its parent directory must be one
   * that only the daemon can change, on the trash's filesystem.
   */
  async discard(path: string): Promise<void> {
    await this.ensure();
    const entry = join(this.dir, `${basename(path)}-${randomBytes(6).toString("hex")}`);
    try {
      await rename(path, entry);
    } catch (err) {
      const code = errnoCode(err);
      if (code === "ENOENT") return;
      // Another filesystem, or one where a rename may not cross a boundary (XFS project
      // inheritance): delete in place; the walk is just as careful, only not atomic.
      if (code === "EXDEV") return removeTree(path, this.options);
      // EBUSY: a mount point. Its content is not ours to delete; the caller reports it.
      throw err;
    }
    await removeTree(entry, this.options);
  }

  /**
   * Deletes what interrupted discards left behind; returns their names. One entry that cannot
   * be deleted (e.g. a mount inside it) does not keep the others: it fails after trying all.
   */
  async empty(): Promise<string[]> {
    let names: string[];
    try {
      names = await readdir(this.dir);
    } catch (err) {
      if (errnoCode(err) === "ENOENT") return [];
      throw err;
    }
    const failures: unknown[] = [];
    for (const name of names) {
      await removeChild(this.dir, name, this.options).catch((err: unknown) => failures.push(err));
    }
    if (failures.length > 0) {
      throw new DomainError(
        "failed-precondition",
        `${failures.length} of ${names.length} entries of ${this.dir} cannot be deleted: ${errorMessage(failures[0])}`,
        { cause: failures[0] },
      );
    }
    return names;
  }
}
