export { GitClient, type GitClientOptions } from "./git-client.js";
export type { FetchFn } from "./git-credentials.js";
export { classifyGitFailure, GitError, type GitFailureReason, redact } from "./git-error.js";
export { type PorcelainStatus, parsePorcelainV2 } from "./git-status.js";
export {
  type BringToTargetResult,
  type CloneResult,
  type CloneTargetMode,
  DEFAULT_STATUS_MAX_LISTED,
  type GitAuth,
  type GitCheckoutSpec,
  type GitStatusOptions,
  type GitStatusSummary,
} from "./types.js";
export {
  ALLOWED_CONFIG_KEYS,
  DEFAULT_ALLOWED_SCHEMES,
  validateCheckoutSpec,
  validateConfigEntry,
  validateRemoteUri,
} from "./validate-spec.js";
