import { lstat } from "node:fs/promises";
import { dirname, join } from "node:path";
import { isDomainError } from "../platform/index.js";
import type { GitCommand } from "./git-command.js";
import { GitError } from "./git-error.js";
import {
  DEFAULT_STATUS_MAX_LISTED,
  type GitStatusOptions,
  type GitStatusSummary,
} from "./types.js";

export interface PorcelainStatus {
  /** branch.head: a branch name or "(detached)"; "" when git printed no header. */
  head: string;
  /** branch.oid: a commit id, or "" for "(initial)" (no commit yet). */
  oid: string;
  uncommitted: string[];
  untracked: string[];
}

/** Fixed fields before the path of each record kind of `git status --porcelain=v2`. */
const FIELDS_BEFORE_PATH: Record<string, number> = { "1": 8, "2": 9, u: 10 };

/**
 * Parses `git status --porcelain=v2 -z --branch`. With -z, paths are raw bytes (no C-quoting) and
 * NUL-terminated, so a path may contain spaces, quotes or newlines; it is everything after the
 * fixed number of space-separated fields of its record. A rename record is followed by one more
 * NUL-terminated token, the original path, which is skipped.
 */
export const parsePorcelainV2 = (output: string): PorcelainStatus => {
  const status: PorcelainStatus = { head: "", oid: "", uncommitted: [], untracked: [] };
  const tokens = output.split("\0");
  for (let i = 0; i < tokens.length; i++) {
    const record = tokens[i] ?? "";
    if (record === "") continue;
    if (record.startsWith("# ")) {
      const [, key, ...rest] = record.split(" ");
      const value = rest.join(" ");
      if (key === "branch.head") status.head = value;
      else if (key === "branch.oid") status.oid = value === "(initial)" ? "" : value;
      continue;
    }
    const kind = record.slice(0, 1);
    if (kind === "?") {
      status.untracked.push(record.slice(2));
      continue;
    }
    const fields = FIELDS_BEFORE_PATH[kind];
    if (fields === undefined) continue; // "!" (ignored) or unknown future record kinds
    let at = 0;
    for (let f = 0; f < fields && at !== -1; f++) at = record.indexOf(" ", at) + 1 || -1;
    if (at > 0) status.uncommitted.push(record.slice(at));
    if (kind === "2") i++;
  }
  return status;
};

const exists = async (path: string) => {
  try {
    await lstat(path);
    return true;
  } catch {
    return false;
  }
};

/**
 * Best-effort status for DisposeWorkspace: never throws for a repository (empty, detached,
 * corrupt); each part that git cannot answer is left empty. Returns undefined when `dir` has no
 * `.git` of its own (a parent repository is never reported).
 */
export const readGitStatus = async (
  git: GitCommand,
  dir: string,
  options: GitStatusOptions = {},
): Promise<GitStatusSummary | undefined> => {
  if (!(await exists(join(dir, ".git")))) return undefined;
  const max = Math.max(0, options.maxListed ?? DEFAULT_STATUS_MAX_LISTED);
  const common = {
    cwd: dir,
    // stops discovery at the checkout: a broken .git must not make git report a parent repository
    env: { GIT_CEILING_DIRECTORIES: dirname(dir), GIT_OPTIONAL_LOCKS: "0" },
    ...(options.signal !== undefined ? { signal: options.signal } : {}),
    maxOutputBytes: 256 * 1024 * 1024,
  };
  const run = async (args: string[]) => {
    try {
      const r = await git.run(args, common);
      return r.exitCode === 0 ? r.stdout : undefined;
    } catch (err) {
      options.signal?.throwIfAborted();
      // git could not run at all (e.g. refused unconfined as root): that is no odd repository
      if (isDomainError(err) && !(err instanceof GitError)) throw err;
      return undefined;
    }
  };

  const porcelain = await run([
    "status",
    "--porcelain=v2",
    "-z",
    "--branch",
    "--untracked-files=all",
  ]);
  const parsed = parsePorcelainV2(porcelain ?? "");
  let latestCommit = parsed.oid;
  let branch = parsed.head;
  if (porcelain === undefined) {
    latestCommit = (await run(["rev-parse", "-q", "--verify", "HEAD^{commit}"]))?.trim() ?? "";
    const symbolic = (await run(["symbolic-ref", "-q", "--short", "HEAD"]))?.trim();
    branch = symbolic ?? (latestCommit !== "" ? "(detached)" : "");
  }

  // Commits reachable from HEAD (covers a detached HEAD) or any local branch, but from no
  // remote-tracking branch: this works for branches without an upstream too.
  const revs = [...(latestCommit !== "" ? ["HEAD"] : []), "--branches", "--not", "--remotes"];
  let unpushed: string[] = [];
  let totalUnpushed = 0;
  const count = await run(["rev-list", "--count", ...revs]);
  if (count !== undefined) {
    totalUnpushed = Number.parseInt(count.trim(), 10) || 0;
    if (totalUnpushed > 0 && max > 0) {
      const log = await run(["log", "-z", `--max-count=${max}`, "--format=%h: %s", ...revs, "--"]);
      unpushed = (log ?? "").split("\0").filter((l) => l !== "");
    }
  }

  return {
    branch,
    latestCommit,
    uncommittedFiles: parsed.uncommitted.slice(0, max),
    untrackedFiles: parsed.untracked.slice(0, max),
    unpushedCommits: unpushed.slice(0, max),
    totalUncommittedFiles: parsed.uncommitted.length,
    totalUntrackedFiles: parsed.untracked.length,
    totalUnpushedCommits: totalUnpushed,
  };
};
