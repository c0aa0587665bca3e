import { Health } from "@ws-daemon/api";
import type { DaemonConfig } from "../config/index.js";
import { createHealthService, errorMappingInterceptor, type HealthBoard } from "../rpc/index.js";
import { type RpcServer, startRpcServer } from "../transport/index.js";

/**
 * kubelet's gRPC probes speak plaintext HTTP/2 only. When enabled, grpc.health.v1.Health alone
 * (the same board as on the node API) is served on a port of its own without TLS, so probes
 * work while the node API requires mutual TLS. Nothing else is reachable there. Calls are not
 * logged: a probe every few seconds would drown the log.
 */
export async function startHealthProbe(
  config: DaemonConfig["health"]["probe"],
  board: HealthBoard,
): Promise<RpcServer | undefined> {
  if (!config.enabled) return undefined;
  return startRpcServer({
    listen: { host: config.host, port: config.port },
    interceptors: [errorMappingInterceptor],
    routes: (router) => {
      router.service(Health, createHealthService(board));
    },
  });
}
