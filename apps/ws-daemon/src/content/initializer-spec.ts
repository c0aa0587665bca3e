import type { CloneTargetMode, GitAuth } from "../git/index.js";
import { relativePathSegments } from "../platform/index.js";
import { ContentError } from "./content-error.js";

export type { CloneTargetMode, GitAuth } from "../git/index.js";

export interface GitInitializerSpec {
  remoteUri: string;
  upstreamRemoteUri?: string;
  targetMode: CloneTargetMode;
  cloneTarget: string;
  /** Relative to the workspace root; "" means the root itself. */
  checkoutLocation: string;
  customConfig: Record<string, string>;
  auth: GitAuth;
  fullClone: boolean;
}

export interface DownloadFileSpec {
  url: string;
  /** Relative to targetLocation, including the file name. */
  filePath: string;
  /** OCI digest, only `sha256:<64 hex>` is accepted. */
  digest: string;
}

/** The plain-TS twin of contentservice.WorkspaceInitializer (the RPC layer converts). */
export type InitializerSpec =
  | { kind: "empty" }
  | ({ kind: "git" } & GitInitializerSpec)
  | { kind: "snapshot"; snapshot: string; fromVolumeSnapshot: boolean }
  | { kind: "prebuild"; snapshot?: { snapshot: string }; git: GitInitializerSpec[] }
  | { kind: "composite"; initializers: InitializerSpec[] }
  | { kind: "download"; targetLocation: string; files: DownloadFileSpec[] }
  | { kind: "backup"; checkoutLocation: string; fromVolumeSnapshot: boolean };

export type InitializerKind = InitializerSpec["kind"];

/** A secret-free description of an initializer, safe to persist and to log. */
export type InitializerSummary =
  | { kind: "empty" }
  | ({ kind: "git" } & GitSummary)
  | { kind: "snapshot"; snapshot: string }
  | { kind: "prebuild"; snapshot?: string; git: GitSummary[] }
  | { kind: "composite"; initializers: InitializerSummary[] }
  | {
      kind: "download";
      targetLocation: string;
      files: { url: string; filePath: string; digest: string }[];
    }
  | { kind: "backup"; checkoutLocation: string };

export interface GitSummary {
  remoteUri: string;
  upstreamRemoteUri?: string;
  targetMode: CloneTargetMode;
  cloneTarget: string;
  checkoutLocation: string;
  fullClone: boolean;
  authMethod: GitAuth["kind"];
}

/**
 * Drops credentials from a URL: user info (https://user:token@host) and the query string, which
 * for presigned or one-time URLs IS the credential. Non-URLs (scp-like git remotes, snapshot
 * names) lose anything after `?` only.
 */
export const redactUrl = (raw: string): string => {
  try {
    const url = new URL(raw);
    url.username = "";
    url.password = "";
    url.search = "";
    url.hash = "";
    return url.toString();
  } catch {
    const q = raw.indexOf("?");
    return q === -1 ? raw : raw.slice(0, q);
  }
};

const summarizeGit = (g: GitInitializerSpec): GitSummary => ({
  remoteUri: redactUrl(g.remoteUri),
  ...(g.upstreamRemoteUri ? { upstreamRemoteUri: redactUrl(g.upstreamRemoteUri) } : {}),
  targetMode: g.targetMode,
  cloneTarget: g.cloneTarget,
  checkoutLocation: g.checkoutLocation,
  fullClone: g.fullClone,
  authMethod: g.auth.kind,
});

export const summarizeInitializer = (spec: InitializerSpec): InitializerSummary => {
  switch (spec.kind) {
    case "empty":
      return { kind: "empty" };
    case "git":
      return { kind: "git", ...summarizeGit(spec) };
    case "snapshot":
      return { kind: "snapshot", snapshot: redactUrl(spec.snapshot) };
    case "prebuild":
      return {
        kind: "prebuild",
        ...(spec.snapshot ? { snapshot: redactUrl(spec.snapshot.snapshot) } : {}),
        git: spec.git.map(summarizeGit),
      };
    case "composite":
      return { kind: "composite", initializers: spec.initializers.map(summarizeInitializer) };
    case "download":
      return {
        kind: "download",
        targetLocation: spec.targetLocation,
        files: spec.files.map((f) => ({
          url: redactUrl(f.url),
          filePath: f.filePath,
          digest: f.digest,
        })),
      };
    case "backup":
      return { kind: "backup", checkoutLocation: spec.checkoutLocation };
  }
};

