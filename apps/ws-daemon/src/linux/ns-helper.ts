import { fileURLToPath } from "node:url";
import { describeFailure, errnoCode, type ProcessRunner } from "../platform/index.js";
import { LinuxOpError } from "./errors.js";

/** Where native/build.sh puts the helper when the daemon runs from its source tree. */
export const defaultNsHelperPath = (): string =>
  process.env.WSD_NSHELPER ??
  fileURLToPath(new URL("../../native/build/wsd-nshelper", import.meta.url));

/** A failed helper step, carrying the kernel's errno and message (e.g. 19 "No such device"). */
export class NsHelperError extends LinuxOpError {
  constructor(
    readonly step: string,
    errno: number,
    readonly kernelMessage: string,
  ) {
    super("internal", `${step}: ${kernelMessage}`, errno);
  }
}

interface HelperFailure {
  error: string;
  errno: number;
  message: string;
}

/**
 * Runs wsd-nshelper (see native/wsd-nshelper.c) for the kernel operations Node cannot do:
 * setns, open_tree, move_mount, mount_setattr. Every call names its target by host pid.
 */
export class NsHelper {
  constructor(
    private readonly runner: ProcessRunner,
    private readonly binary: string = defaultNsHelperPath(),
  ) {}

  /**
   * Not runChecked: a failing helper prints a JSON line with the kernel's errno, which becomes an
   * NsHelperError; only output without such a line is reported as a plain failure.
   */
  async run(command: string, args: readonly (string | number)[]): Promise<Record<string, unknown>> {
    const argv = [command, ...args.map(String)];
    const res = await this.runner.run(this.binary, argv).catch((err: unknown) => {
      const code = errnoCode(err);
      if (code === "ENOENT" || code === "EACCES") {
        throw new LinuxOpError(
          "failed-precondition",
          `the namespace helper ${this.binary} is missing or not executable: build it with apps/ws-daemon/native/build.sh (needs gcc and the Linux headers)`,
        );
      }
      throw err;
    });
    if (res.exitCode === 0 && !res.signal) {
      const line = res.stdout.trim().split("\n").pop() ?? "{}";
      return JSON.parse(line) as Record<string, unknown>;
    }
    const failure = parseFailure(res.stderr);
    if (failure) throw new NsHelperError(failure.error, failure.errno, failure.message);
    throw new LinuxOpError("internal", describeFailure("wsd-nshelper", argv, res));
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
  idmapMount(hostPid: number, usernsHostPid: number, source: string, target: string) {
    return this.run("idmap-mount", [hostPid, usernsHostPid, source, target]);
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
