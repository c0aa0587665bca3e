import type { DaemonConfig } from "../config/index.js";
import { type AllowedHostRange, toAllowedRange, workspaceContentOwner } from "../linux/index.js";

/** idMapping's ranges; the older one-range form (hostRangeStart/End) replaces the list. */
export function allowedHostRanges(idMapping: DaemonConfig["idMapping"]): AllowedHostRange[] {
  if (idMapping.hostRangeStart !== undefined && idMapping.hostRangeEnd !== undefined) {
    return [{ start: idMapping.hostRangeStart, end: idMapping.hostRangeEnd }];
  }
  return idMapping.allowedHostRanges.map(toAllowedRange);
}

/**
 * Who owns workspace content on the host: content.uid/gid, or with content.userNamespaced (default:
 * compat.gitpod) the ids they have inside workspacekit's user namespace (33333 -> 133332).
 */
export function contentHostOwner(config: DaemonConfig): { uid: number; gid: number } {
  const userNamespaced = config.content.userNamespaced ?? config.compat.gitpod;
  return workspaceContentOwner(config.content, userNamespaced);
}
