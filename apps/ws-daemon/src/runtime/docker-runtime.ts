import { request } from "node:http";
import { type Clock, DomainError, systemClock } from "../platform/index.js";
import {
  describeRootProcess,
  type RuntimeDiscovery,
  type WorkspaceContainer,
  WorkspaceContainerNotFound,
} from "./runtime-discovery.js";
import { waitForContainer } from "./wait-for-container.js";

export interface DockerRuntimeOptions {
  socketPath?: string;
  /** Label whose value is the workspace id. */
  labelKey?: string;
  /** Engine API version prefix, e.g. "v1.41"; unversioned when omitted. */
  apiVersion?: string;
  procRoot?: string;
  timeoutMs?: number;
  /**
   * A container that is not running yet is waited for this long at most (less at a nearer
   * deadline); default 0. The daemon's config sets 30 s (runtime.waitForContainerMs).
   */
  waitForContainerMs?: number;
  pollIntervalMs?: number;
  clock?: Clock;
}

export class DockerApiError extends DomainError {
  override name = "DockerApiError";
  constructor(message: string) {
    super("internal", message);
  }
}

interface ContainerSummary {
  Id: string;
  State?: string;
}

interface ContainerInspect {
  Id: string;
  State?: { Running?: boolean; Pid?: number };
}

/**
 * Finds a workspace's container through the Docker Engine API on its Unix socket: the running
 * container labelled `<labelKey>=<workspaceId>`, and its init pid from inspect.
 */
export class DockerRuntime implements RuntimeDiscovery {
  private readonly socketPath: string;
  private readonly labelKey: string;

  constructor(private readonly opts: DockerRuntimeOptions = {}) {
    this.socketPath = opts.socketPath ?? "/var/run/docker.sock";
    this.labelKey = opts.labelKey ?? "ws-daemon.workspace-id";
  }

  /** Waits (bounded by the call's deadline) for a container that is not running yet. */
  findWorkspaceContainer(workspaceId: string, signal?: AbortSignal): Promise<WorkspaceContainer> {
    return waitForContainer(() => this.lookOnce(workspaceId), {
      maxWaitMs: this.opts.waitForContainerMs ?? 0,
      pollIntervalMs: this.opts.pollIntervalMs ?? 500,
      clock: this.opts.clock ?? systemClock,
      signal,
    });
  }

  private async lookOnce(workspaceId: string): Promise<WorkspaceContainer> {
    const filters = JSON.stringify({
      label: [`${this.labelKey}=${workspaceId}`],
      status: ["running"],
    });
    const list = (await this.get(
      `/containers/json?filters=${encodeURIComponent(filters)}`,
    )) as ContainerSummary[];
    if (!Array.isArray(list) || list.length === 0) {
      throw new WorkspaceContainerNotFound(
        `no running container labelled ${this.labelKey}=${workspaceId}`,
      );
    }
    if (list.length > 1) {
      throw new DockerApiError(
        `${list.length} running containers are labelled ${this.labelKey}=${workspaceId}`,
      );
    }
    const id = (list[0] as ContainerSummary).Id;
    const info = (await this.get(`/containers/${encodeURIComponent(id)}/json`)) as ContainerInspect;
    const pid = info.State?.Pid ?? 0;
    if (!info.State?.Running || pid <= 0)
      throw new WorkspaceContainerNotFound(`container ${id} is not running`);
    return describeRootProcess(workspaceId, pid, id, this.opts.procRoot);
  }

  /** The Engine API's ping: "OK" when the engine answers. */
  async checkReachable(): Promise<void> {
    await this.get("/_ping", "text");
  }

  /** Each call opens its own connection: nothing stays open. */
  close(): void {}

  private get(path: string, as: "json" | "text" = "json"): Promise<unknown> {
    const prefix = this.opts.apiVersion ? `/${this.opts.apiVersion}` : "";
    return new Promise((resolve, reject) => {
      const req = request(
        {
          socketPath: this.socketPath,
          path: `${prefix}${path}`,
          method: "GET",
          headers: { Host: "docker" },
        },
        (res) => {
          const chunks: Buffer[] = [];
          res.on("data", (c: Buffer) => chunks.push(c));
          res.on("end", () => {
            const body = Buffer.concat(chunks).toString("utf8");
            if (res.statusCode === 404)
              return reject(new WorkspaceContainerNotFound(`docker: ${body.trim()}`));
            if ((res.statusCode ?? 500) >= 300) {
              return reject(
                new DockerApiError(`docker API ${path} answered ${res.statusCode}: ${body.trim()}`),
              );
            }
            if (as === "text") return resolve(body);
            try {
              resolve(JSON.parse(body));
            } catch {
              reject(new DockerApiError(`docker API ${path} returned invalid JSON`));
            }
          });
          res.on("error", reject);
        },
      );
      req.setTimeout(this.opts.timeoutMs ?? 10_000, () =>
        req.destroy(new DockerApiError(`docker API ${path} timed out`)),
      );
      req.on("error", (err) =>
        reject(
          err instanceof DockerApiError
            ? err
            : new DockerApiError(`docker API unreachable at ${this.socketPath}: ${err.message}`),
        ),
      );
      req.end();
    });
  }
}
