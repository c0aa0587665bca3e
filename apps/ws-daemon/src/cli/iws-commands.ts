import type { DescMessage } from "@bufbuild/protobuf";
import { type InWorkspaceClients, InWorkspaceService, WorkspaceInfoService } from "@ws-daemon/api";

/** Thrown for bad command lines; the CLI answers these with exit code 2, not 1. */
export class UsageError extends Error {
  override readonly name = "UsageError";
}

export type FlagValues = Record<string, string | boolean | undefined>;

export interface Command {
  /** Flags the command accepts besides the global ones; `true` = takes a value. */
  flags: Record<string, boolean>;
  /** What the response looks like, to print it as protobuf JSON. */
  output: DescMessage;
  call(clients: InWorkspaceClients, flags: FlagValues): Promise<unknown>;
}

function required(flags: FlagValues, name: string): string {
  const value = flags[name];
  if (typeof value !== "string" || value === "") throw new UsageError(`--${name} is required`);
  return value;
}

/** Pids go over the wire as int64: keep negative and huge values so the daemon judges them. */
function pidFlag(flags: FlagValues): bigint {
  const raw = required(flags, "pid");
  if (!/^-?\d+$/.test(raw)) throw new UsageError(`--pid must be an integer, got "${raw}"`);
  return BigInt(raw);
}

function uint32(text: string, what: string): number {
  if (!/^\d+$/.test(text) || Number(text) > 0xffff_ffff) {
    throw new UsageError(`${what} must be an unsigned 32-bit integer, got "${text}"`);
  }
  return Number(text);
}

/** `--map container:host:size[,container:host:size...]`, the order /proc/<pid>/uid_map uses. */
function mappings(flags: FlagValues) {
  return required(flags, "map")
    .split(",")
    .map((entry) => {
      const parts = entry.split(":");
      if (parts.length !== 3) {
        throw new UsageError(`--map entries are container:host:size, got "${entry}"`);
      }
      const [container, host, size] = parts as [string, string, string];
      return {
        containerId: uint32(container, "container id"),
        hostId: uint32(host, "host id"),
        size: uint32(size, "size"),
      };
    });
}

const iws = InWorkspaceService.method;

const pidAndTarget: Record<string, boolean> = { pid: true, target: true };

export const commands: Record<string, Command> = {
  "prepare-for-userns": {
    flags: {},
    output: iws.prepareForUserNS.output,
    call: (c) => c.inWorkspace.prepareForUserNS({}),
  },
  "write-id-mapping": {
    flags: { pid: true, gid: false, map: true },
    output: iws.writeIDMapping.output,
    call: (c, f) =>
      c.inWorkspace.writeIDMapping({ pid: pidFlag(f), gid: f.gid === true, mapping: mappings(f) }),
  },
  "evacuate-cgroup": {
    flags: {},
    output: iws.evacuateCGroup.output,
    call: (c) => c.inWorkspace.evacuateCGroup({}),
  },
  "mount-proc": {
    flags: pidAndTarget,
    output: iws.mountProc.output,
    call: (c, f) => c.inWorkspace.mountProc({ pid: pidFlag(f), target: required(f, "target") }),
  },
  "umount-proc": {
    flags: pidAndTarget,
    output: iws.umountProc.output,
    call: (c, f) => c.inWorkspace.umountProc({ pid: pidFlag(f), target: required(f, "target") }),
  },
  "mount-sysfs": {
    flags: pidAndTarget,
    output: iws.mountSysfs.output,
    call: (c, f) => c.inWorkspace.mountSysfs({ pid: pidFlag(f), target: required(f, "target") }),
  },
  "umount-sysfs": {
    flags: pidAndTarget,
    output: iws.umountSysfs.output,
    call: (c, f) => c.inWorkspace.umountSysfs({ pid: pidFlag(f), target: required(f, "target") }),
  },
  "mount-nfs": {
    flags: { pid: true, source: true, target: true, args: true },
    output: iws.mountNfs.output,
    call: (c, f) =>
      c.inWorkspace.mountNfs({
        pid: pidFlag(f),
        source: required(f, "source"),
        target: required(f, "target"),
        args: typeof f.args === "string" ? f.args : "",
      }),
  },
  "umount-nfs": {
    flags: pidAndTarget,
    output: iws.umountNfs.output,
    call: (c, f) => c.inWorkspace.umountNfs({ pid: pidFlag(f), target: required(f, "target") }),
  },
  "setup-pair-veths": {
    flags: { pid: true },
    output: iws.setupPairVeths.output,
    call: (c, f) => c.inWorkspace.setupPairVeths({ pid: pidFlag(f) }),
  },
  // Both services answer WorkspaceInfo; --via picks which one is asked.
  "workspace-info": {
    flags: { via: true },
    output: WorkspaceInfoService.method.workspaceInfo.output,
    call: (c, f) => {
      const via = f.via ?? "workspace-info";
      if (via === "in-workspace") return c.inWorkspace.workspaceInfo({});
      if (via === "workspace-info") return c.workspaceInfo.workspaceInfo({});
      throw new UsageError(`--via is "workspace-info" or "in-workspace", got "${String(via)}"`);
    },
  },
  teardown: {
    flags: {},
    output: iws.teardown.output,
    call: (c) => c.inWorkspace.teardown({}),
  },
  "wiping-teardown": {
    flags: { wipe: false },
    output: iws.wipingTeardown.output,
    call: (c, f) => c.inWorkspace.wipingTeardown({ doWipe: f.wipe === true }),
  },
};
