import { z } from "zod";
import { ContentCorruptError } from "../platform/index.js";

export const MANIFEST_FORMAT_VERSION = 1;

const manifestSchema = z.object({
  formatVersion: z.literal(MANIFEST_FORMAT_VERSION),
  /** sha256 (hex) of the compressed data object. */
  sha256: z.string().regex(/^[0-9a-f]{64}$/),
  /** Bytes of the compressed data object. */
  size: z.number().int().nonnegative(),
  /** Entries in the archive (files, directories, links). */
  fileCount: z.number().int().nonnegative(),
  /** ISO 8601 creation time. */
  createdAt: z.string(),
  sourceWorkspace: z.object({ id: z.string(), owner: z.string(), metaId: z.string() }),
  compression: z.literal("zstd"),
  /** Object key of the data object, relative to the store root. */
  dataKey: z.string().min(1),
  /** Uncompressed tar bytes; informational. */
  uncompressedSize: z.number().int().nonnegative().optional(),
});

/** Stored next to every archive and written last: an archive without a manifest does not exist. */
export type ArchiveManifest = z.infer<typeof manifestSchema>;

export function encodeManifest(m: ArchiveManifest): Buffer {
  return Buffer.from(JSON.stringify(m, null, 2) + "\n", "utf8");
}

export function parseManifest(bytes: Buffer, where: string): ArchiveManifest {
  let json: unknown;
  try {
    json = JSON.parse(bytes.toString("utf8"));
  } catch (err) {
    throw new ContentCorruptError(`manifest ${where} is not JSON: ${(err as Error).message}`);
  }
  const parsed = manifestSchema.safeParse(json);
  if (!parsed.success) {
    throw new ContentCorruptError(`manifest ${where} is invalid: ${parsed.error.message}`);
  }
  return parsed.data;
}
