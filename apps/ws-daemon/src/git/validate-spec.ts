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
 * Config keys that make git run a program, fetch other files or weaken transport checks. The clone
 * runs as the daemon's user, so a caller must not be able to turn custom_config into code execution
 * or credential exfiltration on the node.
 */
const FORBIDDEN_CONFIG_KEY =
  /^(core\.(fsmonitor|sshcommand|hookspath|pager|editor|askpass|gitproxy|alternaterefscommand)|credential\..*|include\..*|includeif\..*|protocol\..*|url\..*\.(insteadof|pushinsteadof)|filter\..*|diff\..*\.(textconv|command)|diff\.external|merge\..*\.driver|gpg\..*|sequence\.editor|uploadpack\..*|receive\..*|http\..*(sslverify|proxy|cookiefile|sslcainfo|sslcapath)|remote\..*\.(uploadpack|receivepack|proxy|vcs))$/i;

// section[.subsection].name, as git config accepts it (subsection may contain anything but NUL/LF).
const CONFIG_KEY = /^[A-Za-z][A-Za-z0-9-]*(\.[^\n\0]+)?\.[A-Za-z][A-Za-z0-9-]*$/;

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

export const validateConfigEntry = (key: string, value: string): void => {
  if (!CONFIG_KEY.test(key))
    throw invalid(`custom config key '${key}' is not a valid git config key`);
  if (FORBIDDEN_CONFIG_KEY.test(key)) {
    throw invalid(
      `custom config key '${key}' is not allowed (it could run programs or leak credentials)`,
    );
  }
  if (value.includes("\0") || value.includes("\n")) {
    throw invalid(`custom config value of '${key}' contains NUL or newline`);
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
