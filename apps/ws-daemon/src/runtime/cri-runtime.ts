import {
  type Container,
  ContainerState,
  type PodSandbox,
  PodSandboxState,
} from "../gen/cri/runtime/v1/api_pb.js";
import { type Clock, PROC, systemClock } from "../platform/index.js";
import { currentCallSignal } from "./call-scope.js";
import {
  type CriConnection,
  CriProtocolError,
  CriUnavailableError,
  connectCri,
  criFailure,
  isCriNotFound,
} from "./cri-client.js";
import { pidFromVerboseStatus } from "./cri-container-info.js";
import {
  describeRootProcess,
  type RuntimeDiscovery,
  type WorkspaceContainer,
  WorkspaceContainerNotFound,
} from "./runtime-discovery.js";

export interface CriRuntimeOptions {
  /** The CRI runtime's socket (containerd: /run/containerd/containerd.sock). */
  socketPath: string;
  /** Pod label whose value is the workspace id; kubelet copies pod labels onto the sandbox. */
  podLabel?: string;
  /** Name of the workspace's container in the pod spec. */
  containerName?: string;
  /** Longest wait for a container that is not running yet, when the call sets no deadline. */
  maxWaitMs?: number;
  /** Pause between two looks while waiting. */
  pollIntervalMs?: number;
  /** Deadline of each CRI call. */
  callTimeoutMs?: number;
  procRoot?: string;
  clock?: Clock;
  /** For tests: an existing connection instead of one to socketPath. */
  connection?: CriConnection;
}

export const CRI_DEFAULTS = {
  podLabel: "ws-daemon.io/workspace-id",
  containerName: "workspace",
  maxWaitMs: 30_000,
  pollIntervalMs: 500,
  callTimeoutMs: 5_000,
} as const;

/** One look: the container, or why it cannot be used yet. */
type Look = { container: WorkspaceContainer } | { notYet: string };

/**
 * Finds a workspace's container through CRI v1, the way the node's kubelet sees it: the ready
 * pod sandbox labelled `<podLabel>=<workspace id>`, its running container named
 * `<containerName>`, and that container's host pid from the verbose ContainerStatus. A
 * container that is not there yet (pod still starting, image still unpacking) is waited for,
 * polling, until the call's deadline or `maxWaitMs`: containerd 1.6 has no
 * GetContainerEvents, and a look costs three small calls on a local socket.
 */
export class CriRuntime implements RuntimeDiscovery {
  private readonly connection: CriConnection;
  private readonly podLabel: string;
  private readonly containerName: string;
  private readonly maxWaitMs: number;
  private readonly pollIntervalMs: number;
  private readonly callTimeoutMs: number;
  private readonly clock: Clock;

  constructor(private readonly options: CriRuntimeOptions) {
    this.connection =
      options.connection ??
      connectCri({
        socketPath: options.socketPath,
        timeoutMs: options.callTimeoutMs ?? CRI_DEFAULTS.callTimeoutMs,
      });
    this.podLabel = options.podLabel ?? CRI_DEFAULTS.podLabel;
    this.containerName = options.containerName ?? CRI_DEFAULTS.containerName;
    this.maxWaitMs = options.maxWaitMs ?? CRI_DEFAULTS.maxWaitMs;
    this.pollIntervalMs = options.pollIntervalMs ?? CRI_DEFAULTS.pollIntervalMs;
    this.callTimeoutMs = options.callTimeoutMs ?? CRI_DEFAULTS.callTimeoutMs;
    this.clock = options.clock ?? systemClock;
  }

  async findWorkspaceContainer(
    workspaceId: string,
    signal?: AbortSignal,
  ): Promise<WorkspaceContainer> {
    const caller = signal ?? currentCallSignal();
    const started = this.clock.now();
    const deadline = started + this.maxWaitMs;
    let reason = "not looked up yet";
    let looks = 0;
    const giveUp = () => {
      const waited = looks > 1 ? ` (waited ${this.clock.now() - started} ms)` : "";
      return new WorkspaceContainerNotFound(`workspace ${workspaceId}: ${reason}${waited}`);
    };
    // Always one complete look, however short the wait: a running container is found at once.
    for (;;) {
      let look: Look;
      looks++;
      try {
        look = await this.look(workspaceId, caller);
      } catch (err) {
        // The caller's deadline ran out in the middle of a look: the same answer as between looks.
        if (caller?.aborted && !(err instanceof CriUnavailableError)) throw giveUp();
        throw err;
      }
      if ("container" in look) return look.container;
      reason = look.notYet;
      const remaining = deadline - this.clock.now();
      if (remaining <= 0 || caller?.aborted) throw giveUp();
      try {
        await this.clock.sleep(Math.min(this.pollIntervalMs, remaining), caller);
      } catch {
        throw giveUp();
      }
    }
  }

