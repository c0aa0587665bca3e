import { DomainError, namespaceInode, PROC, readProcCgroup } from "../platform/index.js";

/** What the daemon needs to know about a workspace's container to act on it. */
export interface WorkspaceContainer {
  workspaceId: string;
  /** The container's init process as a HOST pid (never host pid 1). */
  rootPid: number;
  /** The root's cgroup in the unified (v2) hierarchy, e.g. "/docker/<id>"; "" if it has none. */
  cgroupPath: string;
  /** v1 controller -> cgroup path of the root (empty on pure cgroup v2 hosts). */
  cgroupV1Paths: Record<string, string>;
  /** /proc/<rootPid>/ns/net */
  netnsPath: string;
  /** Runtime-specific container id, when the runtime has one. */
  containerId?: string;
}

/** Finds the container of a workspace through the node's container runtime. */
export interface RuntimeDiscovery {
  /**
   * Throws WorkspaceContainerNotFound when the workspace has no running container. A runtime
   * that can see a container coming (CRI) waits for it until `signal` aborts (or its own
   * bound); without a signal it uses the current RPC's (see call-scope.ts).
   */
  findWorkspaceContainer(workspaceId: string, signal?: AbortSignal): Promise<WorkspaceContainer>;
  /** Resolves when the runtime answers; throws a DomainError saying why not (readiness). */
  checkReachable(signal?: AbortSignal): Promise<void>;
  /** Releases connections; later calls may open them again. */
  close(): void;
}

export class WorkspaceContainerNotFound extends DomainError {
  override name = "WorkspaceContainerNotFound";
  constructor(message: string) {
    super("not-found", message);
  }
}

/** Fills the pid-derived fields from /proc once a runtime has told us the root pid. */
export async function describeRootProcess(
  workspaceId: string,
  rootPid: number,
  containerId?: string,
  procRoot = PROC,
): Promise<WorkspaceContainer> {
  if (!Number.isSafeInteger(rootPid) || rootPid <= 1) {
    throw new WorkspaceContainerNotFound(
      `workspace ${workspaceId}: ${rootPid} is not a usable root pid`,
    );
  }
  if ((await namespaceInode(rootPid, "net", procRoot)) === undefined) {
    throw new WorkspaceContainerNotFound(
      `workspace ${workspaceId}: root process ${rootPid} is gone`,
    );
  }
  const cg = await readProcCgroup(rootPid, procRoot);
  const result: WorkspaceContainer = {
    workspaceId,
    rootPid,
    cgroupPath: cg.unified ?? "",
    cgroupV1Paths: cg.v1,
    netnsPath: `${procRoot}/${rootPid}/ns/net`,
  };
  if (containerId !== undefined) result.containerId = containerId;
  return result;
}
