import { link, mkdir, mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { LinuxOpError, NsHelperError } from "../../src/linux/index.js";
import { MountLedger, type MountLedgerDeps } from "../../src/linux/mount-ledger.js";

/**
 * A /proc of our own: each pid has ns/mnt (processes share a mount namespace when their ns/mnt
 * files are hard links of one another, i.e. have the same inode) and task/<pid>/children.
 */
class FakeProc {
  private constructor(readonly root: string) {}

  static async create(): Promise<FakeProc> {
    return new FakeProc(await mkdtemp(join(tmpdir(), "wsd-fake-proc-")));
  }

  /** A process in a new mount namespace, or in the namespace of `sameNsAs`. */
  async spawn(pid: number, children: number[] = [], sameNsAs?: number): Promise<void> {
    await mkdir(join(this.root, String(pid), "ns"), { recursive: true });
    await mkdir(join(this.root, String(pid), "task", String(pid)), { recursive: true });
    const mnt = join(this.root, String(pid), "ns", "mnt");
    if (sameNsAs === undefined) await writeFile(mnt, "");
    else await link(join(this.root, String(sameNsAs), "ns", "mnt"), mnt);
    await writeFile(
      join(this.root, String(pid), "task", String(pid), "children"),
      children.join(" "),
    );
  }

  async exit(pid: number): Promise<void> {
    await rm(join(this.root, String(pid)), { recursive: true });
  }

  async dispose(): Promise<void> {
    await rm(this.root, { recursive: true, force: true });
  }
}

/** A ledger whose unmounts are recorded and answered by `outcome` (default: success). */
const ledgerOver = (
  procRoot: string | undefined,
  treeRoot: number | undefined,
  outcome: (hostPid: number, target: string) => Promise<void> = async () => {},
) => {
  const unmounted: Array<[number, string]> = [];
  const deps: MountLedgerDeps = {
    unmount: async (hostPid, target) => {
      unmounted.push([hostPid, target]);
      await outcome(hostPid, target);
    },
    treeRoot: async () => treeRoot,
    ...(procRoot !== undefined ? { procRoot } : {}),
  };
  return { ledger: new MountLedger(deps), unmounted };
};

describe("MountLedger on this process's real mount namespace", () => {
  it("undoes a recorded mount through the process that made it, once", async () => {
    const { ledger, unmounted } = ledgerOver(undefined, process.pid);
    await ledger.record("proc", process.pid, "/a");
    await ledger.record("sysfs", process.pid, "/b");
    expect(await ledger.undoAll()).toEqual({ undone: ["proc at /a", "sysfs at /b"], failures: [] });
    expect(unmounted).toEqual([
      [process.pid, "/a"],
      [process.pid, "/b"],
    ]);
    expect(ledger.entries()).toEqual([]);
    expect(await ledger.undoAll()).toEqual({ undone: [], failures: [] });
  });

  it("keeps one record per namespace and target; forget drops it", async () => {
    const { ledger, unmounted } = ledgerOver(undefined, process.pid);
    await ledger.record("proc", process.pid, "/a");
    await ledger.record("sysfs", process.pid, "/a");
    expect(ledger.entries().map((m) => `${m.kind} ${m.target}`)).toEqual(["sysfs /a"]);
    await ledger.forget(process.pid, "/a");
    expect(ledger.entries()).toEqual([]);
    await ledger.undoAll();
    expect(unmounted).toEqual([]);
  });

  it("a failed unmount is reported and stays recorded for the next teardown", async () => {
    let busy = true;
    const { ledger } = ledgerOver(undefined, process.pid, async () => {
      if (busy) throw new NsHelperError("umount", 16, "Device or resource busy");
    });
    await ledger.record("nfs", process.pid, "/data");
    expect(await ledger.undoAll()).toEqual({
      undone: [],
      failures: ["nfs at /data: umount: Device or resource busy"],
    });
    expect(ledger.entries()).toHaveLength(1);
    busy = false;
    expect(await ledger.undoAll()).toEqual({ undone: ["nfs at /data"], failures: [] });
  });

  it("a mount the workspace removed itself (EINVAL) or whose path is gone (ENOENT) counts as undone", async () => {
    const errnos = [22, 2];
    const { ledger } = ledgerOver(undefined, process.pid, async () => {
      const errno = errnos.shift() ?? 0;
      throw new NsHelperError("umount", errno, `errno ${errno}`);
    });
    await ledger.record("proc", process.pid, "/x");
    await ledger.record("proc", process.pid, "/y");
    expect(await ledger.undoAll()).toEqual({ undone: ["proc at /x", "proc at /y"], failures: [] });
  });
});

describe("MountLedger when processes come and go (a fake /proc)", () => {
  let proc: FakeProc;
  beforeEach(async () => {
    proc = await FakeProc.create();
  });
  afterEach(async () => {
    await proc.dispose();
  });

  it("refuses to record through a process that is gone", async () => {
    const { ledger } = ledgerOver(proc.root, 100);
    const err = await ledger.record("proc", 4242, "/t").catch((e: unknown) => e);
    expect(err).toBeInstanceOf(LinuxOpError);
    expect(err).toMatchObject({ kind: "permission-denied", message: "process 4242 is gone" });
  });

  it("unmounts through another member of the namespace once the recording process exited", async () => {
    await proc.spawn(100, [101, 102]);
    await proc.spawn(101);
    await proc.spawn(102, [], 101);
    const { ledger, unmounted } = ledgerOver(proc.root, 100);
    await ledger.record("proc", 101, "/t");
    await proc.exit(101);
    expect(await ledger.undoAll()).toEqual({ undone: ["proc at /t"], failures: [] });
    expect(unmounted).toEqual([[102, "/t"]]);
  });

  it("does not unmount through a reused pid that now lives in another namespace", async () => {
    await proc.spawn(100, [101, 103]);
    await proc.spawn(101);
    await proc.spawn(103, [], 101);
    const { ledger, unmounted } = ledgerOver(proc.root, 100);
    await ledger.record("sysfs", 101, "/t");
    await proc.exit(101);
    await proc.spawn(101); // the same number, a new process in a new namespace
    await ledger.undoAll();
    expect(unmounted).toEqual([[103, "/t"]]);
  });

  it("a namespace nobody is left in took its mounts along: nothing to unmount", async () => {
    await proc.spawn(100, [101]);
    await proc.spawn(101);
    const { ledger, unmounted } = ledgerOver(proc.root, 100);
    await ledger.record("proc", 101, "/t");
    await proc.exit(101);
    expect(await ledger.undoAll()).toEqual({ undone: ["proc at /t"], failures: [] });
    expect(unmounted).toEqual([]);
  });

  it("a workspace that is gone altogether leaves nothing to unmount", async () => {
    await proc.spawn(101);
    const { ledger, unmounted } = ledgerOver(proc.root, undefined);
    await ledger.record("nfs", 101, "/t");
    await proc.exit(101);
    expect(await ledger.undoAll()).toEqual({ undone: ["nfs at /t"], failures: [] });
    expect(unmounted).toEqual([]);
  });
});
