import { readFile, rm, symlink } from "node:fs/promises";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { NsHelper, NsHelperError, WorkspaceLinux } from "../../src/linux/index.js";
import { readMountInfoText, systemClock } from "../../src/platform/index.js";
import { ProcessRuntime } from "../../src/runtime/index.js";
import { failed, ScriptedProcessRunner } from "../support/process-runners.js";
import { errorKind } from "./support/error-kind.js";
import { containerForSuite, isRoot, sh, tempDirForSuite } from "./support/fake-container.js";
import { ensureHelperBuilt } from "./support/helper-binary.js";
import { workspaceFor } from "./support/workspace.js";

const mountedAt = async (hostPid: number, target: string) =>
  (await readMountInfoText(hostPid)).split("\n").filter((l) => l.split(" ")[4] === target);

/** Runs a shell snippet inside the mount namespace (and root) of a host pid. */
const inside = (hostPid: number, script: string) =>
  sh("nsenter", ["-t", String(hostPid), "-m", "--", "sh", "-c", script]);

describe.skipIf(!isRoot)("MountProc / MountSysfs / Umount* in real namespaces", () => {
  const c = containerForSuite(
    ["unshare --mount --pid --fork --mount-proc sleep 3631", "unshare --net sleep 3632"],
    ["sleep 3631", "sleep 3632"],
  );
  const dir = tempDirForSuite("wsd-mnt-");

  it("mounts a masked proc of the target's pid namespace, invisible to the host", async () => {
    const { ws } = workspaceFor(c().rootPid);
    const nested = await c().find("sleep 3631");
    const target = `${dir()}`;
    await ws.mountProc(nested.nsPids[1] as number, target);
    try {
      expect(await mountedAt(nested.hostPid, target)).toHaveLength(1);
      expect(await mountedAt(process.pid, target)).toHaveLength(0); // nothing leaked to the host
      // the instance belongs to the nested pid namespace: its pid 1 is the sleep
      expect((await inside(nested.hostPid, `tr '\\0' ' ' < ${target}/1/cmdline`)).trim()).toBe(
        "sleep 3631",
      );
      // masked files read empty; masked dirs are empty read-only tmpfs
      let checked = 0;
      for (const f of [
        "interrupts",
        "timer_list",
        "sched_debug",
        "keys",
        "kcore",
        "latency_stats",
      ]) {
        const real = await readFile(`/proc/${f}`).then(
          () => true,
          () => false,
        );
        if (!real) continue; // not present on this kernel (e.g. kcore without CONFIG_PROC_KCORE)
        expect(await inside(nested.hostPid, `cat ${target}/${f} | wc -c`)).toBe("0\n");
        checked++;
      }
      expect(checked).toBeGreaterThanOrEqual(2);
      expect(await inside(nested.hostPid, `ls -A ${target}/acpi 2>/dev/null | wc -l`)).toBe("0\n");
      // the read-only set really is read-only
      await expect(
        inside(nested.hostPid, `echo x > ${target}/sys/kernel/hostname`),
      ).rejects.toThrow(/Read-only/);
      if (
        await readFile("/proc/sysrq-trigger").then(
          () => true,
          (e) => e.code !== "ENOENT",
        )
      ) {
        await expect(inside(nested.hostPid, `echo h > ${target}/sysrq-trigger`)).rejects.toThrow(
          /Read-only/,
        );
      }
    } finally {
      await ws.umountProc(nested.nsPids[1] as number, target);
    }
    // UmountProc really detached the proc and all its masks
    const left = (await readFile(`/proc/${nested.hostPid}/mountinfo`, "utf8"))
      .split("\n")
      .filter((l) => l.includes(target));
    expect(left).toEqual([]);
  });

  it("mounts sysfs reflecting the target's network namespace, firmware masked", async () => {
    const { ws } = workspaceFor(c().rootPid);
    const netChild = await c().find("sleep 3632");
    await ws.mountSysfs(netChild.nsPids[1] as number, dir());
    try {
      expect((await inside(netChild.hostPid, `ls ${dir()}/class/net`)).trim()).toBe("lo");
      expect(await inside(netChild.hostPid, `ls -A ${dir()}/firmware | wc -l`)).toBe("0\n");
      await expect(inside(netChild.hostPid, `touch ${dir()}/firmware/x`)).rejects.toThrow(
        /Read-only/,
      );
    } finally {
      await ws.umountSysfs(netChild.nsPids[1] as number, dir());
    }
    expect(await mountedAt(netChild.hostPid, dir())).toHaveLength(0);
  });

  it("refuses to umount something that is not a mount point", async () => {
    const { ws } = workspaceFor(c().rootPid);
    expect(await errorKind(ws.umountProc(1, dir()))).toBe("failed-precondition");
  });

  it("refuses foreign pids and escaping targets before mounting anything", async () => {
    const { ws } = workspaceFor(c().rootPid);
    expect(await errorKind(ws.mountProc(4000, dir()))).toBe("permission-denied");
    expect(await errorKind(ws.mountProc(-5, dir()))).toBe("invalid-argument");
    expect(await errorKind(ws.mountProc(1, `${dir()}/../etc`))).toBe("invalid-argument");
    expect(await mountedAt(c().rootPid, dir())).toHaveLength(0);
  });

  it("teardown reports failure (and keeps the record) when an unmount fails", async () => {
    // fault injection: the helper's umount answers EBUSY, as a kernel might; the rest runs for real
    const runner = new ScriptedProcessRunner((_command, args) =>
      args[0] === "umount"
        ? failed('{"error":"umount","errno":16,"message":"Device or resource busy"}\n', 3)
        : undefined,
    );
    const runtime = new ProcessRuntime();
    runtime.register("ws-fault", c().rootPid);
    const ws = new WorkspaceLinux({
      workspaceId: "ws-fault",
      runtime,
      runner,
      helper: new NsHelper(runner, ensureHelperBuilt()),
      clock: systemClock,
      config: { allowedHostIds: { start: 100000, end: 165535 } },
    });
    await ws.mountProc(1, dir());
    expect(await ws.teardown()).toEqual({
      success: false,
      undone: [],
      failures: [`proc at ${dir()}: umount: Device or resource busy`],
    });
    expect(await mountedAt(c().rootPid, dir())).toHaveLength(1);
    runner.script = undefined;
    expect(await ws.teardown()).toEqual({
      success: true,
      undone: [`proc at ${dir()}`],
      failures: [],
    });
    expect(await mountedAt(c().rootPid, dir())).toHaveLength(0);
  });

  it("the helper itself refuses symlinks in the target (swap-after-check defence)", async () => {
    const { helper } = workspaceFor(c().rootPid);
    const link = join(dir(), "link-to-root");
    await symlink("/", link);
    try {
      const err = await helper.mountProc(c().rootPid, `${link}/mnt`).catch((e) => e);
      expect(err).toBeInstanceOf(NsHelperError);
      expect(err.errno).toBe(40); // ELOOP from openat2(RESOLVE_NO_SYMLINKS)
      expect(await mountedAt(c().rootPid, "/mnt")).toHaveLength(0);
    } finally {
      await rm(link);
    }
  });

  it("teardown detaches mounts the workspace still has", async () => {
    const { ws } = workspaceFor(c().rootPid);
    await ws.mountProc(1, dir());
    await ws.mountSysfs(1, "/mnt");
    expect(await mountedAt(c().rootPid, dir())).toHaveLength(1);
    expect(await ws.teardown()).toEqual({
      success: true,
      undone: [`proc at ${dir()}`, "sysfs at /mnt"],
      failures: [],
    });
    expect(await mountedAt(c().rootPid, dir())).toHaveLength(0);
    expect(await mountedAt(c().rootPid, "/mnt")).toHaveLength(0);
  });
});
