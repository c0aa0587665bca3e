import type { ConnectRouter, ServiceImpl } from "@connectrpc/connect";
import { FSShiftMethod, InWorkspaceService, WorkspaceInfoService } from "@ws-daemon/api";
import type { WorkspaceLinux } from "../linux/index.js";
import type { Clock } from "../platform/index.js";
import { DomainError } from "../platform/index.js";
import { KeyedTokenBuckets } from "./token-bucket.js";

/** A refused call: RESOURCE_EXHAUSTED like upstream's rate limiter. */
const rateLimited = (message: string) => new DomainError("resource-exhausted", message);

export interface InWorkspaceLimits {
  /** Token buckets shared by the two services of one workspace. */
  writeIdMapping: KeyedTokenBuckets;
  wipingTeardown: KeyedTokenBuckets;
  workspaceInfo: KeyedTokenBuckets;
}

/** Upstream's limits: burst 4, one token every 2.5 s (1.5 s for WorkspaceInfo). */
export function defaultInWorkspaceLimits(clock: Clock): InWorkspaceLimits {
  return {
    writeIdMapping: new KeyedTokenBuckets(4, 2500, clock),
    wipingTeardown: new KeyedTokenBuckets(4, 2500, clock),
    workspaceInfo: new KeyedTokenBuckets(4, 1500, clock),
  };
}

export interface InWorkspaceContext {
  workspaceId: string;
  linux: WorkspaceLinux;
  limits: InWorkspaceLimits;
  /** Removes the workspace's content (WipingTeardown with do_wipe). */
  wipeContent(): Promise<void>;
}

const take = (buckets: KeyedTokenBuckets, id: string, method: string) => {
  if (!buckets.tryTake(id)) throw rateLimited(`${method}: too many requests, try again later`);
};

/**
 * PrepareForUserNS, EvacuateCGroup and Teardown may run once per workspace (per daemon
 * process, like upstream); a second call is RESOURCE_EXHAUSTED "can be used only once".
 */
function once(used: Set<string>, method: string) {
  if (used.has(method)) throw rateLimited(`${method} can be used only once per workspace`);
  used.add(method);
}

async function workspaceInfo(ctx: InWorkspaceContext) {
  take(ctx.limits.workspaceInfo, ctx.workspaceId, "WorkspaceInfo");
  const r = await ctx.linux.workspaceInfo();
  return {
    resources: {
      cpu: { used: BigInt(Math.round(r.cpu.used)), limit: BigInt(Math.round(r.cpu.limit)) },
      memory: {
        used: BigInt(Math.round(r.memory.used)),
        limit: BigInt(Math.round(r.memory.limit)),
      },
    },
  };
}

export function createInWorkspaceService(
  ctx: InWorkspaceContext,
): ServiceImpl<typeof InWorkspaceService> {
  const used = new Set<string>();
  const { linux } = ctx;
  return {
    async prepareForUserNS() {
      once(used, "PrepareForUserNS");
      const prep = await linux.prepareForUserNS();
      return {
        fsShift: prep.method === "idmapped" ? FSShiftMethod.IDMAPPED : FSShiftMethod.SHIFTFS,
      };
    },
    async writeIDMapping(req) {
      take(ctx.limits.writeIdMapping, ctx.workspaceId, "WriteIDMapping");
      // a refused kernel write is a FAILED_PRECONDITION status, never an OK with an error inside
      await linux.writeIdMapping(
        req.pid,
        req.gid,
        req.mapping.map((m) => ({ containerId: m.containerId, hostId: m.hostId, size: m.size })),
      );
      return {};
    },
    async evacuateCGroup() {
      once(used, "EvacuateCGroup");
      await linux.evacuateCgroup();
      return {};
    },
    async mountProc(req) {
      await linux.mountProc(req.pid, req.target);
      return {};
    },
    async umountProc(req) {
      await linux.umountProc(req.pid, req.target);
      return {};
    },
    async mountSysfs(req) {
      await linux.mountSysfs(req.pid, req.target);
      return {};
    },
    async umountSysfs(req) {
      await linux.umountSysfs(req.pid, req.target);
      return {};
    },
    async mountNfs(req) {
      await linux.mountNfs(req.pid, { source: req.source, target: req.target, args: req.args });
      return {};
    },
    async umountNfs(req) {
      await linux.umountNfs(req.pid, req.target);
      return {};
    },
    async teardown() {
      once(used, "Teardown");
      const report = await linux.teardown();
      return { success: report.success };
    },
    async wipingTeardown(req) {
      take(ctx.limits.wipingTeardown, ctx.workspaceId, "WipingTeardown");
      if (!req.doWipe) return { success: true };
      const report = await linux.teardown();
      let wiped = true;
      await ctx.wipeContent().catch(() => {
        wiped = false;
      });
      return { success: report.success && wiped };
    },
    async setupPairVeths(req) {
      await linux.setupPairVeths(req.pid);
      return {};
    },
    workspaceInfo: () => workspaceInfo(ctx),
  };
}

export function createWorkspaceInfoService(
  ctx: InWorkspaceContext,
): ServiceImpl<typeof WorkspaceInfoService> {
  return { workspaceInfo: () => workspaceInfo(ctx) };
}

/** Both in-workspace services of one workspace, for its socket's server. */
export const inWorkspaceRoutes =
  (ctx: InWorkspaceContext) =>
  (router: ConnectRouter): void => {
    router.service(InWorkspaceService, createInWorkspaceService(ctx));
    router.service(WorkspaceInfoService, createWorkspaceInfoService(ctx));
  };
