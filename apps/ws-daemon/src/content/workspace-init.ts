import type { Clock, Semaphore } from "../platform/index.js";
import { ContentError, toContentError } from "./content-error.js";
import { gitpodReadyContent, writeGitpodReadyFile } from "./gitpod-ready.js";
import { type InitializerContext, runInitializer } from "./initializer-runner.js";
import {
  checkoutLocations,
  type InitializerSpec,
  summarizeInitializer,
  validateInitializerSpec,
} from "./initializer-spec.js";
import type { InitWorkspaceRequest } from "./manager-types.js";
import type { OperationTracker } from "./operation-progress.js";
import { writeReadyMarker } from "./ready-marker.js";
import type { SafeHooks } from "./safe-hooks.js";
import type { WorkspaceDisk } from "./workspace-disk.js";
import { validateMetadata, validateWorkspaceId } from "./workspace-id.js";
import { isoNow, type WorkspaceRecord, workspaceRef } from "./workspace-record.js";
import type { WorkspaceEntry } from "./workspace-registry.js";

/** What every initializer receives, whatever the workspace. */
export type InitializerDeps = Omit<
  InitializerContext,
  "workspace" | "contentDir" | "signal" | "log"
>;

/** What running an init needs from the manager. */
export interface InitContext {
  disk: WorkspaceDisk;
  /** maxConcurrentInits; further inits wait in FIFO order. */
  slots: Semaphore;
  initializers: InitializerDeps;
  hooks: SafeHooks;
  clock: Clock;
  persist(entry: WorkspaceEntry): Promise<void>;
  /** init.restoreBackupFirst: a workspace with a backup gets it instead of its initializer. */
  restoreBackupFirst: boolean;
  /** compat.gitpod: also write `.gitpod/ready` as Gitpod's supervisor expects. */
  gitpodReadyFile: boolean;
}

/** Validates an InitWorkspace request: its initializer and the record it starts (setting-up). */
export const newInitRecord = (
  req: InitWorkspaceRequest,
  nowIso: string,
): { record: WorkspaceRecord; spec: InitializerSpec } => {
  const id = validateWorkspaceId(req.id);
  const metadata = validateMetadata(req.metadata);
  if (!req.initializer) throw new ContentError("invalid-argument", "initializer is required");
  const spec = req.initializer;
  validateInitializerSpec(spec);
  const quota = req.storageQuotaBytes ?? 0;
  if (!Number.isSafeInteger(quota) || quota < 0) {
    throw new ContentError("invalid-argument", "storageQuotaBytes must be a non-negative integer");
  }
  const record: WorkspaceRecord = {
    version: 1,
    id,
    metadata,
    state: "setting-up",
    initializer: summarizeInitializer(spec),
    storageQuotaBytes: quota,
    remoteStorageDisabled: req.remoteStorageDisabled ?? false,
    createdAt: nowIso,
    updatedAt: nowIso,
    snapshots: [],
  };
  return { record, spec };
};

/**
 * Runs a registered (setting-up) workspace's init in its turn: fresh content directory with a
 * lenient quota, the initializer, the ready marker, the hard quota, then AVAILABLE. A failure
 * removes the partial content and leaves the record "none" with initFailure (rejecting with the
 * ContentError); either way the entry's initSettled is resolved.
 */
export const runInit = (
  ctx: InitContext,
  entry: WorkspaceEntry,
  spec: InitializerSpec,
  signal: AbortSignal,
  tracker: OperationTracker,
): Promise<void> => new InitAttempt(ctx, entry, spec, signal, tracker).run();

class InitAttempt {
  private readonly record: WorkspaceRecord;
  private readonly started: number;

  constructor(
    private readonly ctx: InitContext,
    private readonly entry: WorkspaceEntry,
    private readonly spec: InitializerSpec,
    private readonly signal: AbortSignal,
    private readonly tracker: OperationTracker,
  ) {
    this.record = entry.record;
    this.started = ctx.clock.now();
  }

