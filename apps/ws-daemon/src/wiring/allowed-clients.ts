import { Health, ServerReflection, WorkspaceContentService } from "@ws-daemon/api";
import type { DaemonConfig } from "../config/index.js";

/** `auth.allowedClients` keyed by the node API service each list guards. */
export function allowedClientsByService(
  auth: DaemonConfig["auth"],
): ReadonlyMap<string, readonly string[]> {
  const byService = new Map<string, readonly string[]>();
  const { content, health, reflection } = auth.allowedClients;
  if (content) byService.set(WorkspaceContentService.typeName, content);
  if (health) byService.set(Health.typeName, health);
  if (reflection) byService.set(ServerReflection.typeName, reflection);
  return byService;
}
