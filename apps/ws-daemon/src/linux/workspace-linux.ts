import {
  type Clock,
  errorMessage,
  type Log,
  namespaceInode,
  type ProcessRunner,
  processStartTime,
} from "../platform/index.js";
import type { RuntimeDiscovery, WorkspaceContainer } from "../runtime/index.js";
import {
  createWorkspaceCgroup,
  type EvacuationOptions,
  type EvacuationResult,
  evacuateCgroupV2,
} from "./cgroup-evacuate.js";
import { type CgroupLayout, detectCgroupLayout } from "./cgroup-layout.js";
import { readResourcesV1, readResourcesV2, type WorkspaceResources } from "./cgroup-resources.js";
import { failedPrecondition, LinuxOpError, permissionDenied } from "./errors.js";
import {
  type AllowedHostRange,
  type IdMapping,
  type IdMapWriteResult,
  validateIdMappings,
  writeIdMapping,
} from "./id-mapping.js";
import { type MountKind, MountLedger } from "./mount-ledger.js";
import { mountNfs, type NfsMountRequest } from "./nfs-mount.js";
import { type NsHelper, NsHelperError, type PinnedPid } from "./ns-helper.js";
import { resolveContainerPid } from "./pid-resolver.js";
import { mountPseudoFs, umountAt } from "./pseudo-fs-mounts.js";
import { resolveTargetPath } from "./target-path.js";
import {
  prepareForUserNS,
  type UserNsPreparation,
  type UserNsPrepOptions,
  undoPrepareForUserNS,
} from "./user-ns-prep.js";
import { defaultVethConfig, type VethAddresses, type VethConfig, VethPair } from "./veth-pair.js";

const MOUNT_CALL: Record<MountKind, string> = { proc: "Proc", sysfs: "Sysfs", nfs: "Nfs" };

export interface WorkspaceLinuxConfig {
  /** Host uids/gids the workspace may map onto (inclusive); each mapping must fit one range. */
  allowedHostIds: AllowedHostRange | readonly AllowedHostRange[];
  veth?: Partial<VethConfig>;
  /** Overrides detection, e.g. to point at a cgroup2 mount of one's own. */
  cgroupLayout?: CgroupLayout;
  evacuation?: EvacuationOptions;
  /** CPU usage sample window for workspaceInfo (upstream: 1000 ms). */
  resourceSampleMs?: number;
  denySetgroups?: boolean;
  userNs?: UserNsPrepOptions;
  /** NFS host name resolution (defaults to the daemon's resolver). */
  resolveNfsHost?: (host: string) => Promise<string>;
  /**
   * MountProc also turns IPv6 off in the target's network namespace, as upstream does (ring2 then
   * has no IPv6). Default true.
   */
  disableIpv6OnMountProc?: boolean;
}

export interface WorkspaceLinuxDeps {
  workspaceId: string;
  runtime: RuntimeDiscovery;
  helper: NsHelper;
  runner: ProcessRunner;
  clock: Clock;
  config: WorkspaceLinuxConfig;
  /** Where upstream only warns (a process or controller the workspace cgroup could not take). */
  log?: Log;
}

export type EvacuationOutcome =
  | ({ evacuated: true } & EvacuationResult)
  /** cgroup v1/hybrid: controllers live in v1 hierarchies; there is nothing to delegate (OK, like upstream). */
  | { evacuated: false; reason: string };

export interface TeardownReport {
  /** True only if everything this workspace's calls set up was undone (or was already gone). */
  success: boolean;
  undone: string[];
  failures: string[];
}

/**
 * The Linux side of one workspace's in-workspace service: every method is one RPC's real work.
 * Pids are container-namespace pids and are resolved against the workspace's process tree;
 * targets are resolved in the pid's root. Rate limits and "once" rules stay in the RPC layer.
 * Mounts, the veth pair and the user-ns preparation are recorded so teardown can undo them.
 */
export class WorkspaceLinux {
  private readonly mounts: MountLedger;
  private prep: { root: PinnedPid; prep: UserNsPreparation } | undefined;
  private veth: { root: PinnedPid } | undefined;
  private readonly vethPair: VethPair;

