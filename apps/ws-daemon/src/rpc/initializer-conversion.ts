import {
  CloneTargetMode,
  GitAuthMethod,
  type GitInitializer,
  type WorkspaceInitializer,
} from "@ws-daemon/api";
import type { GitInitializerSpec, InitializerSpec } from "../content/index.js";
import { ContentError } from "../content/index.js";
import type { CloneTargetMode as DomainTargetMode, GitAuth } from "../git/index.js";

const targetModes: Record<CloneTargetMode, DomainTargetMode> = {
  [CloneTargetMode.REMOTE_HEAD]: "remote-head",
  [CloneTargetMode.REMOTE_COMMIT]: "remote-commit",
  [CloneTargetMode.REMOTE_BRANCH]: "remote-branch",
  [CloneTargetMode.LOCAL_BRANCH]: "local-branch",
};

const invalid = (message: string) => new ContentError("invalid-argument", message);

function gitAuth(git: GitInitializer, where: string): GitAuth {
  const config = git.config;
  switch (config?.authentication ?? GitAuthMethod.NO_AUTH) {
    case GitAuthMethod.NO_AUTH:
      return { kind: "none" };
    case GitAuthMethod.BASIC_AUTH:
      if (!config?.authUser) throw invalid(`${where}.config.auth_user is required for BASIC_AUTH`);
      return { kind: "basic", user: config.authUser, password: config.authPassword };
    case GitAuthMethod.BASIC_AUTH_OTS:
      if (!config?.authOts)
        throw invalid(`${where}.config.auth_ots is required for BASIC_AUTH_OTS`);
      return { kind: "basic-ots", otsUrl: config.authOts };
    default:
      throw invalid(
        `${where}.config.authentication has an unknown value ${config?.authentication}`,
      );
  }
}

function gitSpec(git: GitInitializer, where: string): GitInitializerSpec {
  const targetMode = targetModes[git.targetMode];
  if (targetMode === undefined)
    throw invalid(`${where}.target_mode has an unknown value ${git.targetMode}`);
  if (git.remoteUri === "") throw invalid(`${where}.remote_uri is required`);
  return {
    remoteUri: git.remoteUri,
    ...(git.upstreamRemoteUri !== "" ? { upstreamRemoteUri: git.upstreamRemoteUri } : {}),
    targetMode,
    cloneTarget: git.cloneTarget,
    checkoutLocation: git.checkoutLocation,
    customConfig: { ...(git.config?.customConfig ?? {}) },
    auth: gitAuth(git, where),
    fullClone: git.fullClone,
  };
}

/** The wire initializer as the content module's plain type; `where` names the field in errors. */
export function toInitializerSpec(
  init: WorkspaceInitializer,
  where = "initializer",
): InitializerSpec {
  const spec = init.spec;
  switch (spec.case) {
    case "empty":
      return { kind: "empty" };
    case "git":
      return { kind: "git", ...gitSpec(spec.value, `${where}.git`) };
    case "snapshot":
      return {
        kind: "snapshot",
        snapshot: spec.value.snapshot,
        fromVolumeSnapshot: spec.value.fromVolumeSnapshot,
      };
    case "prebuild":
      return {
        kind: "prebuild",
        ...(spec.value.prebuild ? { snapshot: { snapshot: spec.value.prebuild.snapshot } } : {}),
        git: spec.value.git.map((g, i) => gitSpec(g, `${where}.prebuild.git[${i}]`)),
      };
    case "composite":
      return {
        kind: "composite",
        initializers: spec.value.initializer.map((c, i) =>
          toInitializerSpec(c, `${where}.composite.initializer[${i}]`),
        ),
      };
    case "download":
      return {
        kind: "download",
        targetLocation: spec.value.targetLocation,
        files: spec.value.files.map((f) => ({
          url: f.url,
          filePath: f.filePath,
          digest: f.digest,
        })),
      };
    case "backup":
      return {
        kind: "backup",
        checkoutLocation: spec.value.checkoutLocation,
        fromVolumeSnapshot: spec.value.fromVolumeSnapshot,
      };
    default:
      throw invalid(`${where} has no initializer set`);
  }
}
