import { mkdir, rm } from "node:fs/promises";
import * as path from "node:path";
import type { ConnectRouter, Interceptor } from "@connectrpc/connect";
import type { DaemonMetrics, Logger } from "../observability/index.js";
import { createInFlightLimit } from "./in-flight-limit.js";
import { createObservabilityInterceptor } from "./interceptors.js";
import { type RpcServer, startRpcServer } from "./rpc-server.js";
import type { TransportLimits } from "./transport-limits.js";

export interface WorkspaceSocketsOptions {
  workingArea: string;
  logger: Logger;
  metrics: DaemonMetrics;
  /** The in-workspace API of one workspace: its services, bound to that workspace. */
  routesFor(workspaceId: string): (router: ConnectRouter) => void;
  /** Run inside the observability interceptor (e.g. the RPC layer's error mapping). */
  interceptors?: Interceptor[];
  /** Limits of each socket's server (maxConnections is per socket); the transport's defaults when unset. */
  limits?: TransportLimits;
  /** Calls running at once on one socket; unlimited when unset. */
  maxInFlightCalls?: number;
  onLimitExceeded?: (limit: keyof TransportLimits | "maxInFlightCalls") => void;
}

/**
 * One in-workspace API server per workspace on `<area>/.sockets/<id>/daemon.sock`, the directory
 * meant to be mounted into the workspace container. The socket a call arrives on is the
 * caller's identity: each server only ever acts on its own workspace.
 */
export class WorkspaceSockets {
  private readonly servers = new Map<string, Promise<RpcServer>>();
  /** Removals in progress: a server for the same id starts only after its old one is gone. */
  private readonly removals = new Map<string, Promise<void>>();

  constructor(private readonly options: WorkspaceSocketsOptions) {}

  /**
   * `<area>/.sockets/<id>`: dot-names in the working area are reserved for the daemon (ids cannot
   * start with a dot), so no workspace's content folder can ever be another's socket folder.
   */
  socketDir(workspaceId: string): string {
    return path.join(this.options.workingArea, ".sockets", workspaceId);
  }

  socketPath(workspaceId: string): string {
    return path.join(this.socketDir(workspaceId), "daemon.sock");
  }

  /** Starts the workspace's server unless it runs; a stale socket file from a previous process is replaced. */
  ensure(workspaceId: string): Promise<RpcServer> {
    let server = this.servers.get(workspaceId);
    if (!server) {
      // a workspace disposed and initialized again at once: the old socket's removal must not
      // delete the new one
      const removal = this.removals.get(workspaceId);
      server = removal
        ? removal.catch(() => {}).then(() => this.start(workspaceId))
        : this.start(workspaceId);
      this.servers.set(workspaceId, server);
      const started = server;
      // only its own entry: a replacement may already stand there
      started.catch(() => {
        if (this.servers.get(workspaceId) === started) this.servers.delete(workspaceId);
      });
    }
    return server;
  }

  private async start(workspaceId: string): Promise<RpcServer> {
    const dir = this.socketDir(workspaceId);
    await mkdir(dir, { recursive: true, mode: 0o755 });
    const server = await startRpcServer({
      listen: { socketPath: this.socketPath(workspaceId) },
      interceptors: [
        createObservabilityInterceptor({
          logger: this.options.logger.child({ iws: true }),
          metrics: this.options.metrics,
          workspaceId,
        }),
        ...(this.options.maxInFlightCalls !== undefined
          ? [
              createInFlightLimit(this.options.maxInFlightCalls, () =>
                this.options.onLimitExceeded?.("maxInFlightCalls"),
              ),
            ]
          : []),
        ...(this.options.interceptors ?? []),
      ],
      routes: this.options.routesFor(workspaceId),
      limits: this.options.limits,
      onLimitExceeded: this.options.onLimitExceeded,
    });
    this.options.logger.debug(
      { workspaceId, socket: server.address },
      "in-workspace API listening",
    );
    return server;
  }

  /** Stops the workspace's server and removes its socket directory. */
  async remove(workspaceId: string): Promise<void> {
    const server = this.servers.get(workspaceId);
    this.servers.delete(workspaceId);
    const previous = this.removals.get(workspaceId);
    const removal = (async () => {
      await previous?.catch(() => {});
      if (server) await (await server.catch(() => undefined))?.close(1000);
      await rm(this.socketDir(workspaceId), { recursive: true, force: true });
    })();
    this.removals.set(workspaceId, removal);
    try {
      await removal;
    } finally {
      if (this.removals.get(workspaceId) === removal) this.removals.delete(workspaceId);
    }
  }

  /** Closes every server; socket directories stay for the next daemon process. */
  async closeAll(graceMs: number): Promise<void> {
    const all = [...this.servers.values()];
    this.servers.clear();
    await Promise.all(all.map(async (s) => (await s.catch(() => undefined))?.close(graceMs)));
  }
}
