import { isAbsolute } from "node:path";
import { GitError } from "./git-error.js";
import type { CloneTargetMode, GitCheckoutSpec } from "./types.js";

export const DEFAULT_ALLOWED_SCHEMES: readonly string[] = ["https", "http", "ssh", "git", "file"];

const TARGET_MODES: readonly CloneTargetMode[] = [
  "remote-head",
  "remote-commit",
  "remote-branch",
  "local-branch",
];

/**
 * The custom_config keys a workspace may set at clone time (lower case; git compares section and
 * name case-insensitively; none has a subsection). An allow-list, not a deny-list: git has too
 * many keys that run programs, read files or redirect remotes to enumerate them safely. These
 * only shape the checkout itself (line endings, file modes, links, case, long paths), the
 * user's own later pulls and pushes, the commit identity, and one transfer size; none names a
 * program, a file, a directory, a URL or another repository. proto/README.md lists them.
 */
export const ALLOWED_CONFIG_KEYS: readonly string[] = [
  "core.autocrlf",
  "core.eol",
  "core.safecrlf",
  "core.filemode",
  "core.symlinks",
  "core.ignorecase",
  "core.longpaths",
  "core.quotepath",
  "pull.rebase",
  "pull.ff",
  "fetch.prune",
  "push.default",
  "push.autosetupremote",
  "rebase.autostash",
  "init.defaultbranch",
  "user.name",
  "user.email",
  "http.postbuffer",
];

const FULL_COMMIT = /^([0-9a-f]{40}|[0-9a-f]{64})$/;

const invalid = (message: string) => new GitError("invalid-argument", message);

// A loop, not a regex: the linter (rightly) flags control characters in regex literals.
const hasControlChars = (s: string) => {
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if (c < 0x20 || c === 0x7f) return true;
  }
  return false;
};

/**
 * Checks a remote URI: allowed scheme, no git option or transport injection (`-...`, `ext::`),
 * no credentials embedded (they would be written to .git/config).
 */
export const validateRemoteUri = (
  uri: string,
  allowedSchemes: readonly string[],
  field = "remote URI",
): void => {
  if (uri.length === 0) throw invalid(`${field} is empty`);
  if (uri.startsWith("-")) throw invalid(`${field} must not start with '-'`);
  if (hasControlChars(uri)) throw invalid(`${field} contains control characters`);
  const scheme = /^([A-Za-z][A-Za-z0-9+.-]*):\/\//.exec(uri)?.[1]?.toLowerCase();
  if (scheme !== undefined) {
    if (!allowedSchemes.includes(scheme)) {
      throw invalid(
        `${field} scheme '${scheme}' is not allowed (allowed: ${allowedSchemes.join(", ")})`,
      );
    }
    let parsed: URL;
    try {
      parsed = new URL(uri);
    } catch {
      throw invalid(`${field} is not a valid URL`);
    }
    if (parsed.password !== "") {
      throw invalid(`${field} must not contain a password; use the authentication fields`);
    }
    return;
  }
  // `<transport>::<address>` runs a remote helper (ext:: runs a shell command): never allowed.
  if (/^[A-Za-z0-9+.-]+::/.test(uri)) throw invalid(`${field} uses a remote-helper transport`);
  // scp-like ssh syntax `[user@]host:path`
  if (/^([A-Za-z0-9._~-]+@)?[A-Za-z0-9.-]+:[^:]/.test(uri) && !uri.includes("\\")) {
    if (!allowedSchemes.includes("ssh")) throw invalid(`${field} scheme 'ssh' is not allowed`);
    return;
  }
  throw invalid(`${field} must be a URL with one of the schemes ${allowedSchemes.join(", ")}`);
};

/**
 * One custom_config entry. Each check has its own message, so that a test can prove each one on
 * its own. A key with "=" would be split by `git clone --config key=value` at the first "=" (the
 * rest becoming the value of another key).
 */
export const validateConfigEntry = (key: string, value: string): void => {
  if (hasControlChars(key)) throw invalid("custom config key contains control characters");
  if (key.includes("=")) throw invalid(`custom config key '${key}' contains '='`);
  if (!ALLOWED_CONFIG_KEYS.includes(key.toLowerCase())) {
    throw invalid(
      `custom config key '${key}' is not allowed (allowed: ${ALLOWED_CONFIG_KEYS.join(", ")})`,
    );
  }
  // NUL would cut the value, a newline would start a new line of .git/config
  if (hasControlChars(value)) {
    throw invalid(
      `custom config value of '${key}' contains control characters (NUL, newline, ...)`,
    );
  }
};

/** Normalizes a commit id (lower case) or throws: only full ids can be fetched from a server. */
export const normalizeCommitId = (target: string): string => {
  const id = target.trim().toLowerCase();
  if (!FULL_COMMIT.test(id)) throw invalid(`clone target '${target}' is not a full commit id`);
  return id;
};

/** Checks everything that needs no git process; branch names are checked by GitClient with git itself. */
export const validateCheckoutSpec = (
  spec: GitCheckoutSpec,
  allowedSchemes: readonly string[],
): void => {
  validateRemoteUri(spec.remoteUri, allowedSchemes);
  if (spec.upstreamRemoteUri !== undefined && spec.upstreamRemoteUri !== "") {
    validateRemoteUri(spec.upstreamRemoteUri, allowedSchemes, "upstream remote URI");
  }
  if (!TARGET_MODES.includes(spec.targetMode))
    throw invalid(`unknown clone target mode '${spec.targetMode}'`);
  if (!isAbsolute(spec.checkoutDir)) throw invalid("checkout directory must be an absolute path");
  if (spec.targetMode !== "remote-head") {
    if (spec.cloneTarget === "") throw invalid(`clone target is required for ${spec.targetMode}`);
    if (spec.cloneTarget.startsWith("-")) throw invalid("clone target must not start with '-'");
    if (hasControlChars(spec.cloneTarget))
      throw invalid("clone target contains control characters");
  }
  if (spec.targetMode === "remote-commit") normalizeCommitId(spec.cloneTarget);
  for (const [key, value] of Object.entries(spec.customConfig)) validateConfigEntry(key, value);
  const auth = spec.auth;
  if (auth.kind === "basic") {
    if (auth.user === "" || auth.password === "")
      throw invalid("basic auth needs a user and a password");
    if (hasControlChars(auth.user) || hasControlChars(auth.password)) {
      throw invalid("basic auth user or password contains control characters");
    }
  } else if (auth.kind === "basic-ots") {
    let url: URL;
    try {
      url = new URL(auth.otsUrl);
    } catch {
      throw invalid("one-time secret URL is not a valid URL");
    }
    if (url.protocol !== "https:" && url.protocol !== "http:") {
      throw invalid("one-time secret URL must be http or https");
    }
  } else if (auth.kind !== "none") {
    throw invalid("unknown authentication method");
  }
};
