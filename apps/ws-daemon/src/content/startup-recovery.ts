import { basename } from "node:path";
import type { Log } from "../platform/index.js";
import type { UnreadableStateFile, WorkspaceStateStore } from "./state-store.js";
import type { WorkspaceDisk } from "./workspace-disk.js";
import { SAFE_NAME } from "./workspace-id.js";
import { recoverRecord } from "./workspace-recovery.js";
import { loadedEntry, type WorkspaceRegistry } from "./workspace-registry.js";

export interface RecoveryReport {
  /** Were SETTING_UP when the daemon stopped: now failed, partial content removed. */
  failedInits: string[];
  /** Were WRAPPING_UP (dispose interrupted): back to AVAILABLE, content kept. */
  backToAvailable: string[];
  /** State files that could not be read: their ids stay taken, their content is kept. */
  unreadable: UnreadableStateFile[];
  /** Directories in the working area without a workspace record (removed if configured). */
  orphans: string[];
  /** Entries that interrupted deletes left in the working area's trash; deleted now. */
  trash: string[];
}

export interface StartupRecoveryContext {
  stateStore: WorkspaceStateStore;
  /** Empty; receives every workspace that was loaded. */
  registry: WorkspaceRegistry;
  disk: WorkspaceDisk;
  log: Log;
  nowIso: string;
  /** Delete content directories that belong to no workspace (otherwise only report them). */
  removeOrphanedContent: boolean;
  /** `<id><suffix>` of a known workspace is its socket directory, not an orphan. */
  socketDirSuffix?: string;
}

/**
 * Loads every persisted workspace into the registry after a (re)start and leaves nothing in
 * progress: interrupted inits fail (their partial content goes), interrupted disposals are back to
 * AVAILABLE, quota limits are re-established, and content without a workspace is reported (and
 * removed if configured). One workspace that cannot be repaired never keeps the daemon from
 * starting: it is logged and loaded as it is.
 */
export const recoverWorkspaces = async (ctx: StartupRecoveryContext): Promise<RecoveryReport> => {
  const report: RecoveryReport = {
    failedInits: [],
    backToAvailable: [],
    unreadable: [],
    orphans: [],
    trash: [],
  };
  await emptyTrash(ctx, report);
  await loadRecords(ctx, report);
  await restoreQuotas(ctx);
  await sweepOrphans(ctx, report);
  return report;
};

/** A crash during a delete leaves the renamed tree in the trash; nothing there is kept. */
const emptyTrash = async (ctx: StartupRecoveryContext, report: RecoveryReport): Promise<void> => {
  try {
    report.trash = await ctx.disk.emptyTrash();
  } catch (err) {
    ctx.log(
      "error",
      "cannot empty the trash of the working area; it is tried again at the next start",
      {
        err,
      },
    );
    return;
  }
  if (report.trash.length > 0) {
    ctx.log("info", "deleted what interrupted deletes left in the trash", {
      entries: report.trash,
    });
  }
};

const loadRecords = async (ctx: StartupRecoveryContext, report: RecoveryReport): Promise<void> => {
  const loaded = await ctx.stateStore.loadAll();
  for (const { file, error, err } of loaded.unreadable) {
    report.unreadable.push({ file, error });
    ctx.log("error", "unreadable workspace state file, workspace is not loaded", { file, err });
    const id = basename(file, ".json");
    if (SAFE_NAME.test(id)) ctx.registry.markUnreadable(id, file);
  }
  for (const record of loaded.records) {
    const { action, changed } = recoverRecord(record, ctx.nowIso);
    try {
      if (action === "init-failed") {
        await ctx.disk.remove(record.id);
        report.failedInits.push(record.id);
      } else if (action === "back-to-available") {
        report.backToAvailable.push(record.id);
      }
      if (changed) await ctx.stateStore.save(record);
    } catch (err) {
      ctx.log("error", "cannot repair a workspace after the restart", { id: record.id, err });
    }
    ctx.registry.set(loadedEntry(record));
  }
};

/** Content whose quota cannot be restored (e.g. an image that does not mount) is not archived. */
const restoreQuotas = async (ctx: StartupRecoveryContext): Promise<void> => {
  const limited = ctx.registry
    .all()
    .filter((e) => e.record.storageQuotaBytes > 0 && e.record.state !== "none")
    .map((e) => e.record.id);
  const quotas = await ctx.disk.recoverQuotas(limited);
  for (const failure of quotas.failed) {
    ctx.log("error", "cannot restore the storage quota of a workspace", {
      id: failure.workspaceId,
      reason: failure.error,
    });
    const entry = ctx.registry.get(failure.workspaceId);
    if (entry) {
      entry.archiveBlocked = `its quota-limited content could not be mounted (${failure.error})`;
    }
  }
};

/** Left by a crash between deleting a workspace's record and its content. Dot-names are ours. */
const sweepOrphans = async (ctx: StartupRecoveryContext, report: RecoveryReport): Promise<void> => {
  for (const name of await ctx.disk.names()) {
    if (name.startsWith(".") || !SAFE_NAME.test(name) || ctx.registry.claims(name)) continue;
    const suffix = ctx.socketDirSuffix;
    if (suffix && name.endsWith(suffix) && ctx.registry.claims(name.slice(0, -suffix.length)))
      continue;
    report.orphans.push(name);
    if (ctx.removeOrphanedContent) await ctx.disk.remove(name);
  }
  if (report.orphans.length > 0) {
    ctx.log("warn", "working area holds content of no workspace", {
      orphans: report.orphans,
      removed: ctx.removeOrphanedContent,
    });
  }
};