  constructor(private readonly deps: WorkspaceLinuxDeps) {
    this.vethPair = new VethPair({ ...defaultVethConfig, ...deps.config.veth });
    this.mounts = new MountLedger({
      unmount: async (hostPid, target, startTime) => {
        const helper =
          startTime === undefined
            ? deps.helper
            : deps.helper.pinnedTo({ pid: hostPid, startTime }, deps.log);
        await helper.umount(hostPid, target);
      },
      treeRoot: () =>
        this.container().then(
          (c) => c.rootPid,
          () => undefined,
        ),
    });
  }

  container(): Promise<WorkspaceContainer> {
    return this.deps.runtime.findWorkspaceContainer(this.deps.workspaceId);
  }

  /** Container-namespace pid -> host pid, only within this workspace's process tree. */
  async hostPid(pid: number | bigint): Promise<number> {
    const c = await this.container();
    return resolveContainerPid(c.rootPid, pid);
  }

  /**
   * Runs `use` with the host pid of `pid` and a helper pinned to that process: the number is
   * resolved in the workspace's tree and its start time read; the helper opens a pidfd, checks
   * the start time through it and refuses another process under that number, so its namespaces
   * and root are never a recycled pid's. Node's own writes (uid_map) get the start time as
   * `pinned` and go through a /proc/<pid> directory fd checked against it. What Node only reads
   * by number (mountinfo, namespace inodes) is checked again after `use`: a number the kernel
   * recycled in between fails the call instead of passing unnoticed.
   */
  private async withPinnedPid<T>(
    pid: number | bigint,
    use: (hostPid: number, helper: NsHelper, pinned: PinnedPid) => Promise<T>,
  ): Promise<T> {
    const hostPid = await this.hostPid(pid);
    const started = await processStartTime(hostPid);
    if (started === undefined) throw permissionDenied(`pid ${String(pid)} is gone`);
    const pinned = { pid: hostPid, startTime: started };
    const result = await use(hostPid, this.deps.helper.pinnedTo(pinned, this.deps.log), pinned);
    const still = await processStartTime(hostPid);
    if (still !== started || (await this.hostPid(pid).catch(() => undefined)) !== hostPid) {
      throw new LinuxOpError(
        "failed-precondition",
        `process ${String(pid)} ended or was replaced while the call acted on it; check its result`,
      );
    }
    return result;
  }

  /**
   * Shift method, propagation, devices and the mark (see prepareForUserNS), then on cgroup v2 the
   * `workspace` cgroup ring1's cgroup namespace will be rooted at (upstream; v1: nothing).
   */
  async prepareForUserNS(): Promise<UserNsPreparation> {
    const c = await this.container();
    const root = await this.pinnedRoot(c);
    const prep = await prepareForUserNS(
      this.deps.helper.pinnedTo(root, this.deps.log),
      root.pid,
      this.deps.config.userNs,
    );
    this.prep = { root, prep };
    const layout = await this.layout();
    if (layout.version === "v2" && layout.unifiedMount && c.cgroupPath) {
      const subtree = this.deps.config.evacuation?.subtree ?? "workspace";
      const cg = await createWorkspaceCgroup(
        `${layout.unifiedMount}${this.containerCgroup(c.cgroupPath)}`,
        subtree,
      );
      if (cg.problems.length > 0) {
        this.deps.log?.("warn", "the workspace cgroup did not take everything", {
          workspaceId: this.deps.workspaceId,
          cgroup: cg.path,
          problems: cg.problems,
        });
      }
    }
    return prep;
  }

  /**
   * A write the kernel refuses is FAILED_PRECONDITION carrying the kernel's message and errno
   * (upstream's status): workspacekit ignores the response body, so an OK with an error inside
   * would make it believe the mapping exists.
   */
  async writeIdMapping(
    pid: number | bigint,
    gid: boolean,
    mappings: readonly IdMapping[],
  ): Promise<void> {
    validateIdMappings(mappings, this.deps.config.allowedHostIds);
    const result: IdMapWriteResult = await this.withPinnedPid(pid, (hostPid, _helper, pinned) =>
      writeIdMapping(hostPid, gid ? "gid" : "uid", mappings, {
        denySetgroups: this.deps.config.denySetgroups ?? false,
        startTime: pinned.startTime,
      }),
    );
    if (!result.ok) throw new LinuxOpError("failed-precondition", result.message, result.errno);
  }

