import { lchown, mkdir, readdir } from "node:fs/promises";
import { join } from "node:path";
import { type Log, type RemoveTreeOptions, Trash } from "../platform/index.js";
import type { QuotaEnforcer, QuotaRecoveryReport } from "../quota/index.js";
import { ContentError } from "./content-error.js";
import type { WorkspaceRecord } from "./workspace-record.js";

/** `<workingArea>/.trash`: where content goes to be deleted (mode 0700). */
export const TRASH_DIR = ".trash";

/**
 * The content directories in the working area (`<workingArea>/<id>`) and their storage quota.
 * There is always a quota enforcer; where none is configured it is a NoQuotaEnforcer, which
 * records nothing and limits nothing.
 *
 * Content is deleted through the trash `<workingArea>/.trash` (dot-names in the working area are
 * the daemon's): renamed there at once, then deleted without following any link, so a workspace
 * process racing the delete cannot steer it outside (issue 17, finding 3).
 */
export class WorkspaceDisk {
  private readonly trash: Trash;

  constructor(
    readonly workingArea: string,
    private readonly quota: QuotaEnforcer,
    private readonly log: Log,
    private readonly owner?: { uid: number; gid: number },
    /** Fault hooks of the delete walk, for tests. */
    removeOptions: RemoveTreeOptions = {},
  ) {
    this.trash = new Trash(join(workingArea, TRASH_DIR), removeOptions);
  }

  contentDir(id: string): string {
    return join(this.workingArea, id);
  }

  async createWorkingArea(): Promise<void> {
    await mkdir(this.workingArea, { recursive: true, mode: 0o755 });
    await this.trash.ensure();
  }

  /** Every name in the working area (content directories, the state directory, strangers). */
  names(): Promise<string[]> {
    return readdir(this.workingArea);
  }

  async create(id: string): Promise<void> {
    await mkdir(this.contentDir(id), { recursive: true, mode: 0o755 });
    if (this.owner) await lchown(this.contentDir(id), this.owner.uid, this.owner.gid);
  }

  /**
   * Lifts the quota (with loop images: unmounts and deletes the image, so the content directory
   * is an empty mount point no more) before deleting the content through the trash.
   */
  async remove(id: string): Promise<void> {
    const dir = this.contentDir(id);
    await this.quota.release(id, dir);
    await this.trash.discard(dir);
  }

  /** After a crash: deletes what interrupted removals left in the trash; returns their names. */
  emptyTrash(): Promise<string[]> {
    return this.trash.empty();
  }

  /** Lenient while content arrives: restoring what was legal before must not fail on the quota. */
  async prepareQuota(record: WorkspaceRecord): Promise<void> {
    if (record.storageQuotaBytes <= 0) return;
    await this.quota.prepare(record.id, this.contentDir(record.id), record.storageQuotaBytes, {
      lenient: true,
    });
  }

  /**
   * The hard limit, set before the workspace becomes AVAILABLE. Failing to tighten it leaves
   * the workspace usable with the lenient limit; that is logged, not fatal.
   */
  async enforceQuota(record: WorkspaceRecord): Promise<void> {
    if (record.storageQuotaBytes <= 0) return;
    const dir = this.contentDir(record.id);
    try {
      await this.quota.enforce(record.id, dir, record.storageQuotaBytes);
    } catch (err) {
      // Usable with the lenient limit only if the content is still in place (mounted).
      const usage = await this.quota.usage(record.id, dir).catch(() => undefined);
      if (!usage) {
        throw new ContentError(
          "internal",
          "cannot set the storage quota and the content is no longer in place",
          { cause: err },
        );
      }
      this.log("warn", "cannot set the hard storage quota; the lenient limit stays", {
        id: record.id,
        err,
      });
    }
  }

  /** After a restart: mounts images / re-applies the limits of these workspaces. */
  recoverQuotas(ids: readonly string[]): Promise<QuotaRecoveryReport> {
    return this.quota.recover(
      ids.map((workspaceId) => ({ workspaceId, contentDir: this.contentDir(workspaceId) })),
    );
  }
}
