import { fileURLToPath } from "node:url";
import {
  describeFailure,
  errnoCode,
  type Log,
  type ProcessRunner,
  type RunOptions,
  type RunResult,
  type StatusKind,
} from "../platform/index.js";
import { LinuxOpError } from "./errors.js";

/** Where native/build.sh puts the helper when the daemon runs from its source tree. */
export const defaultNsHelperPath = (): string =>
  process.env.WSD_NSHELPER ??
  fileURLToPath(new URL("../../native/build/wsd-nshelper", import.meta.url));

/**
 * Errnos that describe the workspace's side (its paths, its processes, what this node's kernel
 * offers), not a fault of the daemon: the caller learns them as such instead of INTERNAL.
 */
const KIND_OF_ERRNO: Readonly<Record<number, StatusKind>> = {
  1: "permission-denied", // EPERM
  2: "failed-precondition", // ENOENT: the target vanished or is unreachable
  3: "failed-precondition", // ESRCH: the process is gone
  13: "permission-denied", // EACCES
  16: "failed-precondition", // EBUSY
  17: "failed-precondition", // EEXIST
  19: "failed-precondition", // ENODEV: the kernel lacks the filesystem (e.g. NFS)
  20: "failed-precondition", // ENOTDIR
  22: "failed-precondition", // EINVAL: e.g. not a mount point
  40: "failed-precondition", // ELOOP: a symlink in the target
};

/** A failed helper step, carrying the kernel's errno and message (e.g. 19 "No such device"). */
export class NsHelperError extends LinuxOpError {
  constructor(
    readonly step: string,
    errno: number,
    readonly kernelMessage: string,
  ) {
    super(KIND_OF_ERRNO[errno] ?? "internal", `${step}: ${kernelMessage}`, errno);
  }
}

/**
 * A host pid and the start time (field 22 of /proc/<pid>/stat) the daemon read when it checked
 * the process: the helper pins it with a pidfd and refuses any other process under that number.
 */
export interface PinnedPid {
  pid: number;
  startTime: bigint;
}

/** The helper's exit code when a pinned process ended or its pid now belongs to another one. */
const EXIT_REPLACED = 4;
const NO_PIDFD_WARNING = '"warning":"pidfd_open unavailable"';
// the kernel either has pidfd_open or not: one warning per daemon is enough
let warnedNoPidfd = false;

interface HelperFailure {
  error: string;
  errno: number;
  message: string;
}

/** A host pid, bare (used by number) or pinned. */
export type TargetPid = number | PinnedPid;

/**
 * Runs wsd-nshelper (see native/wsd-nshelper.c) for the kernel operations Node cannot do:
 * setns, open_tree, move_mount, mount_setattr. Every call names its target by host pid.
 */
export class NsHelper {
  constructor(
    private readonly runner: ProcessRunner,
    private readonly binary: string = defaultNsHelperPath(),
    private readonly pins: { pinned: readonly PinnedPid[]; log?: Log | undefined } = { pinned: [] },
  ) {}

  /**
   * This helper with `pinned` applied too: every command whose target is `pinned.pid` acts on
   * that process only, or fails with FAILED_PRECONDITION if its number now belongs to another one.
   * `log` is told once per daemon when the kernel has no pidfd_open (the helper then compares
   * start times around its opens, which cannot see a recycling in between).
   */
  pinnedTo(pinned: PinnedPid, log?: Log): NsHelper {
    const others = this.pins.pinned.filter((p) => p.pid !== pinned.pid);
    return new NsHelper(this.runner, this.binary, {
      pinned: [...others, pinned],
      log: log ?? this.pins.log,
    });
  }

  /**
   * Not runChecked: a failing helper prints a JSON line with the kernel's errno, which becomes an
   * NsHelperError; only output without such a line is reported as a plain failure. The arguments
   * at `pidArgs` name processes: a pinned one is passed as PID@STARTTIME.
   */
  async run(
    command: string,
    args: readonly (string | number | PinnedPid)[],
    pidArgs: readonly number[] = [0],
  ): Promise<Record<string, unknown>> {
    const res = await this.exec(command, args, pidArgs);
    if (res.exitCode === 0 && !res.signal) {
      const line = res.stdout.trim().split("\n").pop() ?? "{}";
      return JSON.parse(line) as Record<string, unknown>;
    }
    const failure = parseFailure(res.stderr);
    if (failure) throw new NsHelperError(failure.error, failure.errno, failure.message);
    throw new LinuxOpError("internal", describeFailure("wsd-nshelper", res.argv, res));
  }