  async evacuateCgroup(): Promise<EvacuationOutcome> {
    const layout = await this.layout();
    if (layout.version !== "v2" || !layout.unifiedMount) {
      return {
        evacuated: false,
        reason: `cgroup ${layout.version}: resource controllers are in v1 hierarchies, nothing to evacuate`,
      };
    }
    const c = await this.container();
    if (!c.cgroupPath)
      throw failedPrecondition("the workspace's root process has no cgroup v2 path");
    const result = await evacuateCgroupV2(
      `${layout.unifiedMount}${this.containerCgroup(c.cgroupPath)}`,
      this.deps.config.evacuation,
    );
    return { evacuated: true, ...result };
  }

  /**
   * Upstream then disables IPv6 in the pid's network namespace (Internal "cannot disable IPv6").
   * Never in the node's or the daemon's own network namespace (a workspace sharing it must not
   * switch the node's IPv6 off); that is logged instead.
   */
  async mountProc(pid: number | bigint, target: string): Promise<void> {
    await this.withPinnedPid(pid, async (hostPid, helper) => {
      const resolved = await mountPseudoFs(helper, "proc", hostPid, target);
      await this.mounts.record("proc", hostPid, resolved.inNamespace);
      if (this.deps.config.disableIpv6OnMountProc !== false)
        await this.disableIpv6(helper, hostPid);
    });
  }

  /** Through the helper pinned to `hostPid`: a number recycled after the mount is refused. */
  private async disableIpv6(helper: NsHelper, hostPid: number): Promise<void> {
    const netns = await namespaceInode(hostPid, "net");
    const shared = [1, process.pid];
    if (netns === undefined) return;
    for (const other of shared) {
      if ((await namespaceInode(other, "net")) === netns) {
        this.deps.log?.("warn", "MountProc left IPv6 on: the target shares the node's network", {
          workspaceId: this.deps.workspaceId,
          pid: hostPid,
        });
        return;
      }
    }
    try {
      await helper.sysctlNet(hostPid, "ipv6/conf/all/disable_ipv6", "1");
    } catch (err) {
      // a kernel or namespace without IPv6 has nothing to turn off
      if (err instanceof NsHelperError && err.errno === 2) return;
      // the pinned process ended or its number was reused: the helper changed nothing
      const refused = err instanceof LinuxOpError && err.kind === "failed-precondition";
      if (refused && !(err instanceof NsHelperError)) throw err;
      throw new LinuxOpError("internal", `cannot disable IPv6: ${errorMessage(err)}`);
    }
  }

  async mountSysfs(pid: number | bigint, target: string): Promise<void> {
    await this.withPinnedPid(pid, async (hostPid, helper) => {
      const resolved = await mountPseudoFs(helper, "sysfs", hostPid, target);
      await this.mounts.record("sysfs", hostPid, resolved.inNamespace);
    });
  }

  umountProc(pid: number | bigint, target: string): Promise<void> {
    return this.umount("proc", pid, target);
  }

  umountSysfs(pid: number | bigint, target: string): Promise<void> {
    return this.umount("sysfs", pid, target);
  }

  umountNfs(pid: number | bigint, target: string): Promise<void> {
    return this.umount("nfs", pid, target);
  }

  async mountNfs(pid: number | bigint, req: NfsMountRequest): Promise<void> {
    await this.withPinnedPid(pid, async (hostPid, helper) => {
      const resolved = await mountNfs(helper, hostPid, req, this.deps.config.resolveNfsHost);
      await this.mounts.record("nfs", hostPid, resolved.inNamespace);
    });
  }

  async setupPairVeths(pid: number | bigint): Promise<VethAddresses> {
    const root = await this.pinnedRoot(await this.container());
    const addr = await this.withPinnedPid(pid, (target, helper) =>
      this.vethPair.setup(helper.pinnedTo(root), root.pid, target),
    );
    this.veth = { root };
    return addr;
  }

