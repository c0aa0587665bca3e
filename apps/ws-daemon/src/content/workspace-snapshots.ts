import { randomBytes } from "node:crypto";
import { type Clock, type Log, raceAbort } from "../platform/index.js";
import type { ArchiveRunner } from "./archive-runner.js";
import { type ContentError, toContentError } from "./content-error.js";
import { OperationTracker } from "./operation-progress.js";
import type { SafeHooks } from "./safe-hooks.js";
import type { WorkspaceDisk } from "./workspace-disk.js";
import { isoNow, type SnapshotRecord, workspaceRef } from "./workspace-record.js";
import {
  requireArchivable,
  type WorkspaceEntry,
  type WorkspaceRegistry,
} from "./workspace-registry.js";

/** What taking a snapshot needs from the manager. */
export interface SnapshotContext {
  registry: WorkspaceRegistry;
  archiver: ArchiveRunner;
  disk: WorkspaceDisk;
  clock: Clock;
  log: Log;
  /** Where the snapshot's progress goes (WatchWorkspace). */
  hooks: SafeHooks;
  /** Snapshot records kept per workspace (the oldest finished ones are dropped). */
  history: number;
  /** Runs `op` in the workspace's turn (its FIFO mutex); shutdown waits for it. */
  serialize<T>(id: string, op: () => Promise<T>): Promise<T>;
  persist(entry: WorkspaceEntry): Promise<void>;
}

export interface TakeSnapshotResult {
  snapshotId: string;
  state: SnapshotRecord["state"];
  /**
   * Where the snapshot is (or will be). With returnImmediately it is present as soon as the store
   * names the snapshot (ArchiveOptions.onSnapshotUrl) or, for stores that cannot, once uploaded.
   */
  url: string;
}

export interface TakeSnapshotOptions {
  returnImmediately?: boolean;
  signal?: AbortSignal;
}

/**
 * Snapshots need AVAILABLE content and remote storage. Without returnImmediately this resolves
 * when the snapshot is uploaded. With it, the upload continues in the background (progress and
 * result in the workspace's snapshot records) and this resolves as soon as the URL is known.
 * `signal` only ends the caller's wait.
 */
export const takeSnapshot = async (
  ctx: SnapshotContext,
  id: string,
  options: TakeSnapshotOptions = {},
): Promise<TakeSnapshotResult> => {
  const entry = ctx.registry.requireEntry(id);
  requireArchivable(entry, "snapshot");
  const snap: SnapshotRecord = {
    snapshotId: `${ctx.clock.now()}-${randomBytes(4).toString("hex")}`,
    state: "queued",
    startedAt: isoNow(ctx.clock),
  };
  entry.record.snapshots.push(snap);
  trimSnapshots(entry.record.snapshots, ctx.history);
  let announceUrl: (url: string) => void = () => undefined;
  const urlKnown = new Promise<string>((resolve) => {
    announceUrl = resolve;
  });
  const tracker = new OperationTracker(ctx.hooks, entry.record.id, "snapshot");
  const work = ctx.serialize(entry.record.id, () => upload(ctx, entry, snap, announceUrl, tracker));
  const result = (url: string): TakeSnapshotResult => ({
    snapshotId: snap.snapshotId,
    state: snap.state,
    url,
  });
  if (!options.returnImmediately) {
    return result(await raceAbort(work, options.signal, "waiting for the snapshot"));
  }
  work.catch((err: unknown) => ctx.log("warn", "background snapshot failed", { id, err }));
  return result(
    await raceAbort(Promise.race([urlKnown, work]), options.signal, "waiting for the snapshot URL"),
  );
};

/** In the workspace's turn: uploads and records the outcome in `snap`; resolves with the URL. */
const upload = async (
  ctx: SnapshotContext,
  entry: WorkspaceEntry,
  snap: SnapshotRecord,
  announceUrl: (url: string) => void,
  tracker: OperationTracker,
): Promise<string> => {
  const markFailed = (err: unknown): ContentError => {
    const error = tracker.fail(toContentError(err, "snapshot failed"));
    Object.assign(snap, {
      state: "failed",
      finishedAt: isoNow(ctx.clock),
      error: { kind: error.kind, message: error.message },
    });
    return error;
  };
  try {
    ctx.registry.requireCurrent(entry);
    requireArchivable(entry, "snapshot");
  } catch (err) {
    // Disposed or changed while queued: nothing to persist into.
    throw markFailed(err);
  }
  try {
    snap.state = "running";
    await ctx.persist(entry);
    const r = await ctx.archiver.run(
      "snapshot",
      workspaceRef(entry.record),
      ctx.disk.contentDir(entry.record.id),
      (url) => {
        snap.url = url;
        announceUrl(url);
      },
      tracker,
    );
    Object.assign(snap, {
      state: "done",
      url: r.url,
      bytes: r.bytes,
      files: r.files,
      finishedAt: isoNow(ctx.clock),
    });
    tracker.finish({ ok: true, url: r.url });
    return r.url;
  } catch (err) {
    throw markFailed(err);
  } finally {
    // Still in the workspace's turn: a later dispose cannot have removed the record yet.
    await ctx.persist(entry).catch(() => undefined);
  }
};

/**
 * Drops the oldest finished (done or failed) records beyond `keep`; queued and running ones stay,
 * so the list may be longer than `keep` while they are many.
 */
export const trimSnapshots = (snapshots: SnapshotRecord[], keep: number): void => {
  while (snapshots.length > keep) {
    const index = snapshots.findIndex((s) => s.state === "done" || s.state === "failed");
    if (index === -1) break;
    snapshots.splice(index, 1);
  }
};
