import { join } from "node:path";
import { DEFAULT_STATUS_MAX_LISTED } from "../git/index.js";
import { type Clock, deferred, KeyedMutex, raceAbort, systemClock } from "../platform/index.js";
import { NoQuotaEnforcer } from "../quota/index.js";
import { ArchiveRunner } from "./archive-runner.js";
import { ContentError, toContentError } from "./content-error.js";
import { firstCheckoutStatus } from "./dispose-git-status.js";
import { createInitContext } from "./init-context.js";
import { checkoutLocations } from "./initializer-spec.js";
import type {
  DisposeResult,
  InitWorkspaceRequest,
  WorkspaceContentManagerConfig,
  WorkspaceContentManagerDeps,
} from "./manager-types.js";
import { OperationTracker } from "./operation-progress.js";
import { SafeHooks } from "./safe-hooks.js";
import { type RecoveryReport, recoverWorkspaces } from "./startup-recovery.js";
import { WorkspaceStateStore } from "./state-store.js";
import { WorkspaceDisk } from "./workspace-disk.js";
import { validateWorkspaceId } from "./workspace-id.js";
import { type InitContext, newInitRecord, runInit } from "./workspace-init.js";
import {
  type ArchiveRecord,
  isoNow,
  type WorkspaceRecord,
  workspaceRef,
} from "./workspace-record.js";
import { requireArchivable, type WorkspaceEntry, WorkspaceRegistry } from "./workspace-registry.js";
import {
  type SnapshotContext,
  type TakeSnapshotOptions,
  type TakeSnapshotResult,
  takeSnapshot,
} from "./workspace-snapshots.js";

const DEFAULT_SNAPSHOT_HISTORY = 20;

/**
 * The lifecycle of workspace content: init, wait, snapshot, backup, dispose, wipe, shutdown.
 * Mutating operations on one workspace are serialized by a FIFO keyed mutex; reads (get, list,
 * exists) use the in-memory records and never wait for anything.
 *
 * Decisions worth knowing:
 * - A failed init keeps its record (state "none" + initFailure) so WaitForInit can say why; an
 *   init with the same id replaces a failed record and starts over. exists() is true for it.
 * - init() runs to completion even when the caller's signal aborts (the signal only ends the
 *   caller's wait), like upstream: a retried InitWorkspace then gets already-exists and waits.
 *   Only dispose and shutdown abort a running init.
 * - Disposing an unknown id (including an already disposed one) is "not-found": harmless,
 *   callers may treat it as success. Concurrent disposals of one workspace share one result.
 */
export class WorkspaceContentManager {
  private readonly registry = new WorkspaceRegistry();
  private readonly mutex = new KeyedMutex();
  private readonly archiver: ArchiveRunner;
  private readonly inflight = new Set<Promise<unknown>>();
  private readonly shutdownController = new AbortController();
  private closing = false;
  private readonly clock: Clock;
  private readonly safe: SafeHooks;
  private readonly stateStore: WorkspaceStateStore;
  private readonly disk: WorkspaceDisk;
  private readonly initContext: InitContext;
  private readonly snapshots: SnapshotContext;
  private recoveryReport: RecoveryReport = {
    failedInits: [],
    backToAvailable: [],
    unreadable: [],
    orphans: [],
    trash: [],
  };

  private constructor(
    private readonly config: WorkspaceContentManagerConfig,
    private readonly deps: WorkspaceContentManagerDeps,
  ) {
    this.clock = deps.clock ?? systemClock;
    this.safe = new SafeHooks(deps.hooks ?? {});
    this.archiver = new ArchiveRunner(
      deps.store,
      config.maxConcurrentArchives,
      this.clock,
      this.safe,
      this.shutdownController.signal,
    );
    this.stateStore = new WorkspaceStateStore(join(config.workingArea, ".state"));
    this.disk = new WorkspaceDisk(
      config.workingArea,
      deps.quota ?? new NoQuotaEnforcer("no quota enforcer configured"),
      this.safe.log,
      config.contentOwner,
      deps.removeOptions,
    );
    this.initContext = createInitContext(config, deps, {
      disk: this.disk,
      clock: this.clock,
      hooks: this.safe,
      persist: (entry) => this.persist(entry),
    });
    this.snapshots = {
      registry: this.registry,
      archiver: this.archiver,
      disk: this.disk,
      clock: this.clock,
      log: this.safe.log,
      hooks: this.safe,
      history: config.snapshotHistory ?? DEFAULT_SNAPSHOT_HISTORY,
      serialize: (id, op) => this.serialize(id, op),
      persist: (entry) => this.persist(entry),
    };
  }

