/**
 * Archives of workspace trees: tar | zstd streams or files (create-archive), restores that refuse
 * hostile content (extract-archive), and the manifest stored next to every archive.
 */
export {
  ArchiveDeadlineError,
  ArchiveTreeChangedError,
  HostileArchiveError,
} from "./archive-errors.js";
export {
  ArchiveLimitError,
  type ArchiveLimits,
  DEFAULT_ARCHIVE_LIMITS,
  type SomeArchiveLimits,
} from "./archive-limits.js";
export {
  type ArchiveDeadline,
  type ArchiveResult,
  type ArchiveStream,
  type ArchiveToFileOptions,
  type CreateArchiveOptions,
  createArchiveStream,
  DEFAULT_ZSTD_LEVEL,
  writeArchiveToFile,
} from "./create-archive.js";
export {
  type ChunkedTree,
  type ChunkTreeOptions,
  chunkTree,
  type TreeChunk,
  type TreeEvent,
} from "./create-chunks.js";
export {
  type ArchiveSource,
  type ExtractArchiveOptions,
  type ExtractResult,
  extractArchive,
} from "./extract-archive.js";
export {
  type ExtractTarStreamOptions,
  type ExtractTarStreamResult,
  extractTarFed,
  extractTarStream,
  type TarFeeder,
} from "./extract-tar-stream.js";
export {
  DEFAULT_PIECE_MIN_BYTES,
  type PieceOptions,
  pieceFingerprint,
} from "./file-pieces.js";
export {
  type ArchiveManifest,
  encodeManifest,
  MANIFEST_FORMAT_VERSION,
  parseManifest,
} from "./manifest.js";
export {
  chunkTreeNatively,
  type NativeChunkEvent,
  type NativeChunkedTree,
  type NativeChunkTreeOptions,
} from "./native-chunks.js";
export type { ExtractLimits, RestorePolicy, SafeExtractOptions } from "./safe-extractor.js";
export type { TarWriteSummary } from "./tar-writer.js";