/** Checkout locations (git, prebuild git, backup) in walk order; dispose reports git status for them. */
export const checkoutLocations = (spec: InitializerSummary | InitializerSpec): string[] => {
  switch (spec.kind) {
    case "git":
    case "backup":
      return [spec.checkoutLocation];
    case "prebuild":
      return spec.git.map((g) => g.checkoutLocation);
    case "composite":
      return spec.initializers.flatMap(checkoutLocations);
    default:
      return [];
  }
};

const SHA256_DIGEST = /^sha256:[0-9a-f]{64}$/;
const CLONE_TARGET_MODES: readonly CloneTargetMode[] = [
  "remote-head",
  "remote-commit",
  "remote-branch",
  "local-branch",
];
/** Deep composites are a resource attack, not a use case. */
const MAX_DEPTH = 8;

const invalid = (field: string, message: string) =>
  new ContentError("invalid-argument", `${field}: ${message}`);

const validateHttpUrl = (raw: string, field: string): void => {
  let url: URL;
  try {
    url = new URL(raw);
  } catch {
    throw invalid(field, "is not a valid URL");
  }
  if (url.protocol !== "http:" && url.protocol !== "https:") {
    throw invalid(field, `only http and https URLs are supported, got ${url.protocol}`);
  }
};

const validateGit = (g: GitInitializerSpec, field: string): void => {
  if (!g.remoteUri) throw invalid(`${field}.remoteUri`, "is required");
  if (!CLONE_TARGET_MODES.includes(g.targetMode)) {
    throw invalid(`${field}.targetMode`, `unknown mode ${JSON.stringify(g.targetMode)}`);
  }
  if ((g.targetMode === "remote-commit" || g.targetMode === "local-branch") && !g.cloneTarget) {
    throw invalid(`${field}.cloneTarget`, `is required for target mode ${g.targetMode}`);
  }
  relativePathSegments(g.checkoutLocation, `${field}.checkoutLocation`);
  if (g.auth.kind === "basic" && !g.auth.user) throw invalid(`${field}.auth.user`, "is required");
  if (g.auth.kind === "basic-ots") validateHttpUrl(g.auth.otsUrl, `${field}.auth.otsUrl`);
};

const validateSnapshotName = (name: string, field: string): void => {
  if (!name) throw invalid(field, "is required");
  if (name.includes("\0")) throw invalid(field, "must not contain NUL bytes");
};

/**
 * Everything that can be checked without touching the disk. Symlinks are checked again when each
 * initializer runs, because earlier initializers create the content the later ones write into.
 */
export const validateInitializerSpec = (
  spec: InitializerSpec,
  field = "initializer",
  depth = 0,
): void => {
  if (depth > MAX_DEPTH) throw invalid(field, `nesting deeper than ${MAX_DEPTH} levels`);
  switch (spec.kind) {
    case "empty":
      return;
    case "git":
      validateGit(spec, `${field}.git`);
      return;
    case "snapshot":
      if (spec.fromVolumeSnapshot) {
        // Upstream treated this as a no-op, i.e. an empty workspace: that would silently lose data.
        throw invalid(`${field}.snapshot.fromVolumeSnapshot`, "volume snapshots are not supported");
      }
      validateSnapshotName(spec.snapshot, `${field}.snapshot.snapshot`);
      return;
    case "prebuild":
      if (spec.snapshot) validateSnapshotName(spec.snapshot.snapshot, `${field}.prebuild.snapshot`);
      for (const [i, g] of spec.git.entries()) validateGit(g, `${field}.prebuild.git.${i}`);
      return;
    case "composite":
      for (const [i, child] of spec.initializers.entries()) {
        validateInitializerSpec(child, `${field}.composite.${i}`, depth + 1);
      }
      return;
    case "download": {
      relativePathSegments(spec.targetLocation, `${field}.download.targetLocation`);
      spec.files.forEach((f, i) => {
        const fileField = `${field}.download.files.${i}`;
        validateHttpUrl(f.url, `${fileField}.url`);
        if (relativePathSegments(f.filePath, `${fileField}.filePath`).length === 0) {
          throw invalid(`${fileField}.filePath`, "must name a file");
        }
        if (!SHA256_DIGEST.test(f.digest)) {
          throw invalid(`${fileField}.digest`, "must be sha256:<64 lowercase hex digits>");
        }
      });
      return;
    }
    case "backup":
      if (spec.fromVolumeSnapshot) {
        throw invalid(`${field}.backup.fromVolumeSnapshot`, "volume snapshots are not supported");
      }
      relativePathSegments(spec.checkoutLocation, `${field}.backup.checkoutLocation`);
      return;
    default:
      throw invalid(
        field,
        `unknown initializer kind ${JSON.stringify((spec as { kind: unknown }).kind)}`,
      );
  }
};