  /** Creates the working area if needed, loads every persisted workspace and repairs interrupted ones. */
  static async open(
    config: WorkspaceContentManagerConfig,
    deps: WorkspaceContentManagerDeps,
  ): Promise<WorkspaceContentManager> {
    const manager = new WorkspaceContentManager(config, deps);
    await manager.disk.createWorkingArea();
    await manager.stateStore.ensureDir();
    manager.recoveryReport = await recoverWorkspaces({
      stateStore: manager.stateStore,
      registry: manager.registry,
      disk: manager.disk,
      log: manager.safe.log,
      nowIso: manager.isoNow(),
      removeOrphanedContent: config.removeOrphanedContent ?? false,
      ...(config.socketDirSuffix ? { socketDirSuffix: config.socketDirSuffix } : {}),
    });
    return manager;
  }

  /** What opening found and repaired. */
  get recovery(): RecoveryReport {
    return this.recoveryReport;
  }

  contentDir(id: string): string {
    return this.disk.contentDir(id);
  }

  exists(id: string): boolean {
    return this.registry.get(validateWorkspaceId(id)) !== undefined;
  }

  /** A copy of the workspace's record; undefined for unknown ids. */
  get(id: string): WorkspaceRecord | undefined {
    const entry = this.registry.get(validateWorkspaceId(id));
    return entry ? structuredClone(entry.record) : undefined;
  }

  list(): WorkspaceRecord[] {
    return this.registry.all().map((e) => structuredClone(e.record));
  }

  /**
   * Registers the workspace and runs its initializer. Resolves with the record once AVAILABLE;
   * rejects with the init's ContentError. `signal` only ends the wait (see class comment).
   */
  async init(
    req: InitWorkspaceRequest,
    options: { signal?: AbortSignal } = {},
  ): Promise<WorkspaceRecord> {
    const { record, spec } = newInitRecord(req, this.isoNow());
    const suffix = this.config.socketDirSuffix;
    if (suffix && record.id.endsWith(suffix)) {
      throw new ContentError(
        "invalid-argument",
        `id must not end in ${JSON.stringify(suffix)}: <workingArea>/<id>${suffix} is a workspace's socket directory (compat.socketLayout)`,
      );
    }
    if (this.closing) throw new ContentError("unavailable", "the daemon is shutting down");
    const initAbort = new AbortController();
    const entry: WorkspaceEntry = { record, initSettled: deferred(), initAbort, disposed: false };
    const replaced = this.registry.claim(entry);
    const { id } = record;
    this.safe.state(id, replaced?.record.state, "setting-up");
    // Started before waiting for the workspace's turn, so a watcher sees the init at once.
    const tracker = new OperationTracker(this.safe, id, "init");
    const signal = AbortSignal.any([initAbort.signal, this.shutdownController.signal]);
    const work = this.serialize(id, () => runInit(this.initContext, entry, spec, signal, tracker));
    return raceAbort(
      work.then(() => structuredClone(entry.record)),
      options.signal,
      "waiting for initialization",
    );
  }

  /**
   * Resolves once the workspace is AVAILABLE. not-found: no init was ever started;
   * failed-precondition: the init failed (with its message) or the workspace is being disposed.
   * All waiters share the init's settle promise, so no wake-up can be lost.
   */
  async waitForInit(id: string, signal?: AbortSignal): Promise<void> {
    const entry = this.registry.get(validateWorkspaceId(id));
    if (!entry)
      throw new ContentError("not-found", `workspace ${id} is unknown: no init was started`);
    for (;;) {
      const { record } = entry;
      if (entry.disposed) {
        throw new ContentError("failed-precondition", `workspace ${id} was disposed`);
      }
      switch (record.state) {
        case "available":
          return;
        case "wrapping-up":
          throw new ContentError("failed-precondition", `workspace ${id} is being disposed`);
        case "none":
          throw new ContentError(
            "failed-precondition",
            `workspace ${id} failed to initialize: ${record.initFailure?.message ?? "unknown error"}`,
          );
        case "setting-up":
          await raceAbort(entry.initSettled.promise, signal, "waiting for initialization");
      }
    }
  }

