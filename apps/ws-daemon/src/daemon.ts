import { mkdir } from "node:fs/promises";
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
import type { DaemonConfig } from "./config/index.js";
import { WorkspaceContentManager } from "./content/index.js";
import { DEFAULT_ALLOWED_SCHEMES, GitClient } from "./git/index.js";
import { NsHelper, WorkspaceLinux } from "./linux/index.js";
import type { Logger } from "./observability/index.js";
import { DaemonMetrics } from "./observability/index.js";
import {
  createUntrustedContentRunner,
  fromLevelLogger,
  NodeProcessRunner,
  systemClock,
} from "./platform/index.js";
import { detectQuotaEnforcer } from "./quota/index.js";
import {
  callScopeInterceptor,
  createContentService,
  createHealthService,
  createReflectionService,
  defaultInWorkspaceLimits,
  errorMappingInterceptor,
  HealthBoard,
  inWorkspaceRoutes,
  LIVENESS_SERVICE,
} from "./rpc/index.js";
import type { RuntimeDiscovery } from "./runtime/index.js";
import { createContentStore } from "./storage/index.js";
import {
  createObservabilityInterceptor,
  type MetricsServer,
  type RpcServer,
  startMetricsServer,
  startRpcServer,
  WorkspaceSockets,
} from "./transport/index.js";
import { WatchHub, WorkspaceSizes } from "./watch/index.js";
import {
  createContentHooks,
  describeMissing,
  helperIsExecutable,
  missingPrerequisites,
  nsHelperPath,
  runtimeFromConfig,
  startHealthProbe,
  startReadiness,
  startStorageJanitor,
} from "./wiring/index.js";

export interface Daemon {
  /** The node API's address, e.g. "http://127.0.0.1:8080". */
  readonly address: string;
  readonly metricsPort: number | undefined;
  /** Port of the plaintext health listener for kubelet's probes, when enabled. */
  readonly probePort: number | undefined;
  readonly manager: WorkspaceContentManager;
  readonly sockets: WorkspaceSockets;
  /** Fans state changes and progress out to WatchWorkspace streams. */
  readonly watchHub: WatchHub;
  /** The runtime discovery in use; a ProcessRuntime accepts registrations. */
  readonly runtime: RuntimeDiscovery;
  /** Stop accepting calls, let running work finish within `graceMs`, persist state. */
  stop(graceMs: number): Promise<void>;
}

/** Relative paths in the config are relative to the daemon's working directory. */
const absolute = (p: string) => path.resolve(p);

/** The daemon cannot run on this machine as configured (e.g. a required tool is missing). */
export class StartupError extends Error {
  override name = "StartupError";
}

