/**
 * Content-defined chunking for deduplicated archives: the FastCDC-style chunker and the versioned
 * index that lists a chunked archive's chunks (docs/chunked-backups.md).
 */

export { chunkId } from "./chunk-id.js";
export {
  CHUNK_INDEX_FORMAT_VERSION,
  type ChunkIndex,
  type ChunkRef,
  encodeChunkIndex,
  parseChunkIndex,
} from "./chunk-index.js";
export {
  type ChunkSizes,
  ContentDefinedChunker,
  DEFAULT_CHUNK_SIZES,
} from "./content-defined-chunker.js";