  /** See takeSnapshot in workspace-snapshots.ts. */
  takeSnapshot(id: string, options: TakeSnapshotOptions = {}): Promise<TakeSnapshotResult> {
    return takeSnapshot(this.snapshots, id, options);
  }

  /** Replaces the workspace's backup. Failure: data-loss (the previous backup stays as it was). */
  async backup(id: string): Promise<ArchiveRecord> {
    const entry = this.registry.requireEntry(id);
    requireArchivable(entry, "backup");
    const tracker = new OperationTracker(this.safe, entry.record.id, "backup");
    try {
      const backup = await this.serialize(entry.record.id, async () => {
        this.registry.requireCurrent(entry);
        requireArchivable(entry, "backup");
        return this.backupLocked(entry, tracker);
      });
      tracker.finish({ ok: true, url: backup.url });
      return backup;
    } catch (err) {
      tracker.fail(toContentError(err, "backup failed"));
      throw err;
    }
  }

  /**
   * Optional final backup, git status (best effort), then content, record and hooks are removed.
   * A failed final backup is data-loss: content kept, state back to AVAILABLE, dispose can be
   * retried. A workspace whose init failed or is still running (the running init is aborted) has
   * no content worth keeping: a requested backup is skipped so it cannot replace a good backup
   * with nothing. `backupLogs` is accepted and ignored: this daemon produces no prebuild logs.
   */
  async dispose(
    id: string,
    options: { backup?: boolean; backupLogs?: boolean } = {},
  ): Promise<DisposeResult> {
    const entry = this.registry.requireEntry(id);
    if (entry.disposal) return entry.disposal;
    if (options.backup && entry.record.remoteStorageDisabled) {
      throw new ContentError(
        "failed-precondition",
        `workspace ${id} has remote storage disabled: cannot back up`,
      );
    }
    entry.initAbort?.abort(
      new ContentError("cancelled", "workspace was disposed during initialization"),
    );
    const tracker = new OperationTracker(this.safe, entry.record.id, "dispose");
    const disposal = this.serialize(entry.record.id, () =>
      this.disposeLocked(entry, options, tracker),
    );
    // After disposeLocked's last state change: a watcher sees the removal, then the outcome.
    disposal.then(
      (result) =>
        tracker.finish({ ok: true, ...(result.backup ? { url: result.backup.url } : {}) }),
      (err: unknown) => tracker.fail(toContentError(err, "dispose failed")),
    );
    entry.disposal = disposal;
    const clear = () => {
      if (entry.disposal === disposal) delete entry.disposal;
    };
    disposal.then(clear, clear);
    return disposal;
  }

