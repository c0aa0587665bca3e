import { randomBytes } from "node:crypto";
import { mkdir, readdir, rm } from "node:fs/promises";
import { basename, join } from "node:path";
import { DEFAULT_STATUS_MAX_LISTED } from "../git/index.js";
import {
  type Clock,
  type Deferred,
  deferred,
  KeyedMutex,
  raceAbort,
  Semaphore,
  systemClock,
} from "../platform/index.js";
import type { QuotaEnforcer } from "../quota/index.js";
import type { WorkspaceRef } from "../storage/index.js";
import { ArchiveRunner } from "./archive-runner.js";
import { ContentError, toContentError } from "./content-error.js";
import { firstCheckoutStatus } from "./dispose-git-status.js";
import { runInitializer } from "./initializer-runner.js";
import {
  checkoutLocations,
  type InitializerSpec,
  summarizeInitializer,
  validateInitializerSpec,
} from "./initializer-spec.js";
import type {
  DisposeResult,
  InitWorkspaceRequest,
  RecoveryReport,
  TakeSnapshotResult,
  WorkspaceContentManagerConfig,
  WorkspaceContentManagerDeps,
} from "./manager-types.js";
import type { FetchLike } from "./ports.js";
import { writeReadyMarker } from "./ready-marker.js";
import { SafeHooks } from "./safe-hooks.js";
import { WorkspaceStateStore } from "./state-store.js";
import { SAFE_NAME, validateMetadata, validateWorkspaceId } from "./workspace-id.js";
import type { ArchiveRecord, SnapshotRecord, WorkspaceRecord } from "./workspace-record.js";
import { recoverRecord } from "./workspace-recovery.js";

export type * from "./manager-types.js";

interface Entry {
  record: WorkspaceRecord;
  /** Resolved when the current init attempt has finished (either way). */
  initSettled: Deferred;
  initAbort?: AbortController;
  disposal?: Promise<DisposeResult>;
  disposed: boolean;
  /**
   * Why the content on disk must not be archived right now (e.g. its quota image could not be
   * mounted: the folder is empty and a backup of it would replace the last good one).
   */
  archiveBlocked?: string;
}

/** Drops undefined values (exactOptionalPropertyTypes-safe spreading of optional settings). */
const pickDefined = <T extends Record<string, unknown>>(o: T): Partial<T> =>
  Object.fromEntries(Object.entries(o).filter(([, v]) => v !== undefined)) as Partial<T>;

const isFailed = (r: WorkspaceRecord) => r.state === "none" && r.initFailure !== undefined;

