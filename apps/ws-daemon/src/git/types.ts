/** How the daemon authenticates to the origin remote (mirrors GitAuthMethod of initializer.proto). */
export type GitAuth =
  | { kind: "none" }
  | { kind: "basic"; user: string; password: string }
  /** A one-time URL that answers a single GET with `<user>:<password>`. */
  | { kind: "basic-ots"; otsUrl: string };

/** Mirrors CloneTargetMode of initializer.proto. */
export type CloneTargetMode = "remote-head" | "remote-commit" | "remote-branch" | "local-branch";

export interface GitCheckoutSpec {
  remoteUri: string;
  /** Added as remote `upstream` (the parent of a fork). */
  upstreamRemoteUri?: string;
  targetMode: CloneTargetMode;
  /** Branch name (remote-branch, local-branch) or full commit id (remote-commit); ignored for remote-head. */
  cloneTarget: string;
  /** Absolute path, already confined to the workspace by the caller. */
  checkoutDir: string;
  customConfig: Record<string, string>;
  auth: GitAuth;
  /** Full history instead of the default depth-1 clone. */
  fullClone: boolean;
}

export interface CloneResult {
  durationMs: number;
  /** Apparent size of everything under checkoutDir (work tree and .git) after the clone. */
  bytes: number;
  /** Number of regular files under checkoutDir, including those in .git. */
  files: number;
}

export interface BringToTargetResult {
  durationMs: number;
  /** Commit checked out before and after; "" when there was none. */
  commitBefore: string;
  commitAfter: string;
  commitChanged: boolean;
  /** Local modifications were stashed and re-applied. */
  restoredLocalChanges: boolean;
  /**
   * Re-applying the local modifications conflicted: the work tree was reset to the target and the
   * modifications remain available as the newest `git stash` entry (never silently dropped).
   */
  localChangesLeftInStash: boolean;
}

/** Default cap of each list in a GitStatusSummary; the totals always hold the full counts. */
export const DEFAULT_STATUS_MAX_LISTED = 100;

export interface GitStatusSummary {
  /** Current branch, the unborn branch of an empty repository, or "(detached)" for a detached HEAD. */
  branch: string;
  /** Full id of HEAD; "" when the repository has no commit yet. */
  latestCommit: string;
  /** Paths (exact, relative to the checkout) with staged, unstaged or conflicting changes. */
  uncommittedFiles: string[];
  untrackedFiles: string[];
  /** `<short id>: <subject>` of commits reachable from HEAD or a local branch but from no remote-tracking branch. */
  unpushedCommits: string[];
  totalUncommittedFiles: number;
  totalUntrackedFiles: number;
  totalUnpushedCommits: number;
}

export interface GitStatusOptions {
  /** Cap of each list; default DEFAULT_STATUS_MAX_LISTED. */
  maxListed?: number;
  signal?: AbortSignal;
}
