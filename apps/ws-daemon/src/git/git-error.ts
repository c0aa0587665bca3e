import { DomainError, type StatusKind } from "../platform/index.js";

/**
 * Why a git operation failed, as far as git's output tells:
 * auth: credentials missing, rejected or unobtainable (one-time secret)
 * not-found: the repository does not exist
 * target: the repository exists but the branch or commit to check out does not
 * invalid-argument: the spec itself is malformed
 * network-policy: git tried to reach a host the network policy did not admit
 * other: anything else (network, disk, git bugs)
 */
export type GitFailureReason =
  | "auth"
  | "not-found"
  | "target"
  | "invalid-argument"
  | "network-policy"
  | "other";

const kindOfReason: Record<GitFailureReason, StatusKind> = {
  auth: "unauthenticated",
  "not-found": "not-found",
  target: "failed-precondition",
  "invalid-argument": "invalid-argument",
  "network-policy": "permission-denied",
  other: "internal",
};

export class GitError extends DomainError {
  override name = "GitError";
  constructor(
    readonly reason: GitFailureReason,
    message: string,
    /** Redacted stderr of the failing git command, when there was one. */
    readonly detail?: string,
  ) {
    super(kindOfReason[reason], message);
  }
}

// Ordered: the first matching rule wins, and auth must win over "not found" because some servers
// answer 404 instead of 401 for private repositories only after authentication failed.
const RULES: ReadonlyArray<{ reason: GitFailureReason; pattern: RegExp }> = [
  // the proxy that git-network.ts sends every host to that the policy did not admit
  { reason: "network-policy", pattern: /refused-by-ws-daemon-network-policy\.invalid/ },
  {
    reason: "auth",
    pattern:
      /Authentication failed|could not read (Username|Password)|terminal prompts disabled|Access denied|Permission denied \(publickey|returned error: 40[13]\b|Invalid username or password|HTTP Basic/i,
  },
  {
    reason: "not-found",
    pattern:
      /Repository not found|repository '.*' not found|does not appear to be a git repository|returned error: 404\b|No such device or address|not a git repository/i,
  },
  {
    reason: "target",
    pattern:
      /Remote branch .* not found|couldn't find remote ref|not our ref|reference is not a tree|unknown revision|did not match any file|invalid reference|unadvertised object|no such commit|bad object/i,
  },
];

/** Classifies a failed git command by its stderr; the text must already be redacted. */
export const classifyGitFailure = (stderr: string): GitFailureReason => {
  for (const rule of RULES) if (rule.pattern.test(stderr)) return rule.reason;
  return "other";
};

/**
 * Removes secrets from text meant for errors and logs: the password part of any URL userinfo,
 * and every given secret value wherever it appears (including its percent-encoded form).
 */
export const redact = (text: string, secrets: readonly string[] = []): string => {
  let out = text.replace(/([a-z][a-z0-9+.-]*:\/\/)([^/@\s:]*):[^/@\s]*@/gi, "$1$2:***@");
  for (const secret of secrets) {
    if (secret.length < 3) continue; // masking "a" everywhere would garble messages without protecting anything
    for (const form of new Set([secret, encodeURIComponent(secret)])) {
      out = out.split(form).join("***");
    }
  }
  return out;
};

const TRANSIENT =
  /returned error: 5\d\d|HTTP 5\d\d|Could not resolve host|Connection refused|Connection reset|Connection timed out|Operation timed out|early EOF|RPC failed|remote end hung up unexpectedly/i;

/** Whether a failure (kind "other") is worth retrying: the network or the server, not the request. */
export const isTransientGitFailure = (stderr: string): boolean => TRANSIENT.test(stderr);

/** Last few non-empty lines of git's stderr: the useful part, bounded so errors stay readable. */
export const summarizeStderr = (stderr: string, maxLines = 6): string =>
  stderr
    .split(/\r?\n|\r/)
    .map((l) => l.trim())
    .filter(
      (l) =>
        l.length > 0 &&
        !/^(remote: )?(Counting|Compressing|Receiving|Resolving|Enumerating|Total) /.test(l),
    )
    .slice(-maxLines)
    .join("; ");
