import { type DescMessage, toJsonString } from "@bufbuild/protobuf";
import { type InWorkspaceClients, InWorkspaceService, WorkspaceInfoService } from "@ws-daemon/api";
import {
  type CommandSpec,
  type FlagSpec,
  type Flags,
  noPositionals,
  requiredStr,
  str,
  UsageError,
} from "../command.js";
import { EXIT } from "../exit-codes.js";

/**
 * `wsdctl iws ...`: the in-workspace API, run INSIDE a workspace container where the daemon's
 * per-workspace socket is mounted (default /.workspace/daemon.sock). Responses print as proto3
 * JSON in both output formats: they are small and scripts read them.
 */
export const IWS_DEFAULT_SOCKET = "/.workspace/daemon.sock";

/** Pids go over the wire as int64: keep negative and huge values so the daemon judges them. */
function pidFlag(flags: Flags): bigint {
  const raw = requiredStr(flags, "pid");
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
function mappings(flags: Flags) {
  return requiredStr(flags, "map")
    .split(",")
    .map((entry) => {
      const parts = entry.split(":");
      if (parts.length !== 3)
        throw new UsageError(`--map entries are container:host:size, got "${entry}"`);
      const [container, host, size] = parts as [string, string, string];
      return {
        containerId: uint32(container, "container id"),
        hostId: uint32(host, "host id"),
        size: uint32(size, "size"),
      };
    });
}

const PID: FlagSpec = {
  type: "string",
  value: "PID",
  description: "a process of the workspace (required)",
};
const TARGET: FlagSpec = {
  type: "string",
  value: "PATH",
  description: "mount point in the process's mount namespace (required)",
};

interface IwsCall {
  summary: string;
  flags: Record<string, FlagSpec>;
  output: DescMessage;
  call(c: InWorkspaceClients, f: Flags, signal: AbortSignal): Promise<unknown>;
}

const m = InWorkspaceService.method;

const CALLS: Record<string, IwsCall> = {
  "prepare-for-userns": {
    summary: "PrepareForUserNS",
    flags: {},
    output: m.prepareForUserNS.output,
    call: (c, _f, signal) => c.inWorkspace.prepareForUserNS({}, { signal }),
  },
  "write-id-mapping": {
    summary: "WriteIDMapping: write a uid or gid map of a process",
    flags: {
      pid: PID,
      gid: { type: "boolean", description: "the gid_map instead of the uid_map" },
      map: {
        type: "string",
        value: "C:H:S[,...]",
        description: "container:host:size ranges (required)",
      },
    },
    output: m.writeIDMapping.output,
    call: (c, f, signal) =>
      c.inWorkspace.writeIDMapping(
        { pid: pidFlag(f), gid: f.gid === true, mapping: mappings(f) },
        { signal },
      ),
  },
  "evacuate-cgroup": {
    summary: "EvacuateCGroup",
    flags: {},
    output: m.evacuateCGroup.output,
    call: (c, _f, signal) => c.inWorkspace.evacuateCGroup({}, { signal }),
  },
  "mount-proc": {
    summary: "MountProc",
    flags: { pid: PID, target: TARGET },
    output: m.mountProc.output,
    call: (c, f, signal) =>
      c.inWorkspace.mountProc({ pid: pidFlag(f), target: requiredStr(f, "target") }, { signal }),
  },
  "umount-proc": {
    summary: "UmountProc",
    flags: { pid: PID, target: TARGET },
    output: m.umountProc.output,
    call: (c, f, signal) =>
      c.inWorkspace.umountProc({ pid: pidFlag(f), target: requiredStr(f, "target") }, { signal }),
  },
  "mount-sysfs": {
    summary: "MountSysfs",
    flags: { pid: PID, target: TARGET },
    output: m.mountSysfs.output,
    call: (c, f, signal) =>
      c.inWorkspace.mountSysfs({ pid: pidFlag(f), target: requiredStr(f, "target") }, { signal }),
  },
  "umount-sysfs": {
    summary: "UmountSysfs",
    flags: { pid: PID, target: TARGET },
    output: m.umountSysfs.output,
    call: (c, f, signal) =>
      c.inWorkspace.umountSysfs({ pid: pidFlag(f), target: requiredStr(f, "target") }, { signal }),
  },
  "mount-nfs": {
    summary: "MountNfs",
    flags: {
      pid: PID,
      source: { type: "string", value: "HOST:PATH", description: "the NFS export (required)" },
      target: TARGET,
      args: { type: "string", value: "OPTS", description: "mount options" },
    },
    output: m.mountNfs.output,
    call: (c, f, signal) =>
      c.inWorkspace.mountNfs(
        {
          pid: pidFlag(f),
          source: requiredStr(f, "source"),
          target: requiredStr(f, "target"),
          args: str(f, "args") ?? "",
        },
        { signal },
      ),
  },
  "umount-nfs": {
    summary: "UmountNfs",
    flags: { pid: PID, target: TARGET },
    output: m.umountNfs.output,
    call: (c, f, signal) =>
      c.inWorkspace.umountNfs({ pid: pidFlag(f), target: requiredStr(f, "target") }, { signal }),
  },
  "setup-pair-veths": {
    summary: "SetupPairVeths",
    flags: { pid: PID },
    output: m.setupPairVeths.output,
    call: (c, f, signal) => c.inWorkspace.setupPairVeths({ pid: pidFlag(f) }, { signal }),
  },
  // Both services answer WorkspaceInfo; --via picks which one is asked.
  "workspace-info": {
    summary: "WorkspaceInfo: the workspace's CPU and memory figures",
    flags: {
      via: {
        type: "string",
        value: "SERVICE",
        choices: ["workspace-info", "in-workspace"],
        description: "which service answers (default workspace-info)",
      },
    },
    output: WorkspaceInfoService.method.workspaceInfo.output,
    call: (c, f, signal) => {
      const via = str(f, "via") ?? "workspace-info";
      if (via === "in-workspace") return c.inWorkspace.workspaceInfo({}, { signal });
      if (via === "workspace-info") return c.workspaceInfo.workspaceInfo({}, { signal });
      throw new UsageError(`--via is "workspace-info" or "in-workspace", got "${via}"`);
    },
  },
  teardown: {
    summary: "Teardown",
    flags: {},
    output: m.teardown.output,
    call: (c, _f, signal) => c.inWorkspace.teardown({}, { signal }),
  },
  "wiping-teardown": {
    summary: "WipingTeardown",
    flags: { wipe: { type: "boolean", description: "also wipe the workspace's content" } },
    output: m.wipingTeardown.output,
    call: (c, f, signal) => c.inWorkspace.wipingTeardown({ doWipe: f.wipe === true }, { signal }),
  },
};

export const iwsCommands: CommandSpec[] = Object.entries(CALLS).map(([name, c]) => ({
  name: `iws ${name}`,
  summary: c.summary,
  args: [],
  flags: c.flags,
  details: `In-workspace API; the socket defaults to ${IWS_DEFAULT_SOCKET}.`,
  async run(ctx, input) {
    noPositionals(input);
    const response = await c.call(ctx.inWorkspace(), input.flags, ctx.signal);
    ctx.stdout.write(
      `${toJsonString(c.output, response as never, { alwaysEmitImplicit: true })}\n`,
    );
    return EXIT.ok;
  },
}));