/** The composition root: builds every component from the config and starts the servers. */
export async function startDaemon(config: DaemonConfig, logger: Logger): Promise<Daemon> {
  const logFor = (component: string) => fromLevelLogger(logger, { component });
  const metrics = new DaemonMetrics();
  const runner = new NodeProcessRunner();
  const missing = await missingPrerequisites(runner);
  if (missing.length > 0) throw new StartupError(`cannot start: ${describeMissing(missing)}`);
  const storage =
    config.storage.kind === "local"
      ? { ...config.storage, root: absolute(config.storage.root) }
      : config.storage;
  // Symlinks come back as they were ("inert"): a workspace may legitimately hold absolute links
  // (e.g. a virtualenv's python). Extraction never writes through any symlink, so nothing lands
  // outside the workspace; refusing them would make such a backup impossible to restore.
  // Everything restored belongs to the workspace's uid/gid, never to whom the archive names.
  const { deadlineBaseMs, deadlineMsPerGib, keepSetid, ...archiveLimits } = config.archive;
  const store = createContentStore(storage, {
    maxConcurrentArchives: config.limits.maxConcurrentArchives,
    limits: archiveLimits,
    deadline: { baseMs: deadlineBaseMs, msPerGiB: deadlineMsPerGib },
    restore: { symlinks: "inert", owner: config.content, keepSetid },
    log: logFor("storage"),
  });
  // Git reads repository- and workspace-controlled content: it runs as the workspace user,
  // confined to the one workspace, or (as root without a working confinement) not at all.
  const untrusted = await createUntrustedContentRunner({
    uid: config.content.uid,
    gid: config.content.gid,
  });
  if (untrusted.mode === "refused") {
    logger.error(
      { reason: untrusted.reason },
      "git cannot be confined here (needs util-linux unshare, mount, pivot_root and setpriv, and CAP_SYS_ADMIN): git initializers and the git status at dispose answer FAILED_PRECONDITION",
    );
  }
  const git = new GitClient(untrusted.runner, {
    clock: systemClock,
    logger: logFor("git"),
    allowedSchemes: DEFAULT_ALLOWED_SCHEMES.filter(
      (scheme) => scheme !== "file" || config.git.allowFileRemotes,
    ),
    ...(untrusted.identity !== undefined ? { contentOwner: untrusted.identity } : {}),
  });
  const workingArea = absolute(config.workingArea);
  const runtime = runtimeFromConfig(config.runtime);
  const helperPath = nsHelperPath(config.linux.nsHelperPath);
  const helper = new NsHelper(runner, helperPath);
  if (!(await helperIsExecutable(helperPath))) {
    logger.warn(
      { helper: helperPath },
      "namespace helper missing: the in-workspace API answers FAILED_PRECONDITION (build it with apps/ws-daemon/native/build.sh: needs gcc and the Linux headers)",
    );
  }
  const { inWorkspace: iwsLimits, ...transportLimits } = config.limits;
  const limits = defaultInWorkspaceLimits(systemClock, {
    burst: iwsLimits.mutatingCallBurst,
    refillIntervalMs: iwsLimits.mutatingCallRefillMs,
  });
  // The manager is created below; sockets only call back into it after it exists.
  let managerRef: WorkspaceContentManager | undefined;
  const sockets = new WorkspaceSockets({
    workingArea,
    logger,
    metrics,
    // The call scope lets a runtime that waits for the workspace's container honour the deadline.
    interceptors: [errorMappingInterceptor, callScopeInterceptor],
    limits: { ...transportLimits, maxConnections: iwsLimits.maxConnections },
    maxInFlightCalls: iwsLimits.maxInFlightCalls,
    onLimitExceeded: (limit) => metrics.limitRefusals.inc({ api: "in-workspace", limit }),
    routesFor: (workspaceId) =>
      inWorkspaceRoutes({
        workspaceId,
        limits,
        linux: new WorkspaceLinux({
          workspaceId,
          runtime,
          helper,
          runner,
          clock: systemClock,
          config: {
            allowedHostIds: {
              start: config.idMapping.hostRangeStart,
              end: config.idMapping.hostRangeEnd,
            },
            veth: { cidr: config.linux.vethCidr },
          },
        }),
        wipeContent: async () => {
          await managerRef?.wipe(workspaceId);
        },
      }),
  });
  const hooks = createContentHooks(logger, metrics);
  const watchHub = new WatchHub(systemClock);
  const sizes = new WorkspaceSizes(systemClock);
  await mkdir(workingArea, { recursive: true, mode: 0o755 });
  const quota = await detectQuotaEnforcer(workingArea, {
    runner,
    method: config.quota.method,
    log: logFor("quota"),
  });
  const ensureSocket = (id: string) =>
    sockets
      .ensure(id)
      .catch((e: unknown) =>
        logger.error({ err: e, workspaceId: id }, "cannot serve the in-workspace API"),
      );
  const manager = await WorkspaceContentManager.open(
    {
      workingArea,
      maxConcurrentInits: config.limits.maxConcurrentInits,
      maxConcurrentArchives: config.limits.maxConcurrentArchives,
      gitStatusMaxListed: config.gitStatusMaxListed,
      ...(untrusted.identity !== undefined ? { contentOwner: untrusted.identity } : {}),
      downloadAllowPrivateNetworks: config.downloads.allowPrivateNetworks,
      downloadMaxBytes: config.downloads.maxBytes,
    },
    {
      store,
      git,
      clock: systemClock,
      quota,
      hooks: {
        ...hooks,
        ...watchHub.hooks,
        onOperationFinished: (id, operation, outcome) => {
          // the content changed: a listing must not show the size from before
          sizes.forget(id);
          watchHub.hooks.onOperationFinished(id, operation, outcome);
        },
        onStateChange: (id, from, to) => {
          hooks.onStateChange?.(id, from, to);
          watchHub.hooks.onStateChange(id, from, to);
          if (to === "setting-up") void ensureSocket(id);
        },
        onDisposed: (id) => {
          sizes.forget(id);
          limits.writeIdMapping.delete(id);
          limits.wipingTeardown.delete(id);
          limits.workspaceInfo.delete(id);
          limits.mutating.delete(id);
          return sockets.remove(id);
        },
      },
    },
  );
  managerRef = manager;
  // Workspaces loaded from disk count towards the per-state gauge like new ones.
  for (const r of manager.list()) hooks.onStateChange?.(r.id, undefined, r.state);
  // Workspaces from before a restart get their in-workspace socket back.
  await Promise.all(manager.list().map((r) => ensureSocket(r.id)));
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
  const followReadiness = [WorkspaceContentService, InWorkspaceService, WorkspaceInfoService]
    .filter((s) => services.includes(s))
    .map((s) => s.typeName);
  health.set(LIVENESS_SERVICE, ServingStatus.SERVING);
  const readiness = await startReadiness({
    config: config.health,
    workingArea,
    runtime,
    board: health,
    services: followReadiness,
    metrics,
    log: logFor("readiness"),
  });
  const shutdown = new AbortController();
  const server: RpcServer = await startRpcServer({
    listen: config.listen,
    tls: config.tls,
    shutdownSignal: shutdown.signal,
    limits: transportLimits,
    onLimitExceeded: (limit) => metrics.limitRefusals.inc({ api: "node", limit }),
    interceptors: [createObservabilityInterceptor({ logger, metrics }), errorMappingInterceptor],
    routes: (router) => {
      router.service(
        WorkspaceContentService,
        createContentService(
          manager,
          { hub: watchHub, sizes, clock: systemClock },
          { admitInit: () => readiness.monitor.admitNewWorkspace() },
        ),
      );
      router.service(Health, createHealthService(health));
      router.service(ServerReflection, createReflectionService(services));
    },
  });
  const probe = await startHealthProbe(config.health.probe, health);
  let metricsServer: MetricsServer | undefined;
  if (config.metrics.enabled) {
    metricsServer = await startMetricsServer(
      metrics.registry,
      config.metrics.host,
      config.metrics.port,
    );
  }
  logger.info(
    { address: server.address, metricsPort: metricsServer?.port, probePort: probe?.port },
    "ws-daemon listening",
  );
  const janitor = startStorageJanitor(store, config.janitor, logFor("storage"));

  return {
    address: server.address,
    metricsPort: metricsServer?.port,
    probePort: probe?.port,
    manager,
    sockets,
    watchHub,
    runtime,
    async stop(graceMs) {
      readiness.stop();
      health.setAll(ServingStatus.NOT_SERVING);
      janitor.stop();
      watchHub.closeAll();
      const deadline = setTimeout(
        () => shutdown.abort(new Error("shutdown grace period over")),
        graceMs,
      );
      deadline.unref();
      await Promise.all([
        server.close(graceMs),
        manager.shutdown(graceMs),
        sockets.closeAll(graceMs),
      ]);
      clearTimeout(deadline);
      await probe?.close(0);
      runtime.close();
      await metricsServer?.close();
      logger.info("ws-daemon stopped");
    },
  };
}
