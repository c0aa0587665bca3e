import { randomBytes } from "node:crypto";
import { constants } from "node:fs";
import { chmod, lstat, mkdir, open, readdir, rename, rm } from "node:fs/promises";
import * as path from "node:path";
import { removeChild, removeTree } from "../platform/index.js";

/** Who may enter a workspace's socket directory besides root. */
export interface SocketOwner {
  uid: number;
  gid: number;
}

/** Connecting needs write permission on the socket; the directory around it is the gate. */
const SOCKET_MODE = 0o666;
const PRIVATE_DIR_MODE = 0o700;
/** Passable by workspace users on bare hosts, not listable: ids are not everyone's business. */
const ROOT_DIR_MODE = 0o711;
const STAGING = ".staging";

const isRoot = () => process.getuid?.() === 0;

/**
 * Places Unix sockets into directories that workspaces control without ever acting on a path a
 * workspace could redirect. A socket is bound in `<root>/.staging` (root's, 0700), given its
 * final mode there (a chmod by path is safe where nobody else can swap the entry), and then
 * renamed into the id's directory: the name appears with its final mode, and rename replaces a link
 * planted there instead of following it. That directory is 0700 and belongs to the workspace's
 * container user, so only that user and root can reach the socket; its ownership and mode are set
 * through a descriptor opened without following links.
 */
export class SocketPlacement {
  private readonly owner: SocketOwner | undefined;
  private readonly dirOf: (id: string) => string;

  /**
   * `root` holds the staging directory; `dirOf` names each id's socket directory (by default
   * `<root>/<id>`), whose parent must be the daemon's and on the same filesystem as `root`.
   */
  constructor(
    private readonly root: string,
    options: { owner?: SocketOwner; dirOf?: (id: string) => string } = {},
  ) {
    this.owner = options.owner;
    this.dirOf = options.dirOf ?? ((id) => path.join(root, id));
  }

  dir(id: string): string {
    return this.dirOf(id);
  }

  /** A fresh path to bind a socket at, in the daemon's private staging directory. */
  async stagingPath(id: string): Promise<string> {
    return path.join(await this.stagingDir(), `${id}-${randomBytes(8).toString("hex")}.sock`);
  }

  private staging: Promise<string> | undefined;

  /** `<root>/.staging`, checked to be root's and emptied of what a previous process left, once. */
  private stagingDir(): Promise<string> {
    this.staging ??= (async () => {
      const staging = path.join(this.root, STAGING);
      await mkdir(this.root, { recursive: true, mode: ROOT_DIR_MODE });
      await mkdir(staging, { recursive: true, mode: PRIVATE_DIR_MODE });
      const st = await lstat(staging);
      if (!st.isDirectory() || (isRoot() && st.uid !== 0)) {
        throw new Error(`${staging} is not a directory of the daemon's own`);
      }
      await chmod(staging, PRIVATE_DIR_MODE);
      for (const name of await readdir(staging)) await removeChild(staging, name);
      return staging;
    })();
    const pending = this.staging;
    pending.catch(() => {
      if (this.staging === pending) this.staging = undefined;
    });
    return pending;
  }

  /**
   * Gives the staged socket its final mode and renames it to `<dir of id>/<name>`, after making
   * that directory the owner's private directory.
   */
  async publish(staged: string, id: string, name: string): Promise<void> {
    await chmod(staged, SOCKET_MODE);
    const dir = this.dir(id);
    await mkdir(path.dirname(dir), { recursive: true, mode: ROOT_DIR_MODE });
    await mkdir(dir, { mode: PRIVATE_DIR_MODE }).catch((err: NodeJS.ErrnoException) => {
      if (err.code !== "EEXIST") throw err;
    });
    // the parent is the daemon's, so `dir` cannot be swapped; O_NOFOLLOW still refuses a link
    // there, and the owner and mode go through the descriptor.
    const handle = await open(
      dir,
      constants.O_RDONLY | constants.O_DIRECTORY | constants.O_NOFOLLOW,
    );
    try {
      if (isRoot() && this.owner) await handle.chown(this.owner.uid, this.owner.gid);
      await handle.chmod(PRIVATE_DIR_MODE);
    } finally {
      await handle.close();
    }
    await rename(staged, path.join(dir, name));
  }

  /**
   * Moves the id's directory into the staging directory (so a new socket for the id can be placed at
   * once) and deletes it there without following links. The workspace may still be writing into
   * it through its mount: what cannot be deleted stays in staging, which the next daemon process
   * empties before it places its first socket.
   */
  async retire(id: string): Promise<void> {
    const parked = path.join(
      path.dirname(await this.stagingPath(id)),
      `${id}-${randomBytes(8).toString("hex")}.gone`,
    );
    try {
      await rename(this.dir(id), parked);
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === "ENOENT") return;
      throw err;
    }
    await removeTree(parked);
  }

  /** Removes a staged socket that was never published. */
  async discard(staged: string): Promise<void> {
    await rm(staged, { force: true });
  }
}
