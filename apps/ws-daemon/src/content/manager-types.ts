import type { Clock, NetworkPolicy, RemoveTreeOptions } from "../platform/index.js";
import type { QuotaEnforcer } from "../quota/index.js";
import type { ContentStore } from "../storage/index.js";
import type { InitializerSpec } from "./initializer-spec.js";
import type { ContentGit, ContentHooks, FetchLike, GitStatusSummary } from "./ports.js";
import type { ArchiveRecord, WorkspaceMetadata } from "./workspace-record.js";

export interface WorkspaceContentManagerConfig {
  /** Content lives in `<workingArea>/<id>`, state in `<workingArea>/.state/<id>.json`. */
  workingArea: string;
  /** Initializations running at once; more wait in a FIFO queue. */
  maxConcurrentInits: number;
  /** Backups and snapshots running at once across all workspaces. */
  maxConcurrentArchives: number;
  /** Cap of each list in the dispose git status (totals stay complete). Default 100. */
  gitStatusMaxListed?: number;
  downloadAttempts?: number;
  downloadRetryDelayMs?: number;
  /** Per download attempt; default 10 minutes. */
  downloadTimeoutMs?: number;
  /** Largest file a download initializer accepts; default DEFAULT_DOWNLOAD_MAX_BYTES (4 GiB). */
  downloadMaxBytes?: number;
  /**
   * Downloads (and their redirects) may reach loopback and private networks. Default false: only
   * public addresses (see platform's networkPolicy). Ignored when deps.fetch is given.
   */
  downloadAllowPrivateNetworks?: boolean;
  /** Snapshot records kept per workspace (oldest finished ones are dropped). Default 20. */
  snapshotHistory?: number;
  /**
   * Remove directories in the working area that belong to no workspace (left by a crash between
   * deleting a workspace's record and its content) when opening. Default false: they are only
   * reported, because the area might hold other things. Dot-names are never touched.
   */
  removeOrphanedContent?: boolean;
  /**
   * Owner given to each new content directory (the workspace user, which git runs as when it is
   * confined). Unset: the directory keeps the daemon's owner.
   */
  contentOwner?: { uid: number; gid: number };
  /**
   * As upstream: a workspace whose owner/metaId has a backup gets that backup restored instead of
   * its initializer. Default true (config `init.restoreBackupFirst`).
   */
  restoreBackupFirst?: boolean;
  /** compat.gitpod: also write `.gitpod/ready` (Gitpod's supervisor waits for it). Default false. */
  gitpodReadyFile?: boolean;
  /**
   * compat.socketLayout "id-daemon": `<workingArea>/<id><suffix>` is the workspace's socket
   * directory, so ids ending in the suffix are refused and such directories are no orphans.
   */
  socketDirSuffix?: string;
}

export interface WorkspaceContentManagerDeps {
  store: ContentStore;
  git: ContentGit;
  /** Default: guardedFetch with the network policy (deps.networkPolicy or the config's). */
  fetch?: FetchLike;
  /** The policy every download hop is checked against; default from downloadAllowPrivateNetworks. */
  networkPolicy?: NetworkPolicy;
  clock?: Clock;
  hooks?: ContentHooks;
  /** Enforces storageQuotaBytes. Default: a NoQuotaEnforcer (quotas are only recorded). */
  quota?: QuotaEnforcer;
  /** Fault hooks of the walk that deletes content (wipe, dispose, failed inits), for tests. */
  removeOptions?: RemoveTreeOptions;
}

export interface InitWorkspaceRequest {
  id: string;
  metadata: WorkspaceMetadata | undefined;
  initializer: InitializerSpec | undefined;
  /** 0 = no quota. Recorded only; enforcement belongs to the storage layer. */
  storageQuotaBytes?: number;
  remoteStorageDisabled?: boolean;
}

export interface DisposeResult {
  /** Status of the first checkout location that is a git repository; absent when there is none. */
  gitStatus?: GitStatusSummary;
  /** The final backup, when one was requested and made. */
  backup?: ArchiveRecord;
  /** Why a requested backup was not made (only for workspaces whose content never became available). */
  backupSkipped?: string;
}