  async run(): Promise<void> {
    const { ctx, record } = this;
    try {
      await ctx.persist(this.entry);
      await ctx.slots.run(
        () => this.populate(),
        (waited) => ctx.hooks.call((h) => h.onInitQueueWait?.(record.id, waited)),
      );
      const durationMs = ctx.clock.now() - this.started;
      ctx.hooks.call((h) => h.onInitFinished?.(record.id, { ok: true, durationMs }));
      this.tracker.finish({ ok: true });
    } catch (err) {
      throw await this.recordFailure(err);
    } finally {
      delete this.entry.initAbort;
      this.entry.initSettled.resolve();
    }
  }

  private async populate(): Promise<void> {
    const { ctx, record, signal } = this;
    const dir = ctx.disk.contentDir(record.id);
    this.tracker.phase("preparing");
    // A leftover of an earlier attempt must not leak into this one.
    await ctx.disk.remove(record.id);
    await ctx.disk.create(record.id);
    await ctx.disk.prepareQuota(record);
    const spec = await this.initializerToRun();
    const outcome = await runInitializer(spec, {
      ...ctx.initializers,
      workspace: workspaceRef(record),
      contentDir: dir,
      signal,
      log: (level, message, fields) => ctx.hooks.log(level, message, { id: record.id, ...fields }),
      progress: this.tracker,
    });
    if (signal.aborted) throw signal.reason;
    this.tracker.phase("finalizing");
    const finishedAt = isoNow(ctx.clock);
    const owner = ctx.initializers.owner;
    await writeReadyMarker(
      dir,
      { source: outcome.source, stats: outcome.stats, readyAt: finishedAt },
      owner,
    );
    if (ctx.gitpodReadyFile) {
      await writeGitpodReadyFile(dir, gitpodReadyContent(outcome.source, outcome.stats), owner);
    }
    await ctx.disk.enforceQuota(record);
    record.initResult = { source: outcome.source, stats: outcome.stats, finishedAt };
    record.state = "available";
    await ctx.persist(this.entry);
    ctx.hooks.state(record.id, "setting-up", "available");
    for (const s of outcome.stats) ctx.hooks.call((h) => h.onInitializerFinished?.(record.id, s));
  }

  /**
   * Upstream downloads the workspace's full backup before every init and, when there is one,
   * restores it instead of running the initializer (source from-backup), so re-initializing a
   * workspace never loses the work in its backup. Not for workspaces without remote storage
   * (upstream skips remote content for them); a store that cannot answer fails the init.
   */
  private async initializerToRun(): Promise<InitializerSpec> {
    const { ctx, record, spec } = this;
    if (!ctx.restoreBackupFirst || record.remoteStorageDisabled || spec.kind === "backup") {
      return spec;
    }
    let found: boolean;
    try {
      found = await ctx.initializers.store.hasBackup(workspaceRef(record));
    } catch (err) {
      throw toContentError(err, "cannot tell whether the workspace has a backup");
    }
    if (!found) return spec;
    ctx.hooks.log("info", "the workspace has a backup: restoring it instead of its initializer", {
      id: record.id,
      initializer: spec.kind,
    });
    return {
      kind: "backup",
      checkoutLocation: checkoutLocations(spec)[0] ?? "",
      fromVolumeSnapshot: false,
    };
  }

  /** Best effort: the content goes and the failure is recorded; returns the error to throw. */
  private async recordFailure(err: unknown): Promise<ContentError> {
    const { ctx, record } = this;
    const error = toContentError(err, "initialization failed");
    await ctx.disk.remove(record.id).catch((rmErr: unknown) =>
      ctx.hooks.log("error", "cannot remove content of failed init", {
        id: record.id,
        err: rmErr,
      }),
    );
    record.state = "none";
    delete record.initResult;
    record.initFailure = { kind: error.kind, message: error.message, failedAt: isoNow(ctx.clock) };
    await ctx
      .persist(this.entry)
      .catch((persistErr: unknown) =>
        ctx.hooks.log("error", "cannot persist failed init", { id: record.id, err: persistErr }),
      );
    ctx.hooks.state(record.id, "setting-up", "none");
    const durationMs = ctx.clock.now() - this.started;
    ctx.hooks.call((h) =>
      h.onInitFinished?.(record.id, { ok: false, durationMs, kind: error.kind }),
    );
    this.tracker.fail(error);
    ctx.hooks.log("warn", "workspace initialization failed", {
      id: record.id,
      kind: error.kind,
      err: error,
    });
    return error;
  }
}
