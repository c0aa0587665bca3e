import { readdir } from "node:fs/promises";
import {
  type Clock,
  emptyDirectory,
  entryCount,
  type Log,
  measureTree,
  type Owner,
  resolveInside,
} from "../platform/index.js";
import type { ArchiveOptions, ArchiveStats, ContentStore, WorkspaceRef } from "../storage/index.js";
import { createCheckoutDirectories } from "./checkout-directories.js";
import { ContentError, toContentError } from "./content-error.js";
import { downloadVerified } from "./download-file.js";
import { removeStaleGitpodReadyFile } from "./gitpod-ready.js";
import type { GitInitializerSpec, InitializerSpec } from "./initializer-spec.js";
import { type InitializerProgress, initializerLabel } from "./operation-progress.js";
import type { ContentGit, FetchLike, GitCheckoutSpec } from "./ports.js";
import { removeStaleReadyMarker } from "./ready-marker.js";
import type { InitializerStats, InitSource } from "./workspace-record.js";

export interface InitializerContext {
  workspace: WorkspaceRef;
  /** The workspace root, exists and is empty when the top-level initializer starts. */
  contentDir: string;
  store: ContentStore;
  git: ContentGit;
  fetch: FetchLike;
  clock: Clock;
  signal: AbortSignal;
  downloadAttempts?: number;
  downloadRetryDelayMs?: number;
  downloadTimeoutMs?: number;
  downloadMaxBytes?: number;
  log?: Log;
  /** Told of each leaf's phase and of archive and download progress (WatchWorkspace). */
  progress?: InitializerProgress;
  /** The workspace user: directories and downloads the daemon creates are given to it. */
  owner?: Owner;
  /** compat.gitpod: a restored `.gitpod/ready` is stale too. */
  gitpodReadyFile?: boolean;
}

export interface InitializerOutcome {
  source: InitSource;
  stats: InitializerStats[];
}

const SOURCE_RANK: Record<InitSource, number> = {
  "from-other": 0,
  "from-prebuild": 1,
  "from-backup": 2,
};

const gitRequest = (g: GitInitializerSpec, checkoutDir: string): GitCheckoutSpec => ({
  remoteUri: g.remoteUri,
  ...(g.upstreamRemoteUri ? { upstreamRemoteUri: g.upstreamRemoteUri } : {}),
  targetMode: g.targetMode,
  cloneTarget: g.cloneTarget,
  checkoutDir,
  customConfig: g.customConfig,
  auth: g.auth,
  fullClone: g.fullClone,
});

const throwIfAborted = (ctx: InitializerContext): void => {
  if (ctx.signal.aborted) {
    const reason: unknown = ctx.signal.reason;
    throw reason instanceof ContentError
      ? reason
      : new ContentError("cancelled", "initialization was cancelled");
  }
};

/** Archives unpack into an empty root; anything else would merge two workspaces unpredictably. */
const requireEmptyRoot = async (ctx: InitializerContext, what: string): Promise<void> => {
  if ((await readdir(ctx.contentDir)).length > 0) {
    throw new ContentError(
      "invalid-argument",
      `${what} must be restored into an empty workspace: put it first in a composite initializer`,
    );
  }
};

const cloneGit = async (
  ctx: InitializerContext,
  g: GitInitializerSpec,
  field: string,
): Promise<string> => {
  const dir = await resolveInside(ctx.contentDir, g.checkoutLocation, field);
  await createCheckoutDirectories(ctx.contentDir, g.checkoutLocation, field, ctx.owner);
  ctx.progress?.phase("cloning", { detail: g.checkoutLocation || "." });
  try {
    await ctx.git.clone(gitRequest(g, dir), ctx.signal);
  } catch (err) {
    throwIfAborted(ctx);
    throw toContentError(err, `git clone into ${JSON.stringify(g.checkoutLocation || ".")}`);
  }
  return dir;
};