  private async disposeLocked(
    entry: WorkspaceEntry,
    options: { backup?: boolean },
    tracker: OperationTracker,
  ): Promise<DisposeResult> {
    this.registry.requireCurrent(entry);
    const { record } = entry;
    const result: DisposeResult = {};
    if (options.backup && entry.archiveBlocked && !record.contentWiped) {
      throw new ContentError(
        "data-loss",
        `cannot back up workspace ${record.id}: ${entry.archiveBlocked}; content was kept`,
      );
    }
    if (record.state === "available") {
      record.state = "wrapping-up";
      await this.persist(entry);
      this.safe.state(record.id, "available", "wrapping-up");
      if (options.backup && record.contentWiped) {
        result.backupSkipped = "the workspace's content was wiped";
      } else if (options.backup) {
        try {
          result.backup = await this.backupLocked(entry, tracker);
        } catch (err) {
          record.state = "available";
          await this.persist(entry).catch(() => undefined);
          this.safe.state(record.id, "wrapping-up", "available");
          const error = toContentError(err, "final backup failed");
          throw new ContentError("data-loss", `${error.message}; content was kept`, { cause: err });
        }
      }
      tracker.phase("git-status");
      const gitStatus = await firstCheckoutStatus(
        this.deps.git,
        this.disk.contentDir(record.id),
        checkoutLocations(record.initializer),
        this.config.gitStatusMaxListed ?? DEFAULT_STATUS_MAX_LISTED,
        (location, err) =>
          this.safe.log("warn", "git status on dispose failed", { id: record.id, location, err }),
      );
      if (gitStatus) result.gitStatus = gitStatus;
    } else if (options.backup) {
      result.backupSkipped = "the workspace content never became available";
    }
    // Record first: if we crash after this, the content is an orphan, never a half-deleted
    // workspace that still claims to exist.
    const from = record.state;
    tracker.phase("deleting");
    if (this.registry.delete(entry)) {
      await this.stateStore.remove(record.id);
      // The workspace is gone either way; content that cannot be removed now (e.g. a mount still
      // busy) is an orphan the next start reports, not a half-disposed workspace.
      await this.disk.remove(record.id).catch((err: unknown) =>
        this.safe.log("error", "cannot remove the content of a disposed workspace", {
          id: record.id,
          err,
        }),
      );
    }
    entry.disposed = true;
    this.safe.state(record.id, from, undefined);
    await Promise.resolve(this.safe.hooks.onDisposed?.(record.id)).catch((err: unknown) =>
      this.safe.log("warn", "dispose hook failed", { id: record.id, err }),
    );
    return result;
  }

  private async backupLocked(
    entry: WorkspaceEntry,
    tracker: OperationTracker,
  ): Promise<ArchiveRecord> {
    try {
      const result = await this.archiver.run(
        "backup",
        workspaceRef(entry.record),
        this.disk.contentDir(entry.record.id),
        undefined,
        tracker,
      );
      entry.record.lastBackup = result;
      await this.persist(entry);
      return result;
    } catch (err) {
      const error = toContentError(err, "backup failed");
      throw new ContentError("data-loss", error.message, { cause: err });
    }
  }

  /**
   * WipingTeardown with do_wipe: the content goes, the workspace stays known (and disposable)
   * but may never be archived again, so an empty folder cannot replace its last backup.
   */
  async wipe(id: string): Promise<void> {
    const entry = this.registry.requireEntry(id);
    await this.mutex.run(entry.record.id, async () => {
      this.registry.requireCurrent(entry);
      entry.archiveBlocked = "its content was wiped";
      entry.record.contentWiped = this.isoNow();
      await this.persist(entry);
      await this.disk.remove(entry.record.id);
      await this.disk.create(entry.record.id);
    });
  }

  /**
   * Stops accepting inits, waits up to graceMs for running work, then aborts what is left (inits
   * become failed, uploads fail without touching the previous backup) and flushes state to disk.
   */
  async shutdown(graceMs: number): Promise<void> {
    this.closing = true;
    const all = Promise.allSettled([...this.inflight]);
    const timer = new AbortController();
    const finished = await Promise.race([
      all.then(() => true),
      this.clock.sleep(graceMs, timer.signal).then(
        () => false,
        () => false,
      ),
    ]);
    timer.abort();
    if (!finished) {
      this.shutdownController.abort(new ContentError("unavailable", "the daemon is shutting down"));
      // Aborted work still persists its outcome; give it a moment but never hang on it.
      const bound = new AbortController();
      await Promise.race([all, this.clock.sleep(5_000, bound.signal).catch(() => undefined)]);
      bound.abort();
    }
    await this.stateStore.flush();
  }

  private async persist(entry: WorkspaceEntry): Promise<void> {
    entry.record.updatedAt = this.isoNow();
    try {
      await this.stateStore.save(entry.record);
    } catch (err) {
      throw toContentError(err, `cannot persist state of workspace ${entry.record.id}`);
    }
  }

  /** Runs `op` in the workspace's turn (FIFO per id) and lets shutdown wait for it. */
  private serialize<T>(id: string, op: () => Promise<T>): Promise<T> {
    const work = this.mutex.run(id, op);
    this.inflight.add(work);
    const done = () => this.inflight.delete(work);
    work.then(done, done);
    return work;
  }

  private isoNow(): string {
    return isoNow(this.clock);
  }
}