  async workspaceInfo(): Promise<WorkspaceResources> {
    const layout = await this.layout();
    const c = await this.container();
    const sampling = {
      clock: this.deps.clock,
      sampleMs: this.deps.config.resourceSampleMs ?? 1000,
    };
    if (layout.version === "v2" && layout.unifiedMount) {
      return readResourcesV2(
        `${layout.unifiedMount}${this.containerCgroup(c.cgroupPath)}`,
        sampling,
      );
    }
    const dir = (ctrl: string) => {
      const mount = layout.v1Mounts[ctrl];
      const path = c.cgroupV1Paths[ctrl];
      if (!mount || path === undefined)
        throw failedPrecondition(`cgroup v1 controller ${ctrl} is not available`);
      return `${mount}${path}`;
    };
    return readResourcesV1(
      { cpu: dir("cpu"), cpuacct: dir("cpuacct"), memory: dir("memory") },
      sampling,
    );
  }

  /** Undoes mounts, the veth pair and the user-ns preparation; never throws. */
  async teardown(): Promise<TeardownReport> {
    const { undone, failures } = await this.mounts.undoAll();
    if (this.veth) {
      try {
        // a root that ended took its network namespace, and the pair in it, along
        const root = this.veth.root;
        if (await this.stillRunning(root))
          await this.vethPair.teardown(this.deps.helper.pinnedTo(root, this.deps.log), root.pid);
        this.veth = undefined;
        undone.push("veth pair");
      } catch (err) {
        failures.push(`veth pair: ${errorMessage(err)}`);
      }
    }
    if (this.prep) {
      try {
        const { mark, createdDevices } = this.prep.prep;
        const root = this.prep.root;
        if (await this.stillRunning(root)) {
          const helper = this.deps.helper.pinnedTo(root, this.deps.log);
          await undoPrepareForUserNS(helper, root.pid, this.prep.prep);
        }
        this.prep = undefined;
        if (mark !== undefined) undone.push("mark");
        if (createdDevices?.length) undone.push(`devices (${createdDevices.join(", ")})`);
        undone.push("root mount propagation");
      } catch (err) {
        failures.push(`root mount propagation: ${errorMessage(err)}`);
      }
    }
    return { success: failures.length === 0, undone, failures };
  }

  /**
   * The container's own cgroup. /proc tells where its root process is, which after
   * PrepareForUserNS is `<container>/workspace` and after EvacuateCGroup `<container>/workspace/user`
   * (upstream asks containerd for the container's cgroup instead).
   */
  private containerCgroup(rootCgroup: string): string {
    const subtree = this.deps.config.evacuation?.subtree ?? "workspace";
    const leaf = this.deps.config.evacuation?.leaf ?? "user";
    for (const suffix of [`/${subtree}/${leaf}`, `/${subtree}`]) {
      if (rootCgroup.endsWith(suffix)) return rootCgroup.slice(0, -suffix.length) || "/";
    }
    return rootCgroup;
  }

  /** The container's root process, pinned by the start time read now. */
  private async pinnedRoot(c: WorkspaceContainer): Promise<PinnedPid> {
    const startTime = await processStartTime(c.rootPid);
    if (startTime === undefined)
      throw failedPrecondition(`the workspace's root process ${c.rootPid} is gone`);
    return { pid: c.rootPid, startTime };
  }

  /** Whether the pinned process still runs (not ended, its number not reused). */
  private async stillRunning(p: PinnedPid): Promise<boolean> {
    return (await processStartTime(p.pid)) === p.startTime;
  }

  private async layout(): Promise<CgroupLayout> {
    return this.deps.config.cgroupLayout ?? detectCgroupLayout();
  }

  /**
   * Detaches only a mount of `kind` that this workspace's Mount* call made at that place: anything
   * else (the container's own mounts, `/`, the read-only masks inside a proc or sysfs the daemon
   * made) stays, or a workspace could unmask /proc/sys or drop its root.
   */
  private async umount(kind: MountKind, pid: number | bigint, target: string): Promise<void> {
    await this.withPinnedPid(pid, async (hostPid, helper) => {
      const resolved = await resolveTargetPath(hostPid, target);
      if (!(await this.mounts.has(kind, hostPid, resolved.inNamespace))) {
        throw failedPrecondition(
          `${resolved.inNamespace} is not a mount point that Mount${MOUNT_CALL[kind]} made for this workspace in that process's mount namespace; only those can be unmounted`,
        );
      }
      await umountAt(helper, hostPid, resolved.inNamespace);
      await this.mounts.forget(hostPid, resolved.inNamespace);
    });
  }
}
