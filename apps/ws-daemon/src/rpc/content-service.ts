import { create } from "@bufbuild/protobuf";
import type { ServiceImpl } from "@connectrpc/connect";
import { GitStatusSchema, SnapshotState, type WorkspaceContentService } from "@ws-daemon/api";
import type { SnapshotRecord, WorkspaceContentManager } from "../content/index.js";
import { ContentError } from "../content/index.js";
import type { GitStatusSummary } from "../git/index.js";
import type { Clock } from "../platform/index.js";
import type { WatchHub, WorkspaceSizes } from "../watch/index.js";
import { toInitializerSpec } from "./initializer-conversion.js";
import { listWorkspaces } from "./list-workspaces.js";
import { states } from "./watch-conversion.js";
import { watchWorkspace } from "./watch-workspace.js";

/** What WatchWorkspace and ListWorkspaces need besides the manager. */
export interface ContentServiceWatch {
  hub: WatchHub;
  sizes: WorkspaceSizes;
  clock: Clock;
}

const snapshotStates: Record<SnapshotRecord["state"], SnapshotState> = {
  queued: SnapshotState.RUNNING,
  running: SnapshotState.RUNNING,
  done: SnapshotState.DONE,
  failed: SnapshotState.FAILED,
};

function toGitStatus(s: GitStatusSummary) {
  return create(GitStatusSchema, {
    branch: s.branch,
    latestCommit: s.latestCommit,
    uncommittedFiles: s.uncommittedFiles,
    untrackedFiles: s.untrackedFiles,
    unpushedCommits: s.unpushedCommits,
    totalUncommittedFiles: BigInt(s.totalUncommittedFiles),
    totalUntrackedFiles: BigInt(s.totalUntrackedFiles),
    totalUnpushedCommits: BigInt(s.totalUnpushedCommits),
  });
}

/**
 * WorkspaceContentService: converts wire messages to the content module's types and back.
 * Validation and state live in the content module; its errors carry kinds that the
 * observability interceptor maps to status codes. InitWorkspace first asks `admitInit`
 * (the node's free space), so new work is refused when the node could not finish it.
 */
export interface ContentServiceOptions {
  /**
   * Whether the node can take a new workspace now: undefined = yes at once; a promise that
   * rejects (e.g. RESOURCE_EXHAUSTED) = no. Synchronous when it can be, so that an admitted
   * init registers its workspace before any later call is served.
   */
  admitInit?: () => Promise<void> | undefined;
}

export function createContentService(
  manager: WorkspaceContentManager,
  watch: ContentServiceWatch,
  options: ContentServiceOptions = {},
): ServiceImpl<typeof WorkspaceContentService> {
  const deps = { manager, ...watch };
  return {
    watchWorkspace: (req, ctx) => watchWorkspace(deps, req, ctx),
    listWorkspaces: () => listWorkspaces(deps),

    async initWorkspace(req, ctx) {
      // Refuse before anything is created: a workspace that cannot be filled must not start.
      const admission = options.admitInit?.();
      if (admission) await admission;
      const storageQuotaBytes = Number(req.storageQuotaBytes);
      await manager.init(
        {
          id: req.id,
          metadata: req.metadata
            ? { owner: req.metadata.owner, metaId: req.metadata.metaId }
            : undefined,
          initializer: req.initializer ? toInitializerSpec(req.initializer) : undefined,
          storageQuotaBytes: Number.isSafeInteger(storageQuotaBytes) ? storageQuotaBytes : -1,
          remoteStorageDisabled: req.remoteStorageDisabled,
        },
        { signal: ctx.signal },
      );
      return {};
    },

    async waitForInit(req, ctx) {
      await manager.waitForInit(req.id, ctx.signal);
      return {};
    },

    isWorkspaceExists(req) {
      return { exists: manager.exists(req.id) };
    },

    async takeSnapshot(req, ctx) {
      const result = await manager.takeSnapshot(req.id, {
        returnImmediately: req.returnImmediately,
        signal: ctx.signal,
      });
      return { url: result.url };
    },

    async backupWorkspace(req) {
      const backup = await manager.backup(req.id);
      return { url: backup.url };
    },

    async disposeWorkspace(req) {
      const result = await manager.dispose(req.id, {
        backup: req.backup,
        backupLogs: req.backupLogs,
      });
      return result.gitStatus ? { gitStatus: toGitStatus(result.gitStatus) } : {};
    },

    getWorkspaceState(req) {
      const record = manager.get(req.id);
      if (!record) throw new ContentError("not-found", `workspace "${req.id}" is unknown`);
      return {
        state: states[record.state],
        metadata: { owner: record.metadata.owner, metaId: record.metadata.metaId },
        initError: record.initFailure?.message ?? "",
        initSource: record.initResult?.source ?? "",
        snapshots: record.snapshots.map((s) => ({
          url: s.url ?? "",
          state: snapshotStates[s.state],
          error: s.error?.message ?? "",
          bytes: BigInt(s.bytes ?? 0),
        })),
      };
    },
  };
}
