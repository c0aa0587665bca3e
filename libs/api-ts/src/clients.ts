import type { Transport } from "@connectrpc/connect";
import { createHealthClient, type HealthClient } from "./gen/grpc/health/v1/health_client.js";
import {
  createInWorkspaceServiceClient,
  createWorkspaceInfoServiceClient,
  type InWorkspaceServiceClient,
  type WorkspaceInfoServiceClient,
} from "./gen/iws/workspace_daemon_client.js";
import {
  createWorkspaceContentServiceClient,
  type WorkspaceContentServiceClient,
} from "./gen/wsdaemon/daemon_client.js";

export interface DaemonClients {
  content: WorkspaceContentServiceClient;
  health: HealthClient;
}

export interface InWorkspaceClients {
  inWorkspace: InWorkspaceServiceClient;
  workspaceInfo: WorkspaceInfoServiceClient;
}

/** Clients for the node-level API of a daemon (its TCP/TLS port). */
export function createDaemonClients(transport: Transport): DaemonClients {
  return {
    content: createWorkspaceContentServiceClient(transport),
    health: createHealthClient(transport),
  };
}

/** Clients for the in-workspace API (a workspace's `daemon.sock`). */
export function createInWorkspaceClients(transport: Transport): InWorkspaceClients {
  return {
    inWorkspace: createInWorkspaceServiceClient(transport),
    workspaceInfo: createWorkspaceInfoServiceClient(transport),
  };
}
