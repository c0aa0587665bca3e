/**
 * Archive storage: the ContentStore contract the content module works against, its
 * implementation on top of an object store (local directory or S3), and the factory the daemon
 * builds it with.
 */
export {
  ArchiveContentStore,
  type ArchiveContentStoreOptions,
  DEFAULT_MAX_CONCURRENT_ARCHIVES,
  DEFAULT_SWEEP_GRACE_MS,
  type SweepReport,
} from "./archive-content-store.js";
export type { ChunkSweepReport } from "./chunk-gc.js";
export type { DedupScope } from "./chunk-keys.js";
export type { ChunkedArchiveStats } from "./chunked-archive.js";
export {
  type ContentStoreOptions,
  DEFAULT_PACK_TARGET_BYTES,
  FormatContentStore,
  type StorageFormat,
  type StoreSweepReport,
} from "./chunked-content-store.js";
export type {
  ArchiveOptions,
  ArchiveProgress,
  ArchiveStats,
  ContentStore,
  UploadResult,
  WorkspaceRef,
} from "./content-store.js";
export {
  type ContentStoreConfig,
  createContentStore,
  createObjectStore,
} from "./create-content-store.js";
export { LocalDirectoryObjectStore } from "./local-object-store.js";
export type { ObjectInfo, ObjectStore } from "./object-store.js";
export { ObjectSourceFileError } from "./object-store.js";
export { S3ObjectStore, type S3ObjectStoreConfig } from "./s3-object-store.js";
export { STAGING_DIR, StagingDirectoryError } from "./store-staging.js";
