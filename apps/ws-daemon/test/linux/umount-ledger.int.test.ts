import { describe, expect, it } from "vitest";
import { readMountInfoText } from "../../src/platform/index.js";
import { errorKind } from "./support/error-kind.js";
import { containerForSuite, isRoot, sh, tempDirForSuite } from "./support/fake-container.js";
import { workspaceFor } from "./support/workspace.js";

/** Mount points at `target` in the mount namespace of `hostPid`, with their options. */
const mountsAt = async (hostPid: number, target: string) =>
  (await readMountInfoText(hostPid))
    .split("\n")
    .filter((l) => l.split(" ")[4] === target)
    .map((l) => l.split(" ")[5]);

const inside = (hostPid: number, script: string) =>
  sh("nsenter", ["-t", String(hostPid), "-m", "--", "sh", "-c", script]);

/**
 * Issue 10: the Umount calls detached any mount of the container, including `/` and the
 * read-only masks (/proc/sys) a container runtime or the daemon itself put in place. Each attack
 * below detached its mount on the old code; now only a mount this API made for the workspace, of
 * the call's own kind, can be detached.
 */
describe.skipIf(!isRoot)("Umount* detach only the workspace's own API-made mounts", () => {
  const c = containerForSuite();
  const dir = tempDirForSuite("wsd-umount-ledger-");

  it("attack: UmountProc on the container's read-only /proc/sys mask", async () => {
    // what Docker does to every container: /proc/sys bound onto itself, read-only
    await inside(
      c().rootPid,
      "mount --bind /proc/sys /proc/sys && mount -o remount,bind,ro /proc/sys",
    );
    expect(await mountsAt(c().rootPid, "/proc/sys")).toEqual([
      expect.stringMatching(/^ro,/) as string,
    ]);
    const { ws } = workspaceFor(c().rootPid);
    expect(await errorKind(ws.umountProc(1, "/proc/sys"))).toBe("failed-precondition");
    expect(await errorKind(ws.umountSysfs(1, "/proc/sys"))).toBe("failed-precondition");
    expect(await errorKind(ws.umountNfs(1, "/proc/sys"))).toBe("failed-precondition");
    expect(await mountsAt(c().rootPid, "/proc/sys")).toHaveLength(1);
    await expect(inside(c().rootPid, "echo x > /proc/sys/kernel/hostname")).rejects.toThrow(
      /Read-only/,
    );
  });

  it("attack: Umount* on the container's root", async () => {
    const before = await mountsAt(c().rootPid, "/");
    expect(before.length).toBeGreaterThan(0);
    const { ws } = workspaceFor(c().rootPid);
    for (const umount of [ws.umountProc, ws.umountSysfs, ws.umountNfs]) {
      expect(await errorKind(umount.call(ws, 1, "/"))).toBe("failed-precondition");
    }
    expect(await mountsAt(c().rootPid, "/")).toEqual(before);
  });

  it("attack: UmountProc on a read-only mask inside a proc the daemon mounted", async () => {
    const { ws } = workspaceFor(c().rootPid);
    const target = `${dir()}/proc`;
    await inside(c().rootPid, `mkdir -p ${target}`);
    await ws.mountProc(1, target);
    try {
      expect(await mountsAt(c().rootPid, `${target}/sys`)).toEqual([
        expect.stringMatching(/^ro,/) as string,
      ]);
      expect(await errorKind(ws.umountProc(1, `${target}/sys`))).toBe("failed-precondition");
      expect(await mountsAt(c().rootPid, `${target}/sys`)).toHaveLength(1);
      await expect(inside(c().rootPid, `echo x > ${target}/sys/kernel/hostname`)).rejects.toThrow(
        /Read-only/,
      );
      // the right place but the wrong call: a proc is not UmountSysfs's or UmountNfs's to detach
      expect(await errorKind(ws.umountSysfs(1, target))).toBe("failed-precondition");
      expect(await errorKind(ws.umountNfs(1, target))).toBe("failed-precondition");
      expect(await mountsAt(c().rootPid, target)).toHaveLength(1);
    } finally {
      // the mount the workspace asked for is its own to remove
      await ws.umountProc(1, target);
    }
    expect(await mountsAt(c().rootPid, target)).toHaveLength(0);
    expect(await mountsAt(c().rootPid, `${target}/sys`)).toHaveLength(0);
    // and once removed, it is no longer the workspace's: a second UmountProc is refused
    expect(await errorKind(ws.umountProc(1, target))).toBe("failed-precondition");
  });

  it("a mount made through another workspace's API is not this one's to detach", async () => {
    const owner = workspaceFor(c().rootPid);
    const stranger = workspaceFor(c().rootPid);
    const target = `${dir()}/sysfs`;
    await inside(c().rootPid, `mkdir -p ${target}`);
    await owner.ws.mountSysfs(1, target);
    try {
      expect(await errorKind(stranger.ws.umountSysfs(1, target))).toBe("failed-precondition");
      expect(await mountsAt(c().rootPid, target)).toHaveLength(1);
    } finally {
      await owner.ws.umountSysfs(1, target);
    }
    expect(await mountsAt(c().rootPid, target)).toHaveLength(0);
  });
});