/**
 * The lifecycle of workspace content: init, wait, snapshot, backup, dispose. Mutating operations
 * on one workspace are serialized by a FIFO keyed mutex; reads (get, list, exists) use the
 * in-memory records and never wait for anything.
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
  private readonly entries = new Map<string, Entry>();
  /**
   * Ids whose state file exists but cannot be read: their content may be someone's work, so the
   * id stays taken (an init would wipe the folder) until an operator repairs or removes the file.
   */
  private readonly unreadableIds = new Map<string, string>();
  private readonly mutex = new KeyedMutex();
  private readonly inits: Semaphore;
  private readonly archiver: ArchiveRunner;
  private readonly inflight = new Set<Promise<unknown>>();
  private readonly shutdownController = new AbortController();
  private closing = false;
  private readonly clock: Clock;
  private readonly safe: SafeHooks;
  private readonly fetchImpl: FetchLike;
  private readonly stateStore: WorkspaceStateStore;
  private readonly quota: QuotaEnforcer | undefined;
  recovery: RecoveryReport = {
    failedInits: [],
    backToAvailable: [],
    unreadable: [],
    orphans: [],
  };

  private constructor(
    private readonly config: WorkspaceContentManagerConfig,
    private readonly deps: WorkspaceContentManagerDeps,
  ) {
    this.clock = deps.clock ?? systemClock;
    this.safe = new SafeHooks(deps.hooks ?? {});
    this.fetchImpl = deps.fetch ?? ((url, init) => fetch(url, init));
    this.inits = new Semaphore(config.maxConcurrentInits, () => this.clock.now());
    this.archiver = new ArchiveRunner(
      deps.store,
      config.maxConcurrentArchives,
      this.clock,
      this.safe,
      this.shutdownController.signal,
    );
    this.stateStore = new WorkspaceStateStore(join(config.workingArea, ".state"));
    this.quota = deps.quota;
  }

  /** Creates the working area if needed, loads every persisted workspace and repairs interrupted ones. */
  static async open(
    config: WorkspaceContentManagerConfig,
    deps: WorkspaceContentManagerDeps,
  ): Promise<WorkspaceContentManager> {
    const manager = new WorkspaceContentManager(config, deps);
    await mkdir(config.workingArea, { recursive: true, mode: 0o755 });
    await manager.stateStore.ensureDir();
    await manager.recover();
    return manager;
  }

  private async recover(): Promise<void> {
    const loaded = await this.stateStore.loadAll();
    this.recovery.unreadable = loaded.unreadable;
    for (const file of loaded.unreadable) {
      this.safe.log("error", "unreadable workspace state file, workspace is not loaded", file);
      const id = basename(file.file, ".json");
      if (SAFE_NAME.test(id)) this.unreadableIds.set(id, file.file);
    }
    const now = this.isoNow();
    for (const record of loaded.records) {
      const { action, changed } = recoverRecord(record, now);
      // One workspace that cannot be repaired must not keep the daemon from starting.
      try {
        if (action === "init-failed") {
          await this.removeContent(record.id);
          this.recovery.failedInits.push(record.id);
        } else if (action === "back-to-available") {
          this.recovery.backToAvailable.push(record.id);
        }
        if (changed) await this.stateStore.save(record);
      } catch (err) {
        this.safe.log("error", "cannot repair a workspace after the restart", {
          id: record.id,
          error: err instanceof Error ? err.message : String(err),
        });
      }
      const initSettled = deferred();
      initSettled.resolve();
      this.entries.set(record.id, { record, initSettled, disposed: false });
    }
    if (this.quota) {
      const report = await this.quota.recover(
        [...this.entries.values()]
          .filter((e) => e.record.storageQuotaBytes > 0 && e.record.state !== "none")
          .map((e) => ({ workspaceId: e.record.id, contentDir: this.contentDir(e.record.id) })),
      );
      for (const f of report.failed) {
        this.safe.log("error", "cannot restore the storage quota of a workspace", {
          id: f.workspaceId,
          error: f.error,
        });
        const entry = this.entries.get(f.workspaceId);
        if (entry)
          entry.archiveBlocked = `its quota-limited content could not be mounted (${f.error})`;
      }
    }
    for (const name of await readdir(this.config.workingArea)) {
      if (
        name.startsWith(".") ||
        this.entries.has(name) ||
        this.unreadableIds.has(name) ||
        !SAFE_NAME.test(name)
      )
        continue;
      this.recovery.orphans.push(name);
      if (this.config.removeOrphanedContent) await this.removeContent(name);
    }
    if (this.recovery.orphans.length > 0) {
      this.safe.log("warn", "working area holds content of no workspace", {
        orphans: this.recovery.orphans,
        removed: this.config.removeOrphanedContent ?? false,
      });
    }
  }

  contentDir(id: string): string {
    return join(this.config.workingArea, id);
  }

  exists(id: string): boolean {
    return this.entries.has(validateWorkspaceId(id));
  }

  /** A copy of the workspace's record; undefined for unknown ids. */
  get(id: string): WorkspaceRecord | undefined {
    const entry = this.entries.get(validateWorkspaceId(id));
    return entry ? structuredClone(entry.record) : undefined;
  }

  list(): WorkspaceRecord[] {
    return [...this.entries.values()].map((e) => structuredClone(e.record));
  }

  /**
   * Registers the workspace and runs its initializer. Resolves with the record once AVAILABLE;
   * rejects with the init's ContentError. `signal` only ends the wait (see class comment).
   */
  async init(
    req: InitWorkspaceRequest,
    options: { signal?: AbortSignal } = {},
  ): Promise<WorkspaceRecord> {
    const id = validateWorkspaceId(req.id);
    const metadata = validateMetadata(req.metadata);
    if (!req.initializer) throw new ContentError("invalid-argument", "initializer is required");
    const spec = req.initializer;
    validateInitializerSpec(spec);
    const quota = req.storageQuotaBytes ?? 0;
    if (!Number.isSafeInteger(quota) || quota < 0) {
      throw new ContentError(
        "invalid-argument",
        "storageQuotaBytes must be a non-negative integer",
      );
    }
    if (this.closing) throw new ContentError("unavailable", "the daemon is shutting down");

    const unreadable = this.unreadableIds.get(id);
    if (unreadable !== undefined) {
      throw new ContentError(
        "failed-precondition",
        `workspace ${id} has a state file that cannot be read (${unreadable}); its content is kept until an operator repairs or removes that file and restarts the daemon`,
      );
    }
    // Check and insert without an await in between: two racing inits cannot both pass.
    const existing = this.entries.get(id);
    if (existing && !isFailed(existing.record)) {
      throw new ContentError("already-exists", `workspace ${id} exists already`);
    }
    const now = this.isoNow();
    const entry: Entry = {
      record: {
        version: 1,
        id,
        metadata,
        state: "setting-up",
        initializer: summarizeInitializer(spec),
        storageQuotaBytes: quota,
        remoteStorageDisabled: req.remoteStorageDisabled ?? false,
        createdAt: now,
        updatedAt: now,
        snapshots: [],
      },
      initSettled: deferred(),
      initAbort: new AbortController(),
      disposed: false,
    };
    this.entries.set(id, entry);
    this.safe.state(id, existing?.record.state, "setting-up");
    const work = this.track(this.mutex.run(id, () => this.runInit(entry, spec)));
    return raceAbort(
      work.then(() => structuredClone(entry.record)),
      options.signal,
      "waiting for initialization",
    );
  }

  private async runInit(entry: Entry, spec: InitializerSpec): Promise<void> {
    const { record } = entry;
    const dir = this.contentDir(record.id);
    const started = this.clock.now();
    const signal = AbortSignal.any([entry.initAbort!.signal, this.shutdownController.signal]);
    try {
      await this.persist(entry);
      await this.inits.run(
        async () => {
          // A leftover of an earlier attempt must not leak into this one.
          await this.removeContent(record.id);
          await mkdir(dir, { mode: 0o755 });
          // Lenient while content arrives: restoring what was legal before must not fail.
          if (this.quota && record.storageQuotaBytes > 0) {
            await this.quota.prepare(record.id, dir, record.storageQuotaBytes, { lenient: true });
          }
          const outcome = await runInitializer(spec, {
            workspace: this.refOf(record),
            contentDir: dir,
            store: this.deps.store,
            git: this.deps.git,
            fetch: this.fetchImpl,
            clock: this.clock,
            signal,
            ...pickDefined({
              downloadAttempts: this.config.downloadAttempts,
              downloadRetryDelayMs: this.config.downloadRetryDelayMs,
              downloadTimeoutMs: this.config.downloadTimeoutMs,
            }),
            log: (level, message, fields) =>
              this.safe.log(level, message, { id: record.id, ...fields }),
          });
          if (signal.aborted) throw signal.reason;
          const finishedAt = this.isoNow();
          await writeReadyMarker(dir, {
            source: outcome.source,
            stats: outcome.stats,
            readyAt: finishedAt,
          });
          await this.enforceQuota(record);
          record.initResult = { source: outcome.source, stats: outcome.stats, finishedAt };
          record.state = "available";
          await this.persist(entry);
          this.safe.state(record.id, "setting-up", "available");
          for (const s of outcome.stats)
            this.safe.call((h) => h.onInitializerFinished?.(record.id, s));
        },
        (waited) => this.safe.call((h) => h.onInitQueueWait?.(record.id, waited)),
      );
      this.safe.call((h) =>
        h.onInitFinished?.(record.id, {
          ok: true,
          durationMs: this.clock.now() - started,
        }),
      );
    } catch (err) {
      const error = toContentError(err, "initialization failed");
      await this.removeContent(record.id).catch((rmErr: unknown) =>
        this.safe.log("error", "cannot remove content of failed init", {
          id: record.id,
          error: String(rmErr),
        }),
      );
      record.state = "none";
      delete record.initResult;
      record.initFailure = { kind: error.kind, message: error.message, failedAt: this.isoNow() };
      await this.persist(entry).catch((e: unknown) =>
        this.safe.log("error", "cannot persist failed init", { id: record.id, error: String(e) }),
      );
      this.safe.state(record.id, "setting-up", "none");
      this.safe.call((h) =>
        h.onInitFinished?.(record.id, {
          ok: false,
          durationMs: this.clock.now() - started,
          kind: error.kind,
        }),
      );
      this.safe.log("warn", "workspace initialization failed", {
        id: record.id,
        kind: error.kind,
        error: error.message,
      });
      throw error;
    } finally {
      delete entry.initAbort;
      entry.initSettled.resolve();
    }
  }

  /**
   * Resolves once the workspace is AVAILABLE. not-found: no init was ever started;
   * failed-precondition: the init failed (with its message) or the workspace is being disposed.
   * All waiters share the init's settle promise, so no wake-up can be lost.
   */
  async waitForInit(id: string, signal?: AbortSignal): Promise<void> {
    const entry = this.entries.get(validateWorkspaceId(id));
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

  /**
   * Snapshots need AVAILABLE content and remote storage. Without returnImmediately this resolves
   * when the snapshot is uploaded. With it, the upload continues in the background (progress and
   * result in `get(id).snapshots`) and this resolves as soon as the URL is known. `signal` only
   * ends the caller's wait.
   */
  async takeSnapshot(
    id: string,
    options: { returnImmediately?: boolean; signal?: AbortSignal } = {},
  ): Promise<TakeSnapshotResult> {
    const entry = this.requireEntry(id);
    this.requireArchivable(entry, "snapshot");
    const snap: SnapshotRecord = {
      snapshotId: `${this.clock.now()}-${randomBytes(4).toString("hex")}`,
      state: "queued",
      startedAt: this.isoNow(),
    };
    entry.record.snapshots.push(snap);
    this.trimSnapshots(entry);
    let announceUrl: (url: string) => void = () => undefined;
    const urlKnown = new Promise<string>((resolve) => {
      announceUrl = resolve;
    });
    const markFailed = (err: unknown): ContentError => {
      const error = toContentError(err, "snapshot failed");
      Object.assign(snap, {
        state: "failed",
        finishedAt: this.isoNow(),
        error: { kind: error.kind, message: error.message },
      });
      return error;
    };
    const work = this.track(
      this.mutex.run(entry.record.id, async () => {
        try {
          this.requireCurrent(entry);
          this.requireArchivable(entry, "snapshot");
        } catch (err) {
          // Disposed or changed while queued: nothing to persist into.
          throw markFailed(err);
        }
        try {
          snap.state = "running";
          await this.persist(entry);
          const r = await this.archiver.run(
            "snapshot",
            this.refOf(entry.record),
            this.contentDir(entry.record.id),
            (url) => {
              snap.url = url;
              announceUrl(url);
            },
          );
          Object.assign(snap, {
            state: "done",
            url: r.url,
            bytes: r.bytes,
            files: r.files,
            finishedAt: this.isoNow(),
          });
        } catch (err) {
          throw markFailed(err);
        } finally {
          // Still inside the mutex: a later dispose cannot have removed the record yet.
          await this.persist(entry).catch(() => undefined);
        }
        return snap.url!;
      }),
    );
    const result = (url: string): TakeSnapshotResult => ({
      snapshotId: snap.snapshotId,
      state: snap.state,
      url,
    });
    if (!options.returnImmediately) {
      return result(await raceAbort(work, options.signal, "waiting for the snapshot"));
    }
    work.catch((err: unknown) =>
      this.safe.log("warn", "background snapshot failed", {
        id,
        error: err instanceof Error ? err.message : String(err),
      }),
    );
    return result(
      await raceAbort(
        Promise.race([urlKnown, work]),
        options.signal,
        "waiting for the snapshot URL",
      ),
    );
  }

  /** Replaces the workspace's backup. Failure: data-loss (the previous backup stays as it was). */
  async backup(id: string): Promise<ArchiveRecord> {
    const entry = this.requireEntry(id);
    this.requireArchivable(entry, "backup");
    return this.track(
      this.mutex.run(entry.record.id, async () => {
        this.requireCurrent(entry);
        this.requireArchivable(entry, "backup");
        return this.backupLocked(entry);
      }),
    );
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
    const entry = this.requireEntry(id);
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
    const disposal = this.track(
      this.mutex.run(entry.record.id, () => this.disposeLocked(entry, options)),
    );
    entry.disposal = disposal;
    const clear = () => {
      if (entry.disposal === disposal) delete entry.disposal;
    };
    disposal.then(clear, clear);
    return disposal;
  }

  private async disposeLocked(entry: Entry, options: { backup?: boolean }): Promise<DisposeResult> {
    this.requireCurrent(entry);
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
          result.backup = await this.backupLocked(entry);
        } catch (err) {
          record.state = "available";
          await this.persist(entry).catch(() => undefined);
          this.safe.state(record.id, "wrapping-up", "available");
          const error = toContentError(err, "final backup failed");
          throw new ContentError("data-loss", `${error.message}; content was kept`, { cause: err });
        }
      }
      const gitStatus = await firstCheckoutStatus(
        this.deps.git,
        this.contentDir(record.id),
        checkoutLocations(record.initializer),
        this.config.gitStatusMaxListed ?? DEFAULT_STATUS_MAX_LISTED,
        (location, err) =>
          this.safe.log("warn", "git status on dispose failed", {
            id: record.id,
            location,
            error: err instanceof Error ? err.message : String(err),
          }),
      );
      if (gitStatus) result.gitStatus = gitStatus;
    } else if (options.backup) {
      result.backupSkipped = "the workspace content never became available";
    }
    // Record first: if we crash after this, the content is an orphan, never a half-deleted
    // workspace that still claims to exist.
    const from = record.state;
    if (this.entries.get(record.id) === entry) {
      this.entries.delete(record.id);
      await this.stateStore.remove(record.id);
      // The workspace is gone either way; content that cannot be removed now (e.g. a mount still
      // busy) is an orphan the next start reports, not a half-disposed workspace.
      await this.removeContent(record.id).catch((err: unknown) =>
        this.safe.log("error", "cannot remove the content of a disposed workspace", {
          id: record.id,
          error: err instanceof Error ? err.message : String(err),
        }),
      );
    }
    entry.disposed = true;
    this.safe.state(record.id, from, undefined);
    await Promise.resolve(this.safe.hooks.onDisposed?.(record.id)).catch((err: unknown) =>
      this.safe.log("warn", "dispose hook failed", { id: record.id, error: String(err) }),
    );
    return result;
  }

  private async backupLocked(entry: Entry): Promise<ArchiveRecord> {
    try {
      const result = await this.archiver.run(
        "backup",
        this.refOf(entry.record),
        this.contentDir(entry.record.id),
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

  private requireEntry(id: string): Entry {
    const entry = this.entries.get(validateWorkspaceId(id));
    if (!entry) throw new ContentError("not-found", `workspace ${id} is unknown`);
    return entry;
  }

  /** After waiting for the mutex the workspace may have been disposed or replaced. */
  private requireCurrent(entry: Entry): void {
    if (entry.disposed || this.entries.get(entry.record.id) !== entry) {
      throw new ContentError("not-found", `workspace ${entry.record.id} is unknown`);
    }
  }

  private requireArchivable(entry: Entry, what: string): void {
    const { record } = entry;
    const blocked =
      entry.archiveBlocked ?? (record.contentWiped ? "its content was wiped" : undefined);
    if (blocked) {
      throw new ContentError(
        "failed-precondition",
        `cannot ${what} workspace ${record.id}: ${blocked}`,
      );
    }
    if (record.state !== "available") {
      throw new ContentError(
        "failed-precondition",
        `cannot ${what} workspace ${record.id}: it is not ready (state ${record.state})`,
      );
    }
    if (record.remoteStorageDisabled) {
      throw new ContentError(
        "failed-precondition",
        `cannot ${what} workspace ${record.id}: remote storage is disabled`,
      );
    }
  }

  private trimSnapshots(entry: Entry): void {
    const keep = this.config.snapshotHistory ?? 20;
    const snaps = entry.record.snapshots;
    while (snaps.length > keep) {
      const index = snaps.findIndex((s) => s.state === "done" || s.state === "failed");
      if (index === -1) break;
      snaps.splice(index, 1);
    }
  }

  private refOf(record: WorkspaceRecord): WorkspaceRef {
    return { id: record.id, owner: record.metadata.owner, metaId: record.metadata.metaId };
  }

  /** Lifts the quota (with loop images: unmounts and deletes the image) before deleting content. */
  private async removeContent(id: string): Promise<void> {
    const dir = this.contentDir(id);
    if (this.quota) await this.quota.release(id, dir);
    await rm(dir, { recursive: true, force: true });
  }

  /**
   * The hard limit, set before the workspace becomes AVAILABLE. Failing to tighten it leaves
   * the workspace usable with the lenient limit; that is logged, not fatal.
   */
  private async enforceQuota(record: WorkspaceRecord): Promise<void> {
    if (!this.quota || record.storageQuotaBytes <= 0) return;
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
          {
            cause: err,
          },
        );
      }
      this.safe.log("warn", "cannot set the hard storage quota; the lenient limit stays", {
        id: record.id,
        error: err instanceof Error ? err.message : String(err),
      });
    }
  }

  /**
   * WipingTeardown with do_wipe: the content goes, the workspace stays known (and disposable)
   * but may never be archived again, so an empty folder cannot replace its last backup.
   */
  async wipe(id: string): Promise<void> {
    const entry = this.requireEntry(id);
    await this.mutex.run(entry.record.id, async () => {
      this.requireCurrent(entry);
      entry.archiveBlocked = "its content was wiped";
      entry.record.contentWiped = this.isoNow();
      await this.persist(entry);
      await this.removeContent(entry.record.id);
      await mkdir(this.contentDir(entry.record.id), { recursive: true, mode: 0o755 });
    });
  }

  private async persist(entry: Entry): Promise<void> {
    entry.record.updatedAt = this.isoNow();
    try {
      await this.stateStore.save(entry.record);
    } catch (err) {
      throw toContentError(err, `cannot persist state of workspace ${entry.record.id}`);
    }
  }

  private track<T>(work: Promise<T>): Promise<T> {
    this.inflight.add(work);
    const done = () => this.inflight.delete(work);
    work.then(done, done);
    return work;
  }

  private isoNow(): string {
    return new Date(this.clock.now()).toISOString();
  }
}