const restoreArchive = async (
  ctx: InitializerContext,
  what: string,
  restore: () => Promise<ArchiveStats>,
): Promise<ArchiveStats> => {
  ctx.progress?.phase("restoring", { detail: what });
  try {
    const stats = await restore();
    await removeStaleReadyMarker(ctx.contentDir);
    if (ctx.gitpodReadyFile) await removeStaleGitpodReadyFile(ctx.contentDir);
    return stats;
  } catch (err) {
    throwIfAborted(ctx);
    throw toContentError(err, `restore ${what}`);
  }
};

/**
 * What a clone put into the workspace: bytes of regular files and every entry (files, directories,
 * links), without following links. Strict: a tree we just wrote must be readable.
 */
const contentStats = async (dir: string): Promise<{ bytes: number; files: number }> => {
  const m = await measureTree(dir, { mode: "strict" });
  return { bytes: m.regularFileBytes, files: entryCount(m) };
};

const archiveOptions = (ctx: InitializerContext): ArchiveOptions => ({
  signal: ctx.signal,
  ...(ctx.progress ? { onProgress: ctx.progress.onArchiveProgress } : {}),
});

type LeafResult = { source: InitSource; bytes: number; files: number } & Pick<
  InitializerStats,
  "prebuildSource"
>;

const runLeaf = async (
  spec: Exclude<InitializerSpec, { kind: "composite" }>,
  ctx: InitializerContext,
  field: string,
): Promise<LeafResult> => {
  switch (spec.kind) {
    case "empty":
      return { source: "from-other", bytes: 0, files: 0 };
    case "git": {
      const dir = await cloneGit(ctx, spec, `${field}.git.checkoutLocation`);
      return { source: "from-other", ...(await contentStats(dir)) };
    }
    case "snapshot": {
      await requireEmptyRoot(ctx, "a snapshot");
      const s = await restoreArchive(ctx, `snapshot ${spec.snapshot}`, () =>
        ctx.store.restoreSnapshot(spec.snapshot, ctx.contentDir, archiveOptions(ctx)),
      );
      return { source: "from-backup", bytes: s.bytes, files: s.files };
    }
    case "backup": {
      await requireEmptyRoot(ctx, "a backup");
      const s = await restoreArchive(ctx, "backup", () =>
        ctx.store.restoreBackup(ctx.workspace, ctx.contentDir, archiveOptions(ctx)),
      );
      // Only used later (git status on dispose), but a restored link must not lead us outside.
      await resolveInside(
        ctx.contentDir,
        spec.checkoutLocation,
        `${field}.backup.checkoutLocation`,
      );
      return { source: "from-backup", bytes: s.bytes, files: s.files };
    }
    case "prebuild":
      return runPrebuild(spec, ctx, field);
    case "download": {
      let bytes = 0;
      ctx.progress?.phase("downloading", {
        detail: spec.targetLocation || ".",
        filesTotal: spec.files.length,
      });
      for (const [i, file] of spec.files.entries()) {
        throwIfAborted(ctx);
        const destination = await resolveInside(
          ctx.contentDir,
          [spec.targetLocation, file.filePath].filter((p) => p !== "").join("/"),
          `${field}.download.files.${i}.filePath`,
        );
        const result = await downloadVerified({
          fetch: ctx.fetch,
          clock: ctx.clock,
          url: file.url,
          digest: file.digest,
          destination,
          signal: ctx.signal,
          ...(ctx.owner ? { owner: ctx.owner } : {}),
          ...(ctx.downloadAttempts !== undefined ? { attempts: ctx.downloadAttempts } : {}),
          ...(ctx.downloadTimeoutMs !== undefined ? { timeoutMs: ctx.downloadTimeoutMs } : {}),
          ...(ctx.downloadMaxBytes !== undefined ? { maxBytes: ctx.downloadMaxBytes } : {}),
          ...(ctx.downloadRetryDelayMs !== undefined
            ? { retryDelayMs: ctx.downloadRetryDelayMs }
            : {}),
        }).catch((err: unknown) => {
          throwIfAborted(ctx);
          throw toContentError(err, `${field}.download.files.${i}`);
        });
        bytes += result.bytes;
        ctx.progress?.progress({ bytesDone: bytes, filesDone: i + 1 });
      }
      return { source: "from-other", bytes, files: spec.files.length };
    }
  }
};

