import * as path from "node:path";
import type { DescService } from "@bufbuild/protobuf";
import {
  Health,
  InWorkspaceService,
  ServerReflection,
  HealthCheckResponse_ServingStatus as ServingStatus,
  WorkspaceContentService,
  WorkspaceInfoService,
} from "@ws-daemon/api";
import { systemClock } from "./adapters/clock.js";
import { NodeProcessRunner } from "./adapters/process-runner.js";
import type { DaemonConfig } from "./config/config-schema.js";
import { WorkspaceContentManager } from "./content/workspace-content-manager.js";
import { GitClient } from "./git/git-client.js";
import { createContentHooks } from "./observability/content-hooks.js";
import type { Logger } from "./observability/logger.js";
import { DaemonMetrics } from "./observability/metrics.js";
import { createContentService } from "./rpc/content-service.js";
import { createContentStore } from "./storage/create-content-store.js";
import { createHealthService, HealthBoard } from "./transport/health-service.js";
import { createObservabilityInterceptor } from "./transport/interceptors.js";
import { type MetricsServer, startMetricsServer } from "./transport/metrics-server.js";
import { createReflectionService } from "./transport/reflection-service.js";
import { type RpcServer, startRpcServer } from "./transport/rpc-server.js";

export interface Daemon {
  /** The node API's address, e.g. "http://127.0.0.1:8080". */
  readonly address: string;
  readonly metricsPort: number | undefined;
  readonly manager: WorkspaceContentManager;
  /** Stop accepting calls, let running work finish within `graceMs`, persist state. */
  stop(graceMs: number): Promise<void>;
}

/** Relative paths in the config are relative to the daemon's working directory. */
const absolute = (p: string) => path.resolve(p);

/** The composition root: builds every component from the config and starts the servers. */
export async function startDaemon(config: DaemonConfig, logger: Logger): Promise<Daemon> {
  const metrics = new DaemonMetrics();
  const runner = new NodeProcessRunner();
  const storage =
    config.storage.kind === "local"
      ? { ...config.storage, root: absolute(config.storage.root) }
      : config.storage;
  const store = createContentStore(storage);
  const git = new GitClient(runner, {
    clock: systemClock,
    logger: (level, message, fields) => logger[level]({ ...fields, component: "git" }, message),
  });
  const manager = await WorkspaceContentManager.open(
    {
      workingArea: absolute(config.workingArea),
      maxConcurrentInits: config.limits.maxConcurrentInits,
      maxConcurrentArchives: config.limits.maxConcurrentArchives,
      gitStatusMaxListed: config.gitStatusMaxListed,
    },
    { store, git, clock: systemClock, hooks: createContentHooks(logger, metrics) },
  );
  const { failedInits, backToAvailable, unreadable } = manager.recovery;
  logger.info(
    {
      workspaces: manager.list().length,
      failedInits,
      backToAvailable,
      unreadable: unreadable.length,
    },
    "workspace state loaded",
  );

  const health = new HealthBoard();
  const services: DescService[] = [WorkspaceContentService, Health, ServerReflection];
  const shutdown = new AbortController();
  const server: RpcServer = await startRpcServer({
    listen: config.listen,
    tls: config.tls,
    shutdownSignal: shutdown.signal,
    maxTimeoutMs: config.limits.maxTimeoutMs,
    interceptors: [createObservabilityInterceptor({ logger, metrics })],
    routes: (router) => {
      router.service(WorkspaceContentService, createContentService(manager));
      router.service(Health, createHealthService(health));
      router.service(ServerReflection, createReflectionService(services));
    },
  });
  health.set("", ServingStatus.SERVING);
  for (const s of [WorkspaceContentService, InWorkspaceService, WorkspaceInfoService]) {
    if (services.includes(s)) health.set(s.typeName, ServingStatus.SERVING);
  }
  let metricsServer: MetricsServer | undefined;
  if (config.metrics.enabled) {
    metricsServer = await startMetricsServer(
      metrics.registry,
      config.metrics.host,
      config.metrics.port,
    );
  }
  logger.info({ address: server.address, metricsPort: metricsServer?.port }, "ws-daemon listening");

  return {
    address: server.address,
    metricsPort: metricsServer?.port,
    manager,
    async stop(graceMs) {
      health.setAll(ServingStatus.NOT_SERVING);
      const deadline = setTimeout(
        () => shutdown.abort(new Error("shutdown grace period over")),
        graceMs,
      );
      deadline.unref();
      await Promise.all([server.close(graceMs), manager.shutdown(graceMs)]);
      clearTimeout(deadline);
      await metricsServer?.close();
      logger.info("ws-daemon stopped");
    },
  };
}
