import { createWriteStream } from "node:fs";
import { pipeline } from "node:stream/promises";
import { type ArchiveResult, createArchiveStream } from "../../src/archive/index.js";
import { buildFullTree } from "./tree-fixture.js";
import type { WorkDir } from "./work-dir.js";

/** Writes the .tar.zst of `dir` into `file` through createArchiveStream. */
export async function archiveTo(dir: string, file: string, idShift = 0): Promise<ArchiveResult> {
  const a = createArchiveStream(dir, { idShift });
  await pipeline(a.stream, createWriteStream(file));
  return a.result;
}

export interface ArchivedTree {
  /** The full fixture tree (see buildFullTree). */
  src: string;
  /** Its archive. */
  file: string;
  result: ArchiveResult;
}

/** A full fixture tree in `work`/src and its archive in `work`/a.tar.zst. */
export async function archivedTree(
  work: WorkDir,
  opts: { largeBytes?: number; idShift?: number; prepare?: (src: string) => void } = {},
): Promise<ArchivedTree> {
  const src = work.join("src");
  buildFullTree(src, { largeBytes: opts.largeBytes });
  opts.prepare?.(src);
  const file = work.join("a.tar.zst");
  return { src, file, result: await archiveTo(src, file, opts.idShift) };
}
