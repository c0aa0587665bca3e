import { z } from "zod";
import { type ArchiveManifest, parseManifest } from "../archive/index.js";
import { ContentCorruptError } from "../platform/index.js";

export const CHUNKED_MANIFEST_FORMAT_VERSION = 2;

const chunkedManifestSchema = z
  .object({
    formatVersion: z.literal(CHUNKED_MANIFEST_FORMAT_VERSION),
    format: z.literal("chunked"),
    /** The index object (immutable) listing the archive's chunks. */
    indexKey: z.string().min(1).max(1024),
    indexSha256: z.string().regex(/^[0-9a-f]{64}$/),
    indexSize: z.number().int().nonnegative(),
    /** Entries in the archive (files, directories, links). */
    fileCount: z.number().int().nonnegative(),
    /** Uncompressed tar bytes. */
    uncompressedSize: z.number().int().nonnegative(),
    /** Bytes this archive added to the store (new packs and its index); informational. */
    storedBytes: z.number().int().nonnegative(),
    /** Compressed bytes of every pack the archive uses; informational. */
    referencedBytes: z.number().int().nonnegative(),
    createdAt: z.string(),
    sourceWorkspace: z.object({ id: z.string(), owner: z.string(), metaId: z.string() }),
    /** The prefix of the packs it uses: `chunks/owners/<owner>/` or `chunks/store/`. */
    scope: z.string().min(1).max(300),
  })
  .strict();

/** The commit point of a chunked archive: written last, naming its index. */
export type ChunkedManifest = z.infer<typeof chunkedManifestSchema>;

export type AnyManifest =
  | { format: "tar-zstd"; manifest: ArchiveManifest }
  | { format: "chunked"; manifest: ChunkedManifest };

export function encodeChunkedManifest(m: ChunkedManifest): Buffer {
  return Buffer.from(`${JSON.stringify(m, null, 2)}\n`, "utf8");
}

/** A manifest of either format; ContentCorruptError for anything else. */
export function parseAnyManifest(bytes: Buffer, where: string): AnyManifest {
  let json: unknown;
  try {
    json = JSON.parse(bytes.toString("utf8"));
  } catch (err) {
    throw new ContentCorruptError(`manifest ${where} is not JSON: ${(err as Error).message}`);
  }
  const version = (json as { formatVersion?: unknown } | null)?.formatVersion;
  if (version !== CHUNKED_MANIFEST_FORMAT_VERSION) {
    return { format: "tar-zstd", manifest: parseManifest(bytes, where) };
  }
  const parsed = chunkedManifestSchema.safeParse(json);
  if (!parsed.success) {
    throw new ContentCorruptError(`manifest ${where} is invalid: ${parsed.error.message}`);
  }
  return { format: "chunked", manifest: parsed.data };
}
