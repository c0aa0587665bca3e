/**
 * The content domain: the lifecycle of a workspace's files (init from git, archives and
 * downloads; snapshot; backup; dispose) behind WorkspaceContentManager, plus the specs, records
 * and errors its callers exchange with it.
 */
export {
  ContentError,
  type ContentErrorKind,
  isContentError,
  toContentError,
} from "./content-error.js";
export { DEFAULT_DOWNLOAD_MAX_BYTES } from "./download-file.js";
export {
  type CloneTargetMode,
  checkoutLocations,
  type DownloadFileSpec,
  type GitAuth,
  type GitInitializerSpec,
  type GitSummary,
  type InitializerKind,
  type InitializerSpec,
  type InitializerSummary,
  redactUrl,
  summarizeInitializer,
  validateInitializerSpec,
} from "./initializer-spec.js";
export type {
  DisposeResult,
  InitWorkspaceRequest,
  WorkspaceContentManagerConfig,
  WorkspaceContentManagerDeps,
} from "./manager-types.js";
export type {
  OperationKind,
  OperationOutcome,
  OperationPhase,
  OperationProgressReport,
} from "./operation-progress.js";
export type {
  ArchiveOperation,
  ContentGit,
  ContentHooks,
  FetchLike,
  GitCheckoutSpec,
  GitStatusSummary,
} from "./ports.js";
export { DAEMON_DIR, READY_MARKER, type ReadyMarker } from "./ready-marker.js";
export type { RecoveryReport } from "./startup-recovery.js";
export type { UnreadableStateFile } from "./state-store.js";
export { WorkspaceContentManager } from "./workspace-content-manager.js";
export { validateMetadata, validateWorkspaceId } from "./workspace-id.js";
export type {
  ArchiveRecord,
  InitFailure,
  InitializerStats,
  InitResult,
  InitSource,
  SnapshotRecord,
  SnapshotState,
  WorkspaceMetadata,
  WorkspaceRecord,
  WorkspaceState,
} from "./workspace-record.js";
export type { TakeSnapshotOptions, TakeSnapshotResult } from "./workspace-snapshots.js";
