import { lstat } from "node:fs/promises";
import { join } from "node:path";
import { DomainError, errnoCode } from "../errors.js";

/**
 * Splits a client-supplied workspace-relative path into segments, refusing anything that could
 * name a place outside the workspace by its spelling alone: NUL bytes, absolute paths and `..`.
 * `.` and empty segments are dropped, so "" and "." mean the workspace root.
 */
export const relativePathSegments = (relPath: string, field: string): string[] => {
  if (relPath.includes("\0")) {
    throw new DomainError("invalid-argument", `${field}: must not contain NUL bytes`);
  }
  if (relPath.startsWith("/")) {
    throw new DomainError(
      "invalid-argument",
      `${field}: must be relative to the workspace, got absolute path ${JSON.stringify(relPath)}`,
    );
  }
  const segments = relPath.split("/").filter((s) => s !== "" && s !== ".");
  if (segments.includes("..")) {
    throw new DomainError(
      "invalid-argument",
      `${field}: must not contain "..", got ${JSON.stringify(relPath)}`,
    );
  }
  return segments;
};

/**
 * Resolves `relPath` below `root` (which is trusted) and checks the components that already exist.
 *
 * Policy: ANY existing symlink on the way is refused, also one that points inside the workspace.
 * Following only "inside" links would require resolving them, and the workspace owner can swap a
 * link between our check and our write; refusing all links leaves no such window for the parts we
 * check. Components that do not exist yet are fine (the caller creates them); an existing component
 * that is not a directory but has children in the path is refused too.
 */
export const resolveInside = async (
  root: string,
  relPath: string,
  field = "path",
): Promise<string> => {
  const segments = relativePathSegments(relPath, field);
  let current = root;
  for (const [index, segment] of segments.entries()) {
    current = join(current, segment);
    let stats: Awaited<ReturnType<typeof lstat>>;
    try {
      stats = await lstat(current);
    } catch (err) {
      // Fail closed: only ENOENT means "not there yet". Any other failure (EACCES, EIO, ...)
      // says nothing about what is there, so nothing is resolved.
      const code = errnoCode(err);
      if (code === "ENOENT") return join(root, ...segments);
      if (code === "ENAMETOOLONG") {
        throw new DomainError("invalid-argument", `${field}: a name in the path is too long`);
      }
      throw err;
    }
    if (stats.isSymbolicLink()) {
      throw new DomainError(
        "invalid-argument",
        `${field}: ${JSON.stringify(relPath)} passes through a symlink (${segments.slice(0, index + 1).join("/")}), which is not allowed`,
      );
    }
    if (index < segments.length - 1 && !stats.isDirectory()) {
      throw new DomainError(
        "invalid-argument",
        `${field}: ${segments.slice(0, index + 1).join("/")} is not a directory`,
      );
    }
  }
  return current;
};
