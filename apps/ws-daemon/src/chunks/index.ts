/**
 * Content-defined chunking for deduplicated archives: the FastCDC-style chunker and the versioned
 * index that lists a chunked archive's chunks (docs/chunked-backups.md).
 */

export { chunkId } from "./chunk-id.js";
export {
  CHUNK_INDEX_FORMAT_VERSION,
  type ChunkFrame,
  type ChunkIndex,
  type ChunkPiece,
  type ChunkRef,
  encodeChunkIndex,
  type PackRef,
  parseChunkIndex,
} from "./chunk-index.js";
export {
  ChunkStreamDecoder,
  type ChunkStreamHandler,
  cutFrame,
  dataFrameHeader,
  MAX_DATA_FRAME_BYTES,
  pieceEndFrame,
  pieceStartFrame,
  type ReusedChunk,
  reuseFrame,
} from "./chunk-stream-frames.js";
export {
  type ChunkSizes,
  ContentDefinedChunker,
  DEFAULT_CHUNK_SIZES,
} from "./content-defined-chunker.js";
