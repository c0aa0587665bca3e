import { stat } from "node:fs/promises";
import { describe, expect, it } from "vitest";
import { rootMountIsShared } from "../../src/linux/user-ns-prep.js";
import { readMountInfoText } from "../../src/platform/index.js";
import { errorKind } from "./support/error-kind.js";
import { containerForSuite, isRoot, sh, tempDirForSuite } from "./support/fake-container.js";
import { workspaceFor } from "./support/workspace.js";

const mountsAt = async (hostPid: number, target: string) =>
  (await readMountInfoText(hostPid)).split("\n").filter((l) => l.split(" ")[4] === target);

/** stat of a path as the container sees it (through its root). */
const statIn = (hostPid: number, path: string) => stat(`/proc/${hostPid}/root${path}`);

const inNet = (hostPid: number, script: string) =>
  sh("nsenter", ["-t", String(hostPid), "-n", "--", "sh", "-c", script]);

/**
 * PrepareForUserNS as workspacekit's ring0 needs it (issue 11), in a fake container whose /dev
 * is a private tmpfs (so nothing touches the host's /dev) and whose root is this machine's ext4
 * root (ID-mappable here, unlike overlayfs).
 */
describe.skipIf(!isRoot)("PrepareForUserNS for workspacekit: mark, devices, teardown", () => {
  const c = containerForSuite(
    ["sleep 3671", "unshare --net sleep 3672"],
    ["sleep 3671", "sleep 3672"],
    // the container's own /dev, with the /dev/null its shell needs for background jobs
    "mount -t tmpfs -o mode=755 devtmp /dev && mknod -m 666 /dev/null c 1 3",
  );
  const dir = tempDirForSuite("wsd-mark-");
  const owner = { uid: 33333, gid: 33333 };

  it("refuses a mark whose parent is missing in the container and changes nothing", async () => {
    const { ws } = workspaceFor(c().rootPid, {
      userNs: { markPath: "/nonexistent-wsd-dir/mark", deviceOwner: owner },
    });
    expect(await errorKind(ws.prepareForUserNS())).toBe("failed-precondition");
    await expect(statIn(c().rootPid, "/dev/net")).rejects.toMatchObject({ code: "ENOENT" });
    expect(await rootMountIsShared(c().rootPid)).toBe(false);
  });

  it("mounts the ID-mapped container root at the mark, creates tun and fuse; teardown undoes all", async () => {
    const markPath = `${dir()}/mark`;
    const hostTun = await stat("/dev/net/tun").catch(() => undefined);
    const { ws } = workspaceFor(c().rootPid, { userNs: { markPath, deviceOwner: owner } });
    const prep = await ws.prepareForUserNS();
    expect(prep).toMatchObject({ method: "idmapped", mark: markPath });
    expect(await mountsAt(c().rootPid, markPath)).toHaveLength(1);
    expect(await mountsAt(process.pid, markPath)).toHaveLength(0); // the host sees nothing
    // through the mark, root-owned files belong to 33333: ring1's root in its user namespace
    const passwd = await statIn(c().rootPid, `${markPath}/etc/passwd`);
    expect([passwd.uid, passwd.gid]).toEqual([33333, 33333]);
    expect((await stat("/etc/passwd")).uid).toBe(0);
    for (const [path, minor] of [
      ["/dev/net/tun", 200],
      ["/dev/fuse", 229],
    ] as const) {
      const st = await statIn(c().rootPid, path);
      expect(st.isCharacterDevice()).toBe(true);
      expect([Math.floor(st.rdev / 256) & 0xfff, st.rdev & 0xff]).toEqual([10, minor]);
      expect([st.mode & 0o777, st.uid, st.gid]).toEqual([0o666, 33333, 33333]);
    }
    // the host's own /dev is untouched
    expect(await stat("/dev/net/tun").catch(() => undefined)).toEqual(hostTun);

    const report = await ws.teardown();
    expect(report).toMatchObject({ success: true, failures: [] });
    expect(report.undone).toEqual(
      expect.arrayContaining(["mark", "devices (netdir, tun, fuse)", "root mount propagation"]),
    );
    expect(await mountsAt(c().rootPid, markPath)).toHaveLength(0);
    await expect(statIn(c().rootPid, "/dev/net")).rejects.toMatchObject({ code: "ENOENT" });
    await expect(statIn(c().rootPid, "/dev/fuse")).rejects.toMatchObject({ code: "ENOENT" });
  });

  it("a /dev/fuse planted as a symlink to a host file: the call fails, the file keeps its mode and owner", async () => {
    const victim = `${dir()}/victim`;
    await sh("sh", ["-c", `echo secret > ${victim} && chmod 600 ${victim}`]);
    await sh("nsenter", ["-t", String(c().rootPid), "-m", "--", "ln", "-s", victim, "/dev/fuse"]);
    try {
      const { ws } = workspaceFor(c().rootPid, {
        userNs: { markPath: `${dir()}/mark2`, deviceOwner: owner },
      });
      expect(await errorKind(ws.prepareForUserNS())).not.toBe("ok");
      const st = await stat(victim);
      expect([st.mode & 0o777, st.uid]).toEqual([0o600, 0]);
      // and everything the failed call had done is undone; /dev is as it was
      expect(await mountsAt(c().rootPid, `${dir()}/mark2`)).toHaveLength(0);
      await expect(statIn(c().rootPid, "/dev/net")).rejects.toMatchObject({ code: "ENOENT" });
      expect(await rootMountIsShared(c().rootPid)).toBe(false);
    } finally {
      await sh("nsenter", [
        "-t",
        String(c().rootPid),
        "-m",
        "--",
        "rm",
        "-rf",
        "/dev/fuse",
        "/dev/net",
      ]);
    }
  });

  it("a mark path through a symlink is refused (the mount never lands outside)", async () => {
    const elsewhere = `${dir()}/elsewhere`;
    await sh("sh", ["-c", `mkdir -p ${elsewhere} && ln -s ${elsewhere} ${dir()}/linkdir`]);
    const { ws } = workspaceFor(c().rootPid, {
      userNs: { markPath: `${dir()}/linkdir/mark`, deviceOwner: owner },
    });
    expect(await errorKind(ws.prepareForUserNS())).toBe("failed-precondition");
    expect(await mountsAt(c().rootPid, `${elsewhere}/mark`)).toHaveLength(0);
    await expect(statIn(c().rootPid, "/dev/net")).rejects.toMatchObject({ code: "ENOENT" });
  });

  it("MountProc leaves IPv6 alone in the node's own network namespace", async () => {
    // a "workspace" whose processes share the host's network (no --net)
    const { spawn } = await import("node:child_process");
    const launcher = spawn(
      "unshare",
      // --kill-child: killing the launcher below takes the sleep (pid 1 of its namespace) with it
      ["--fork", "--pid", "--mount", "--mount-proc", "--kill-child", "sleep", "3673"],
      {
        stdio: "ignore",
      },
    );
    const hostBefore = (await sh("cat", ["/proc/sys/net/ipv6/conf/all/disable_ipv6"])).trim();
    try {
      let root = 0;
      for (let i = 0; i < 200 && !root; i++) {
        root = Number((await sh("sh", ["-c", `pgrep -P ${launcher.pid} || true`])).trim()) || 0;
        if (!root) await new Promise((r) => setTimeout(r, 10));
      }
      expect(root).toBeGreaterThan(1);
      const { ws } = workspaceFor(root);
      await ws.mountProc(1, `${dir()}`);
      expect((await sh("cat", ["/proc/sys/net/ipv6/conf/all/disable_ipv6"])).trim()).toBe(
        hostBefore,
      );
      await ws.umountProc(1, `${dir()}`);
    } finally {
      // if the guard ever fails, give the node its setting back
      await sh("sh", ["-c", `echo ${hostBefore} > /proc/sys/net/ipv6/conf/all/disable_ipv6`]);
      launcher.kill("SIGKILL");
    }
  });

  it("MountProc turns IPv6 off in the target's network namespace, as upstream", async () => {
    const inner = await c().find("sleep 3672");
    const before = (
      await inNet(inner.hostPid, "cat /proc/sys/net/ipv6/conf/all/disable_ipv6")
    ).trim();
    expect(before).toBe("0");
    const hostBefore = (await sh("cat", ["/proc/sys/net/ipv6/conf/all/disable_ipv6"])).trim();
    const { ws } = workspaceFor(c().rootPid);
    const target = `${dir()}`;
    await ws.mountProc(inner.nsPids[1] as number, target);
    expect(
      (await inNet(inner.hostPid, "cat /proc/sys/net/ipv6/conf/all/disable_ipv6")).trim(),
    ).toBe("1");
    // the node's setting is its own
    expect((await sh("cat", ["/proc/sys/net/ipv6/conf/all/disable_ipv6"])).trim()).toBe(hostBefore);
    await ws.umountProc(inner.nsPids[1] as number, target);
  });
});
