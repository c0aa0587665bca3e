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
import { NsHelper, readPeerCredentials, WorkspaceLinux } from "./linux/index.js";
import type { Logger } from "./observability/index.js";
import { DaemonMetrics } from "./observability/index.js";
import {
  claimProcessScratch,
  createUntrustedContentRunner,
  fromLevelLogger,
  NodeProcessRunner,
  networkPolicy,
  releaseProcessScratch,
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
  createClientAllowListInterceptor,
  createObservabilityInterceptor,
  ID_DAEMON_SUFFIX,
  identityContextValues,
  type MetricsServer,
  type RpcServer,
  startMetricsServer,
  startRpcServer,
  WorkspaceSockets,
} from "./transport/index.js";
import { WatchHub, WorkspaceSizes } from "./watch/index.js";
import {
  allowedClientsByService,
  allowedHostRanges,
  contentHostOwner,
  createContentHooks,
  describeMissing,
  helperIsExecutable,
  missingPrerequisites,
  nativeChunker,
  nsHelperPath,
  runtimeFromConfig,
  startHealthProbe,
  startReadiness,
  startStorageJanitor,
  warnWhileInsecure,
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
  // Temporary files of this process go below its own scratch directory; those of daemon
  // processes that ended without cleaning up (a crash, SIGKILL) are removed here.
  const scratch = await claimProcessScratch();
  if (scratch.removed.length > 0) {
    logger.info(
      { removed: scratch.removed },
      "removed the scratch directories of ended daemon processes",
    );
  }
  const {
    format,
    dedupScope,
    repackBelow,
    chunkerPath: configuredChunker,
    ...storageConfig
  } = config.storage;
  const storage =
    storageConfig.kind === "local"
      ? { ...storageConfig, root: absolute(storageConfig.root) }
      : storageConfig;
  // Symlinks come back as they were ("inert"): a workspace may legitimately hold absolute links
  // (e.g. a virtualenv's python). Extraction never writes through any symlink, so nothing lands
  // outside the workspace; refusing them would make such a backup impossible to restore.
  // Everything restored belongs to the workspace's uid/gid, never to whom the archive names.
  const { deadlineBaseMs, deadlineMsPerGib, keepSetid, ...archiveLimits } = config.archive;
  // The workspace user's ids on the host (133332 for user-namespaced workspaces, issue 11).
  const contentOwner = contentHostOwner(config);
  const store = createContentStore(storage, {
    maxConcurrentArchives: config.limits.maxConcurrentArchives,
    limits: archiveLimits,
    deadline: { baseMs: deadlineBaseMs, msPerGiB: deadlineMsPerGib },
    restore: { symlinks: "inert", owner: contentOwner, keepSetid },
    log: logFor("storage"),
    ...(format !== undefined ? { format } : {}),
    ...(dedupScope !== undefined ? { dedupScope } : {}),
    ...(repackBelow !== undefined ? { repackBelow } : {}),
    ...nativeChunker(format, configuredChunker, logFor("storage")),
    onChunkedArchive: (operation, stats) => metrics.recordChunkedArchive(operation, stats),
  });
  // Git reads repository- and workspace-controlled content: it runs as the workspace user,
  // confined to the one workspace, or (as root without a working confinement) not at all.
  const untrusted = await createUntrustedContentRunner(contentOwner);
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
    networkPolicy: networkPolicy({ allowPrivateNetworks: config.git.allowPrivateNetworks }),
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
    // SO_PEERCRED through the helper (Node has no API); without the helper calls log no peer
    peerLookup: (socket) => readPeerCredentials(runner, helperPath, socket),
    socketOwner: {
      uid: config.sockets.uid ?? config.content.uid,
      gid: config.sockets.gid ?? config.content.gid,
    },
    // The call scope lets a runtime that waits for the workspace's container honour the deadline.
    interceptors: [errorMappingInterceptor, callScopeInterceptor],
    layout: config.compat.socketLayout,
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
          log: logFor("linux"),
          config: {
            allowedHostIds: allowedHostRanges(config.idMapping),
            veth: { cidr: config.linux.vethCidr },
            // what workspacekit's ring0 needs (compat.gitpod): the mark, /dev/net/tun and
            // /dev/fuse; the workspace cgroup goes to ring1's root (host 33333, as upstream)
            userNs: config.compat.gitpod
              ? { markPath: config.compat.markPath, deviceOwner: config.content }
              : {},
            evacuation: { delegateTo: { uid: config.content.uid, gid: config.content.gid } },
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
      restoreBackupFirst: config.init.restoreBackupFirst,
      gitpodReadyFile: config.compat.gitpod,
      ...(config.compat.socketLayout === "id-daemon" ? { socketDirSuffix: ID_DAEMON_SUFFIX } : {}),
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
  const allowedClients = allowedClientsByService(config.auth);
  const server: RpcServer = await startRpcServer({
    listen: config.listen,
    tls: config.tls,
    shutdownSignal: shutdown.signal,
    limits: transportLimits,
    onLimitExceeded: (limit) => metrics.limitRefusals.inc({ api: "node", limit }),
    // the client certificate is looked at only where an allow-list needs it (no cost otherwise)
    ...(allowedClients.size > 0 ? { contextValues: identityContextValues } : {}),
    interceptors: [
      createObservabilityInterceptor({ logger, metrics }),
      ...(allowedClients.size > 0 ? [createClientAllowListInterceptor(allowedClients)] : []),
      errorMappingInterceptor,
    ],
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
  const insecureWarning = warnWhileInsecure(
    config,
    server.address,
    systemClock,
    logFor("transport"),
  );

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
      insecureWarning.stop();
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
      await releaseProcessScratch();
      logger.info("ws-daemon stopped");
    },
  };
}
