import { lstat } from "node:fs/promises";
import { posix } from "node:path";
import { errnoCode, PROC } from "../platform/index.js";
import { invalidArgument } from "./errors.js";

export interface ResolvedTarget {
  /** The path as the target process sees it: absolute, normalised, no `.`/`..`. */
  inNamespace: string;
  /** The same place reached from the host through /proc/<pid>/root. */
  viaHost: string;
}

/**
 * Resolves `target` inside the mount namespace and root of `hostPid`. Refuses relative paths,
 * `..` components and symlinks anywhere on the way (a symlink could point out of the workspace's
 * root once followed by the daemon). The helper re-checks with openat2(RESOLVE_IN_ROOT |
 * RESOLVE_NO_SYMLINKS) at the moment of mounting, which closes the swap-after-check race.
 */
export async function resolveTargetPath(
  hostPid: number,
  target: string,
  opts: { mustBeDirectory?: boolean; procRoot?: string } = {},
): Promise<ResolvedTarget> {
  if (typeof target !== "string" || target.length === 0)
    throw invalidArgument("target path is empty");
  if (target.length > 4095) throw invalidArgument("target path is too long");
  if (target.includes("\0")) throw invalidArgument("target path contains a NUL byte");
  if (!target.startsWith("/"))
    throw invalidArgument(`target path ${JSON.stringify(target)} is not absolute`);
  const parts = target.split("/").filter((p) => p !== "" && p !== ".");
  if (parts.includes(".."))
    throw invalidArgument(`target path ${JSON.stringify(target)} contains ".."`);
  const root = `${opts.procRoot ?? PROC}/${hostPid}/root`;
  let current = root;
  for (const part of parts) {
    current = `${current}/${part}`;
    let st: Awaited<ReturnType<typeof lstat>>;
    try {
      st = await lstat(current);
    } catch (err) {
      const code = errnoCode(err);
      throw invalidArgument(
        `target path ${JSON.stringify(target)} does not exist in the process's root (${code})`,
      );
    }
    if (st.isSymbolicLink())
      throw invalidArgument(`target path ${JSON.stringify(target)} goes through a symlink`);
  }
  if ((opts.mustBeDirectory ?? true) && parts.length > 0) {
    const st = await lstat(current);
    if (!st.isDirectory())
      throw invalidArgument(`target path ${JSON.stringify(target)} is not a directory`);
  }
  const inNamespace = posix.join("/", ...parts);
  return { inNamespace, viaHost: parts.length ? `${root}/${parts.join("/")}` : root };
}
