import {
  errorMessage,
  findInProcessTree,
  namespaceInode,
  PROC,
  processStartTime,
} from "../platform/index.js";
import { LinuxOpError } from "./errors.js";
import { NsHelperError } from "./ns-helper.js";

export type MountKind = "proc" | "sysfs" | "nfs";

/** One mount this API made: where, and in which mount namespace (a path alone is ambiguous). */
export interface MountRecord {
  kind: MountKind;
  /** The process the mount was made through. */
  hostPid: number;
  /** Inode of that process's mount namespace when the mount was made. */
  mntNs: number;
  /** The target as the process sees it. */
  target: string;
}

export interface MountLedgerDeps {
  /**
   * Detaches `target` in the mount namespace of `hostPid` (the helper's umount), acting only on
   * the process with `startTime` (read before its namespace was compared) when one is given.
   */
  unmount(hostPid: number, target: string, startTime?: bigint): Promise<void>;
  /**
   * The root of the process tree searched for another member of a mount's namespace once the
   * process that made it is gone; undefined when the workspace itself is gone.
   */
  treeRoot(): Promise<number | undefined>;
  procRoot?: string;
}

export interface UndoReport {
  /** "<kind> at <target>" of each mount detached (or found already gone). */
  undone: string[];
  /** "<kind> at <target>: <why>" of each mount still in place; its record is kept. */
  failures: string[];
}

/** A process in a recorded mount's namespace; no start time where /proc shows none. */
interface Member {
  pid: number;
  startTime: bigint | undefined;
}

// EINVAL: no longer a mount point (the workspace unmounted it itself); ENOENT: the path is gone
const ALREADY_GONE_ERRNOS = [22, 2];

/**
 * The mounts one workspace's calls created, so that teardown can undo exactly those. Keyed by
 * mount namespace and target: the same path in two namespaces is two mounts, the same path
 * mounted twice in one namespace is one record (the second mount stacks on the first; one
 * MNT_DETACH of the path removes what is visible).
 */
export class MountLedger {
  private readonly records = new Map<string, MountRecord>();
  private readonly procRoot: string;

  constructor(private readonly deps: MountLedgerDeps) {
    this.procRoot = deps.procRoot ?? PROC;
  }

  /** What is recorded, oldest first. */
  entries(): MountRecord[] {
    return [...this.records.values()];
  }

  async record(kind: MountKind, hostPid: number, target: string): Promise<void> {
    const mntNs = await this.mountNamespaceOf(hostPid);
    this.records.set(`${mntNs}:${target}`, { kind, hostPid, mntNs, target });
  }

  /**
   * Whether this API made a `kind` mount at `target` in the mount namespace of `hostPid`: the
   * only mounts the Umount calls may detach (never the container's own or the daemon's masks).
   */
  async has(kind: MountKind, hostPid: number, target: string): Promise<boolean> {
    const mntNs = await this.mountNamespaceOf(hostPid);
    return this.records.get(`${mntNs}:${target}`)?.kind === kind;
  }

  /** After an explicit umount through `hostPid`: the mount is no longer ours to undo. */
  async forget(hostPid: number, target: string): Promise<void> {
    const mntNs = await this.mountNamespaceOf(hostPid);
    this.records.delete(`${mntNs}:${target}`);
  }

  /** Detaches every recorded mount; never throws. Failed ones stay recorded for another try. */
  async undoAll(): Promise<UndoReport> {
    const report: UndoReport = { undone: [], failures: [] };
    for (const [key, m] of this.records) {
      const what = `${m.kind} at ${m.target}`;
      try {
        await this.undo(m);
        this.records.delete(key);
        report.undone.push(what);
      } catch (err) {
        report.failures.push(`${what}: ${errorMessage(err)}`);
      }
    }
    return report;
  }

  /** Unmounts through any live process still in the mount's namespace; a dead namespace took it along. */
  private async undo(m: MountRecord): Promise<void> {
    const member = (await this.memberAt(m.hostPid, m.mntNs)) ?? (await this.memberOf(m.mntNs));
    if (member === undefined) return;
    try {
      await this.deps.unmount(member.pid, m.target, member.startTime);
    } catch (err) {
      if (err instanceof NsHelperError && ALREADY_GONE_ERRNOS.includes(err.errno ?? -1)) return;
      throw err;
    }
  }

  private async memberOf(mntNs: number): Promise<Member | undefined> {
    const root = await this.deps.treeRoot();
    if (root === undefined) return undefined;
    return findInProcessTree(root, (pid) => this.memberAt(pid, mntNs), this.procRoot);
  }

  /**
   * `pid` when it is in `mntNs`, with its start time read before the namespace was compared: a
   * number reused after the comparison then fails the pinned unmount instead of acting elsewhere.
   */
  private async memberAt(pid: number, mntNs: number): Promise<Member | undefined> {
    const startTime = await processStartTime(pid, this.procRoot);
    const inNs = (await namespaceInode(pid, "mnt", this.procRoot)) === mntNs;
    return inNs ? { pid, startTime } : undefined;
  }

  private async mountNamespaceOf(hostPid: number): Promise<number> {
    const ino = await namespaceInode(hostPid, "mnt", this.procRoot);
    if (ino === undefined)
      throw new LinuxOpError("permission-denied", `process ${hostPid} is gone`);
    return ino;
  }
}