  async checkReachable(signal?: AbortSignal): Promise<void> {
    await this.call("Version", (o) => this.connection.client.version({ version: "v1" }, o), signal);
  }

  close(): void {
    this.connection.close();
  }

  private async look(workspaceId: string, signal: AbortSignal | undefined): Promise<Look> {
    const selector = `${this.podLabel}=${workspaceId}`;
    const { items } = await this.call(
      "ListPodSandbox",
      (o) =>
        this.connection.client.listPodSandbox(
          {
            filter: {
              labelSelector: { [this.podLabel]: workspaceId },
              state: { state: PodSandboxState.SANDBOX_READY },
            },
          },
          o,
        ),
      signal,
    );
    // The runtime filters already; checking again costs nothing and guards a runtime that
    // ignores a filter (that would hand us another tenant's container).
    const sandboxes = items.filter(
      (s) => s.labels[this.podLabel] === workspaceId && s.state === PodSandboxState.SANDBOX_READY,
    );
    if (sandboxes.length === 0) return { notYet: `no ready pod sandbox labelled ${selector}` };
    if (sandboxes.length > 1) {
      throw new CriProtocolError(
        `${sandboxes.length} ready pod sandboxes are labelled ${selector} (${sandboxes
          .map(podName)
          .join(", ")}): refusing to guess`,
      );
    }
    const sandbox = sandboxes[0] as PodSandbox;
    const { containers } = await this.call(
      "ListContainers",
      (o) => this.connection.client.listContainers({ filter: { podSandboxId: sandbox.id } }, o),
      signal,
    );
    const named = containers.filter(
      (c) => c.podSandboxId === sandbox.id && c.metadata?.name === this.containerName,
    );
    const running = named.filter((c) => c.state === ContainerState.CONTAINER_RUNNING);
    if (running.length === 0) {
      return {
        notYet: `pod ${podName(sandbox)} has no running container "${this.containerName}"${describeStates(named)}`,
      };
    }
    if (running.length > 1) {
      throw new CriProtocolError(
        `pod ${podName(sandbox)} runs ${running.length} containers named "${this.containerName}"`,
      );
    }
    const container = running[0] as Container;
    return this.describe(workspaceId, container, sandbox, signal);
  }

  private async describe(
    workspaceId: string,
    container: Container,
    sandbox: PodSandbox,
    signal: AbortSignal | undefined,
  ): Promise<Look> {
    let pid: number;
    try {
      const status = await this.call(
        "ContainerStatus",
        (o) =>
          this.connection.client.containerStatus({ containerId: container.id, verbose: true }, o),
        signal,
      );
      if (status.status?.state !== ContainerState.CONTAINER_RUNNING) {
        return { notYet: `container ${container.id} of pod ${podName(sandbox)} stopped` };
      }
      pid = pidFromVerboseStatus(status, container.id);
    } catch (err) {
      // Removed between the listing and the status: the next look sees what replaced it.
      if (isCriNotFound(err)) return { notYet: `container ${container.id} went away` };
      throw err;
    }
    if (pid === 0) return { notYet: `container ${container.id} has no running task yet` };
    try {
      return {
        container: await describeRootProcess(
          workspaceId,
          pid,
          container.id,
          this.options.procRoot ?? PROC,
        ),
      };
    } catch (err) {
      if (err instanceof WorkspaceContainerNotFound) return { notYet: err.message };
      throw err;
    }
  }

  /** One CRI call with its own deadline inside the caller's; failures in the daemon's terms. */
  private async call<T>(
    method: string,
    run: (options: { signal?: AbortSignal; timeoutMs: number }) => Promise<T>,
    signal: AbortSignal | undefined,
  ): Promise<T> {
    try {
      return await run(
        signal ? { signal, timeoutMs: this.callTimeoutMs } : { timeoutMs: this.callTimeoutMs },
      );
    } catch (err) {
      throw criFailure(err, this.options.socketPath, method);
    }
  }
}

const podName = (s: PodSandbox): string =>
  s.metadata ? `${s.metadata.namespace}/${s.metadata.name}` : s.id;

function describeStates(containers: readonly Container[]): string {
  if (containers.length === 0) return " (not created yet)";
  const states = containers.map((c) => ContainerState[c.state] ?? String(c.state));
  return ` (${states.join(", ")})`;
}
