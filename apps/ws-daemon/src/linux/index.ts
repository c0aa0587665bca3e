/**
 * The Linux side of the in-workspace API: one WorkspaceLinux per workspace (what the RPC layer
 * calls), the namespace helper it runs through (what the composition root builds), and the types
 * that appear in their signatures.
 */

export type { EvacuationOptions, EvacuationResult } from "./cgroup-evacuate.js";
export type { CgroupLayout, CgroupVersion } from "./cgroup-layout.js";
export type { WorkspaceResources } from "./cgroup-resources.js";
export { type LinuxErrorKind, LinuxOpError } from "./errors.js";
export {
  type AllowedHostRange,
  DEFAULT_ALLOWED_HOST_RANGES,
  type HostIdRange,
  hostIdInNamespace,
  type IdMapping,
  type IdMapWriteResult,
  toAllowedRange,
  WORKSPACEKIT_ID_MAPPING,
  workspaceContentOwner,
} from "./id-mapping.js";
export type { NfsMountRequest } from "./nfs-mount.js";
export { defaultNsHelperPath, NsHelper, NsHelperError } from "./ns-helper.js";
export { type PeerCredentials, readPeerCredentials } from "./peer-credentials.js";
export type { FsShiftMethod, UserNsPreparation, UserNsPrepOptions } from "./user-ns-prep.js";
export type { VethAddresses, VethConfig } from "./veth-pair.js";
export {
  type EvacuationOutcome,
  type TeardownReport,
  WorkspaceLinux,
  type WorkspaceLinuxConfig,
  type WorkspaceLinuxDeps,
} from "./workspace-linux.js";
