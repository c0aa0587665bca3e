import { type Clock, PROC, systemClock } from "../platform/index.js";
import {
  describeRootProcess,
  type RuntimeDiscovery,
  type WorkspaceContainer,
  WorkspaceContainerNotFound,
} from "./runtime-discovery.js";
import { waitForContainer } from "./wait-for-container.js";

export interface ProcessRuntimeOptions {
  procRoot?: string;
  /** A workspace not registered yet is waited for this long at most; default 0 (no waiting). */
  waitForContainerMs?: number;
  pollIntervalMs?: number;
  clock?: Clock;
}

/**
 * For bare hosts and tests: a workspace is a process tree whose root pid is registered explicitly
 * (from config or an admin call). Nothing is started or watched; a dead root is "not found".
 */
export class ProcessRuntime implements RuntimeDiscovery {
  private readonly roots = new Map<string, number>();

  private readonly procRoot: string;

  constructor(private readonly options: ProcessRuntimeOptions = {}) {
    this.procRoot = options.procRoot ?? PROC;
  }

  register(workspaceId: string, rootPid: number): void {
    if (!Number.isSafeInteger(rootPid) || rootPid <= 1) {
      // host pid 1 would make every process on the machine "part of the workspace"
      throw new RangeError(`refusing ${rootPid} as a workspace root pid`);
    }
    this.roots.set(workspaceId, rootPid);
  }

  unregister(workspaceId: string): void {
    this.roots.delete(workspaceId);
  }

  findWorkspaceContainer(workspaceId: string, signal?: AbortSignal): Promise<WorkspaceContainer> {
    return waitForContainer(() => this.lookOnce(workspaceId), {
      maxWaitMs: this.options.waitForContainerMs ?? 0,
      pollIntervalMs: this.options.pollIntervalMs ?? 200,
      clock: this.options.clock ?? systemClock,
      signal,
    });
  }

  private async lookOnce(workspaceId: string): Promise<WorkspaceContainer> {
    const pid = this.roots.get(workspaceId);
    if (pid === undefined)
      throw new WorkspaceContainerNotFound(
        `no root process registered for workspace ${workspaceId}`,
      );
    return describeRootProcess(workspaceId, pid, undefined, this.procRoot);
  }

  /** Nothing to reach: the registrations are in memory. */
  async checkReachable(): Promise<void> {}

  close(): void {}
}