/**
 * Restore the prebuild snapshot, then move every checkout to its target. If the snapshot cannot
 * be restored (missing, corrupt, unreachable), start over with plain clones; the source then says
 * "from-other" because the prebuild's work is not there (upstream wrongly kept "from-prebuild").
 */
const runPrebuild = async (
  spec: Extract<InitializerSpec, { kind: "prebuild" }>,
  ctx: InitializerContext,
  field: string,
): Promise<LeafResult> => {
  if (spec.snapshot) {
    const snapshotUrl = spec.snapshot.snapshot;
    await requireEmptyRoot(ctx, "a prebuild snapshot");
    let restored: ArchiveStats | undefined;
    try {
      restored = await restoreArchive(ctx, `prebuild snapshot ${snapshotUrl}`, () =>
        ctx.store.restoreSnapshot(snapshotUrl, ctx.contentDir, archiveOptions(ctx)),
      );
    } catch (err) {
      throwIfAborted(ctx);
      ctx.log?.("warn", "prebuild snapshot could not be restored, falling back to git clone", {
        err,
      });
      // What the failed restore left is archive content: deleted without following its links.
      await emptyDirectory(ctx.contentDir);
    }
    if (restored) {
      for (const [i, g] of spec.git.entries()) {
        const gitField = `${field}.prebuild.git.${i}.checkoutLocation`;
        const dir = await resolveInside(ctx.contentDir, g.checkoutLocation, gitField);
        ctx.progress?.phase("cloning", { detail: `${g.checkoutLocation || "."} to its target` });
        try {
          await ctx.git.bringToTarget(gitRequest(g, dir), ctx.signal);
        } catch (err) {
          throwIfAborted(ctx);
          throw toContentError(
            err,
            `prebuild: bring ${JSON.stringify(g.checkoutLocation || ".")} to its target`,
          );
        }
      }
      return {
        source: "from-prebuild",
        bytes: restored.bytes,
        files: restored.files,
        prebuildSource: "snapshot",
      };
    }
  }
  for (const [i, g] of spec.git.entries()) {
    await cloneGit(ctx, g, `${field}.prebuild.git.${i}.checkoutLocation`);
  }
  return {
    source: "from-other",
    ...(await contentStats(ctx.contentDir)),
    prebuildSource: "git-fallback",
  };
};

/**
 * Runs an initializer tree into ctx.contentDir. Stats are appended in execution order; a composite
 * adds its own entry (sums of its children) after them. The composite's source is the strongest
 * of its children (from-backup > from-prebuild > from-other), so a composite that restores a
 * backup reports it.
 */
export const runInitializer = async (
  spec: InitializerSpec,
  ctx: InitializerContext,
  field = "initializer",
): Promise<InitializerOutcome> => {
  throwIfAborted(ctx);
  const started = ctx.clock.now();
  if (spec.kind === "composite") {
    const stats: InitializerStats[] = [];
    let source: InitSource = "from-other";
    let bytes = 0;
    let files = 0;
    for (const [i, child] of spec.initializers.entries()) {
      const outcome = await runInitializer(child, ctx, `${field}.composite.${i}`);
      stats.push(...outcome.stats);
      const own = outcome.stats.at(-1);
      bytes += own?.bytes ?? 0;
      files += own?.files ?? 0;
      if (SOURCE_RANK[outcome.source] > SOURCE_RANK[source]) source = outcome.source;
    }
    stats.push({ kind: "composite", durationMs: ctx.clock.now() - started, bytes, files });
    return { source, stats };
  }
  ctx.progress?.phase("preparing", { initializer: initializerLabel(field, spec.kind) });
  const leaf = await runLeaf(spec, ctx, field);
  const { source, ...rest } = leaf;
  return { source, stats: [{ kind: spec.kind, durationMs: ctx.clock.now() - started, ...rest }] };
};
