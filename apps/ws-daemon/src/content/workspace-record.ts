import type { Clock } from "../platform/index.js";
import type { WorkspaceRef } from "../storage/index.js";
import type { ContentErrorKind } from "./content-error.js";
import type { InitializerKind, InitializerSummary } from "./initializer-spec.js";

/**
 * The wire enum WorkspaceContentState. A workspace whose init failed is "none" (it has no
 * content) and carries `initFailure`.
 */
export type WorkspaceState = "none" | "setting-up" | "available" | "wrapping-up";

export type InitSource = "from-backup" | "from-prebuild" | "from-other";

export interface InitializerStats {
  kind: InitializerKind;
  durationMs: number;
  /** Bytes written into the workspace (archives: compressed bytes read from the store). */
  bytes: number;
  files: number;
  /** prebuild only: whether the snapshot was used or the git fallback ran. */
  prebuildSource?: "snapshot" | "git-fallback";
}

export interface InitResult {
  source: InitSource;
  /** Leaf initializers in execution order, then one entry per composite. */
  stats: InitializerStats[];
  finishedAt: string;
}

export interface InitFailure {
  kind: ContentErrorKind;
  message: string;
  failedAt: string;
}

export interface ArchiveRecord {
  url: string;
  bytes: number;
  files: number;
  durationMs: number;
  finishedAt: string;
}

export type SnapshotState = "queued" | "running" | "done" | "failed";

export interface SnapshotRecord {
  /** Local handle for the snapshot, unique per workspace; the URL is only known once uploaded. */
  snapshotId: string;
  state: SnapshotState;
  startedAt: string;
  finishedAt?: string;
  url?: string;
  bytes?: number;
  files?: number;
  error?: { kind: ContentErrorKind; message: string };
}

export interface WorkspaceMetadata {
  owner: string;
  metaId: string;
}

/** What is persisted per workspace; contains no secrets. */
export interface WorkspaceRecord {
  /** Bumped when the persisted shape changes incompatibly. */
  version: 1;
  id: string;
  metadata: WorkspaceMetadata;
  state: WorkspaceState;
  initializer: InitializerSummary;
  storageQuotaBytes: number;
  remoteStorageDisabled: boolean;
  createdAt: string;
  updatedAt: string;
  initResult?: InitResult;
  initFailure?: InitFailure;
  lastBackup?: ArchiveRecord;
  snapshots: SnapshotRecord[];
  /** Set by WipingTeardown(do_wipe): the content was removed on purpose and is never archived. */
  contentWiped?: string;
}

/** How the store names the workspace's archives. */
export const workspaceRef = (record: WorkspaceRecord): WorkspaceRef => ({
  id: record.id,
  owner: record.metadata.owner,
  metaId: record.metadata.metaId,
});

/** Record timestamps are ISO strings of the injected clock. */
export const isoNow = (clock: Clock): string => new Date(clock.now()).toISOString();
