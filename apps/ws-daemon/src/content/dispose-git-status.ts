import { stat } from "node:fs/promises";
import { join } from "node:path";
import { resolveInside } from "../platform/index.js";
import type { ContentGit, GitStatusSummary } from "./ports.js";

/**
 * Git status of the first checkout location that holds a repository (the wire has room for one).
 * Best effort: a failing location is reported through `onError` and the next one is tried.
 */
export const firstCheckoutStatus = async (
  git: ContentGit,
  contentDir: string,
  locations: readonly string[],
  maxListed: number,
  onError: (location: string, err: unknown) => void,
): Promise<GitStatusSummary | undefined> => {
  for (const location of locations) {
    try {
      const dir = await resolveInside(contentDir, location, "checkoutLocation");
      if (!(await stat(join(dir, ".git")).catch(() => undefined))) continue;
      const status = await git.status(dir, { maxListed });
      if (status) return status;
    } catch (err) {
      onError(location, err);
    }
  }
  return undefined;
};
