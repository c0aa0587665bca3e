import * as path from "node:path";
import type { ConnectRouter, Interceptor } from "@connectrpc/connect";
import type { DaemonMetrics, Logger } from "../observability/index.js";
import { createObservabilityInterceptor } from "./interceptors.js";
import { createPeerLogInterceptor, type PeerLookup, peerContextValues } from "./peer-identity.js";
import { type RpcServer, startRpcServer } from "./rpc-server.js";
import { type SocketOwner, SocketPlacement } from "./socket-placement.js";

export interface WorkspaceSocketsOptions {
  workingArea: string;
  logger: Logger;
  metrics: DaemonMetrics;
  /**
   * The workspace's container user: the only one besides root who may enter a workspace's
   * socket directory (which is 0700 and theirs). Applied only when the daemon runs as root.
   */
  socketOwner?: SocketOwner;
  /** SO_PEERCRED of a connection, logged with each call; unset = not logged. */
  peerLookup?: PeerLookup;
  /** The in-workspace API of one workspace: its services, bound to that workspace. */
  routesFor(workspaceId: string): (router: ConnectRouter) => void;
  /** Run inside the observability interceptor (e.g. the RPC layer's error mapping). */
  interceptors?: Interceptor[];
  /** Where each socket lives (config compat.socketLayout); default "sockets-dir". */
  layout?: SocketLayout;
}

/**
 * "sockets-dir": `<area>/.sockets/<id>/daemon.sock`. "id-daemon": `<area>/<id>-daemon/daemon.sock`,
 * the directory Gitpod mounts at `/.workspace` (the content manager then refuses ids ending in
 * `-daemon`, so no content directory can be another workspace's socket directory).
 */
export type SocketLayout = "sockets-dir" | "id-daemon";

/** The suffix of socket directories in the "id-daemon" layout. */
export const ID_DAEMON_SUFFIX = "-daemon";

/**
 * One in-workspace API server per workspace on `<area>/.sockets/<id>/daemon.sock`, the directory
 * meant to be mounted into the workspace container. The socket a call arrives on is the
 * caller's identity: each server only ever acts on its own workspace.
 */
export class WorkspaceSockets {
  private readonly servers = new Map<string, Promise<RpcServer>>();
  /** Removals in progress: a server for the same id starts only after its old one is gone. */
  private readonly removals = new Map<string, Promise<void>>();

  private readonly placement: SocketPlacement;

  constructor(private readonly options: WorkspaceSocketsOptions) {
    this.placement = new SocketPlacement(path.join(options.workingArea, ".sockets"), {
      ...(options.socketOwner ? { owner: options.socketOwner } : {}),
      dirOf: (id) => this.socketDir(id),
    });
  }

  /**
   * `<area>/.sockets/<id>`: dot-names in the working area are reserved for the daemon (ids cannot
   * start with a dot), so no workspace's content folder can ever be another's socket folder.
   * `<area>/<id>-daemon` in the "id-daemon" layout (see SocketLayout).
   */
  socketDir(workspaceId: string): string {
    if (this.options.layout === "id-daemon") {
      return path.join(this.options.workingArea, `${workspaceId}${ID_DAEMON_SUFFIX}`);
    }
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
    // bound where no workspace can reach, given its final mode there, then renamed into place
    const staged = await this.placement.stagingPath(workspaceId);
    const server = await startRpcServer({
      listen: { socketPath: staged },
      ...(this.options.peerLookup
        ? { contextValues: peerContextValues(this.options.peerLookup) }
        : {}),
      interceptors: [
        createObservabilityInterceptor({
          logger: this.options.logger.child({ iws: true }),
          metrics: this.options.metrics,
          workspaceId,
        }),
        ...(this.options.peerLookup
          ? [createPeerLogInterceptor(this.options.logger.child({ iws: true }))]
          : []),
        ...(this.options.interceptors ?? []),
      ],
      routes: this.options.routesFor(workspaceId),
    });
    try {
      await this.placement.publish(staged, workspaceId, "daemon.sock");
    } catch (err) {
      await server.close(0);
      await this.placement.discard(staged);
      throw err;
    }
    this.options.logger.debug(
      { workspaceId, socket: this.socketPath(workspaceId) },
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
      // the directory is the workspace user's: never follow what it may have put there
      await this.placement
        .retire(workspaceId)
        .catch((err: unknown) =>
          this.options.logger.warn(
            { err, workspaceId },
            "socket directory not fully removed (the workspace may still write into it); left in the staging directory",
          ),
        );
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
