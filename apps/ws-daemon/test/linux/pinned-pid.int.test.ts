import { spawn } from "node:child_process";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { writeIdMapping } from "../../src/linux/id-mapping.js";
import { NsHelper } from "../../src/linux/index.js";
import {
  NodeProcessRunner,
  processStartTime,
  readMountInfoText,
} from "../../src/platform/index.js";
import { errorKind } from "./support/error-kind.js";
import { containerForSuite, isRoot, tempDirForSuite } from "./support/fake-container.js";
import { ensureHelperBuilt } from "./support/helper-binary.js";
import { recyclePid } from "./support/recycled-pid.js";

const mountedAt = async (hostPid: number, target: string) =>
  (await readMountInfoText(hostPid)).split("\n").filter((l) => l.split(" ")[4] === target);

const startOf = async (hostPid: number): Promise<bigint> => {
  const started = await processStartTime(hostPid);
  if (started === undefined) throw new Error(`process ${hostPid} is gone`);
  return started;
};

/**
 * The helper pins a target pid with a pidfd and the start time the daemon checked: a number
 * that now belongs to another process (recycled between the daemon's check and the helper's
 * setns) is simulated by a start time that is not the process's own.
 */
describe.skipIf(!isRoot)("the namespace helper pins pids with a pidfd", () => {
  const c = containerForSuite(
    ["unshare --mount --pid --fork --mount-proc sleep 3641", "unshare --user sleep 3644"],
    ["sleep 3641", "sleep 3644"],
  );
  const dir = tempDirForSuite("wsd-pin-");
  const helper = () => new NsHelper(new NodeProcessRunner(), ensureHelperBuilt());

  it("refuses a process whose start time is not the one checked (a recycled pid) with FAILED_PRECONDITION, and mounts nothing", async () => {
    const target = (await c().find("sleep 3641")).hostPid;
    const stale = { pid: target, startTime: (await startOf(target)) + 1n };
    const pinned = helper().pinnedTo(stale);
    expect(await errorKind(pinned.mountProc(target, dir()))).toBe("failed-precondition");
    expect(await errorKind(pinned.mountSysfs(target, dir()))).toBe("failed-precondition");
    expect(await errorKind(pinned.makeShared(target, "/"))).toBe("failed-precondition");
    expect(await mountedAt(target, dir())).toHaveLength(0);
    const err = await pinned.mountProc(target, dir()).catch((e: unknown) => e);
    expect(String(err)).toContain("its pid was reused");
  });

  it("acts on the process it checked: the same start time mounts and unmounts", async () => {
    const target = (await c().find("sleep 3641")).hostPid;
    const pinned = helper().pinnedTo({ pid: target, startTime: await startOf(target) });
    await pinned.mountProc(target, dir());
    try {
      expect(await mountedAt(target, dir())).toHaveLength(1);
    } finally {
      await pinned.umount(target, dir());
    }
    expect(await mountedAt(target, dir())).toHaveLength(0);
  });

  it("refuses a pinned process that has ended instead of looking its number up again", async () => {
    const child = spawn("sleep", ["3642"], { stdio: "ignore" });
    const pid = child.pid;
    if (pid === undefined) throw new Error("sleep did not start");
    const startTime = await startOf(pid);
    const exited = new Promise((resolve) => child.once("exit", resolve));
    child.kill("SIGKILL");
    await exited;
    const pinned = helper().pinnedTo({ pid, startTime });
    expect(await errorKind(pinned.mountProc(pid, dir()))).toBe("failed-precondition");
  });

  it("a command naming another pid than the pinned one passes it unchanged", async () => {
    const target = (await c().find("sleep 3641")).hostPid;
    const pinned = helper().pinnedTo({ pid: target, startTime: 1n });
    // the pin is for `target` only: a command on the daemon's own pid is not refused by it
    expect(await errorKind(pinned.makePrivate(process.pid, "/nonexistent-wsd-pin"))).toBe(
      "failed-precondition",
    );
    const err = await pinned.makePrivate(process.pid, "/nonexistent-wsd-pin").catch((e) => e);
    expect(String(err)).not.toContain("pid was reused");
  });

  it("idmap-mount pins the user namespace's pid too: one recycled after the check lends no mapping", async () => {
    const userns = (await c().find("sleep 3644")).hostPid;
    const map = [{ containerId: 0, hostId: 100000, size: 65536 }];
    expect(await writeIdMapping(userns, "uid", map)).toEqual({ ok: true });
    expect(await writeIdMapping(userns, "gid", map)).toEqual({ ok: true });
    const checked = { pid: userns, startTime: await startOf(userns) };
    // the number now holds another user namespace, mapped onto other host ids
    const other = await recyclePid(userns, "unshare --user sleep 3697");
    const src = await mkdtemp(join(tmpdir(), "wsd-pin-src-"));
    try {
      const otherMap = [{ containerId: 0, hostId: 200000, size: 65536 }];
      expect(await writeIdMapping(other.pid, "uid", otherMap)).toEqual({ ok: true });
      expect(await writeIdMapping(other.pid, "gid", otherMap)).toEqual({ ok: true });
      const mount = helper().idmapMount(c().rootPid, checked, src, dir());
      expect(await errorKind(mount)).toBe("failed-precondition");
      const err = await helper()
        .idmapMount(c().rootPid, checked, src, dir())
        .catch((e: unknown) => e);
      expect(String(err)).toContain("its pid was reused");
      expect(await mountedAt(c().rootPid, dir())).toHaveLength(0);
    } finally {
      await other.stop();
      await rm(src, { recursive: true, force: true });
    }
  });
});