  /**
   * Starts the helper and refuses a pinned process that is not the one checked; any other result
   * (also a failure) is the caller's to read.
   */
  private async exec(
    command: string,
    args: readonly (string | number | PinnedPid)[],
    pidArgs: readonly number[],
    options?: RunOptions,
  ): Promise<RunResult & { argv: string[] }> {
    const pinnedHere: PinnedPid[] = [];
    const argv = [
      command,
      ...args.map((a, i) => {
        if (typeof a === "object") {
          pinnedHere.push(a);
          return `${a.pid}@${a.startTime}`;
        }
        const pin = pidArgs.includes(i) ? this.pins.pinned.find((p) => p.pid === a) : undefined;
        if (pin === undefined) return String(a);
        pinnedHere.push(pin);
        return `${pin.pid}@${pin.startTime}`;
      }),
    ];
    const res = await this.runner.run(this.binary, argv, options).catch((err: unknown) => {
      const code = errnoCode(err);
      if (code === "ENOENT" || code === "EACCES") {
        throw new LinuxOpError(
          "failed-precondition",
          `the namespace helper ${this.binary} is missing or not executable: build it with apps/ws-daemon/native/build.sh (needs gcc and the Linux headers)`,
        );
      }
      throw err;
    });
    if (!warnedNoPidfd && pinnedHere.length > 0 && res.stderr.includes(NO_PIDFD_WARNING)) {
      warnedNoPidfd = true;
      this.pins.log?.(
        "warn",
        "the kernel has no pidfd_open: in-workspace calls pin pids by start time only",
        { pid: pinnedHere[0]?.pid },
      );
    }
    const replaced = res.exitCode === EXIT_REPLACED ? replacedPid(res.stderr) : undefined;
    if (replaced !== undefined && pinnedHere.some((p) => p.pid === replaced)) {
      throw new LinuxOpError(
        "failed-precondition",
        `process ${replaced} ended or is not the process that was checked (its pid was reused); nothing was changed`,
        3,
      );
    }
    return { ...res, argv };
  }

  mountProc(hostPid: number, target: string) {
    return this.run("mount-proc", [hostPid, target]);
  }
  mountSysfs(hostPid: number, target: string) {
    return this.run("mount-sysfs", [hostPid, target]);
  }
  mountNfs(hostPid: number, target: string, source: string, fstype: string, options: string) {
    return this.run("mount-nfs", [hostPid, target, source, fstype, options]);
  }
  umount(hostPid: number, target: string) {
    return this.run("umount", [hostPid, target]);
  }
  makeShared(hostPid: number, target: string) {
    return this.run("make-shared", [hostPid, target]);
  }
  makePrivate(hostPid: number, target: string) {
    return this.run("make-private", [hostPid, target]);
  }
  probeIdmap(hostPid: number, path: string) {
    return this.run("probe-idmap", [hostPid, path]);
  }
  /** `userns` is the process whose user namespace maps the ids (pin it: it is a second target). */
  idmapMount(hostPid: number, userns: TargetPid, source: string, target: string) {
    return this.run("idmap-mount", [hostPid, userns, source, target], [0, 1]);
  }
  /** `map` as "c h s,c h s" (the user namespace the ID-mapped mark uses; ignored for shiftfs). */
  mark(hostPid: number, method: "idmapped" | "shiftfs", target: string, map: string) {
    return this.run("mark", [hostPid, method, target, map]);
  }
  prepareDev(hostPid: number, uid: number, gid: number) {
    return this.run("prepare-dev", [hostPid, uid, gid]);
  }
  removeDev(hostPid: number, what: string) {
    return this.run("remove-dev", [hostPid, what]);
  }
  sysctlNet(hostPid: number, key: string, value: string) {
    return this.run("sysctl-net", [hostPid, key, value]);
  }

  /**
   * Runs `command args` in the network namespace of `hostPid` (like `nsenter --net`), opened
   * while the pid is pinned. With `peer`, that process's network namespace is open in the command
   * as PEER_NETNS_PATH, for `ip ... netns PEER_NETNS_PATH` (no pid number that could be reused).
   * The command's own result is returned as it is; only a replaced pinned process throws.
   */
  netExec(
    hostPid: number,
    command: string,
    args: readonly string[],
    opts: { peer?: number; stdin?: string } = {},
  ): Promise<RunResult> {
    return this.exec(
      "net-exec",
      [hostPid, opts.peer ?? "-", command, ...args],
      [0, 1],
      opts.stdin === undefined ? undefined : { stdin: opts.stdin },
    );
  }
}

/** Where net-exec's command finds the peer's network namespace (the helper's fd 3). */
export const PEER_NETNS_PATH = "/proc/self/fd/3";

/** The pid the helper's "pid replaced" line names, if it printed one. */
function replacedPid(stderr: string): number | undefined {
  const m = /"error":"pid replaced","errno":\d+,"message":"process (\d+) /.exec(stderr);
  return m ? Number(m[1]) : undefined;
}

function parseFailure(stderr: string): HelperFailure | undefined {
  for (const line of stderr.trim().split("\n").reverse()) {
    try {
      const v = JSON.parse(line) as Partial<HelperFailure>;
      if (typeof v.error === "string" && typeof v.errno === "number") {
        return { error: v.error, errno: v.errno, message: String(v.message ?? "") };
      }
    } catch {
      // not a helper failure line (e.g. a libc warning); keep looking
    }
  }
  return undefined;
}
