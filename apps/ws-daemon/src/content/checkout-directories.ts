import { lchown, lstat, mkdir } from "node:fs/promises";
import { join } from "node:path";
import { errnoCode, relativePathSegments } from "../platform/index.js";
import { ContentError } from "./content-error.js";

/**
 * Creates the directories of a checkout location below the content directory, one component at
 * a time, each new one given to the workspace user: `a/b/repo` in a workspace must not leave `a`
 * and `a/b` to root, where the workspace user could not write. Existing components are kept as
 * they are (an earlier initializer made them); a component that is not a plain directory, a
 * symlink planted on the way included, refuses the location. Returns the checkout's path.
 */
export const createCheckoutDirectories = async (
  contentDir: string,
  location: string,
  field: string,
  owner: { uid: number; gid: number } | undefined,
): Promise<string> => {
  let current = contentDir;
  for (const segment of relativePathSegments(location, field)) {
    current = join(current, segment);
    let created = true;
    try {
      await mkdir(current, { mode: 0o755 });
    } catch (err) {
      if (errnoCode(err) !== "EEXIST") throw err;
      created = false;
    }
    // lstat, not stat: a symlink in place of the directory is refused, never followed
    if (!(await lstat(current)).isDirectory()) {
      throw new ContentError(
        "invalid-argument",
        `${field}: ${JSON.stringify(location)} passes through ${JSON.stringify(segment)}, which is not a directory`,
      );
    }
    if (created && owner !== undefined) await lchown(current, owner.uid, owner.gid);
  }
  return current;
};
