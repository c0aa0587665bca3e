export { relativePathSegments, resolveInside } from "../platform/index.js";
export {
  abortReasonToError,
  ContentError,
  type ContentErrorKind,
  isContentError,
  toContentError,
} from "./content-error.js";
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
  ArchiveOperation,
  ContentGit,
  ContentHooks,
  FetchLike,
  GitCheckoutSpec,
  GitStatusSummary,
} from "./ports.js";
export { DAEMON_DIR, READY_MARKER, type ReadyMarker } from "./ready-marker.js";
export {
  type DisposeResult,
  type InitWorkspaceRequest,
  type RecoveryReport,
  type TakeSnapshotResult,
  WorkspaceContentManager,
  type WorkspaceContentManagerConfig,
  type WorkspaceContentManagerDeps,
} from "./workspace-content-manager.js";
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
