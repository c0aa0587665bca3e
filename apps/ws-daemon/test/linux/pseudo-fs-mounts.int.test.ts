import { mkdtemp, readFile, rm, symlink } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { LinuxOpError } from "../../src/linux/errors.js";
import { NsHelper, NsHelperError } from "../../src/linux/ns-helper.js";
import { WorkspaceLinux } from "../../src/linux/workspace-linux.js";
import { systemClock } from "../../src/platform/clock.js";
import { NodeProcessRunner, type ProcessRunner } from "../../src/platform/process.js";
import { ProcessRuntime } from "../../src/runtime/process-runtime.js";
import { type FakeContainer, isRoot, sh, startContainer } from "./support/fake-container.js";
import { ensureHelperBuilt } from "./support/helper-binary.js";
import { workspaceFor } from "./support/workspace.js";

const mountedAt = async (hostPid: number, target: string) =>
  (await readFile(`/proc/${hostPid}/mountinfo`, "utf8"))
    .split("\n")
    .filter((l) => l.split(" ")[4] === target);

/** Runs a shell snippet inside the mount namespace (and root) of a host pid. */
const inside = (hostPid: number, script: string) =>
  sh("nsenter", ["-t", String(hostPid), "-m", "--", "sh", "-c", script]);

describe.skipIf(!isRoot)("MountProc / MountSysfs / Umount* in real namespaces", () => {
  let c: FakeContainer;
  let dir: string;
  beforeAll(async () => {
    c = await startContainer(
      ["unshare --mount --pid --fork --mount-proc sleep 3631", "unshare --net sleep 3632"],
      ["sleep 3631", "sleep 3632"],
    );
    dir = await mkdtemp(join(tmpdir(), "wsd-mnt-"));
  });
  afterAll(async () => {
    await c?.stop();
    await rm(dir, { recursive: true, force: true });
  });

  it("mounts a masked proc of the target's pid namespace, invisible to the host", async () => {
    const { ws } = workspaceFor(c.rootPid);
    const nested = await c.find("sleep 3631");
    const target = `${dir}`;
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
    const { ws } = workspaceFor(c.rootPid);
    const netChild = await c.find("sleep 3632");
    await ws.mountSysfs(netChild.nsPids[1] as number, dir);
    try {
      expect((await inside(netChild.hostPid, `ls ${dir}/class/net`)).trim()).toBe("lo");
      expect(await inside(netChild.hostPid, `ls -A ${dir}/firmware | wc -l`)).toBe("0\n");
      await expect(inside(netChild.hostPid, `touch ${dir}/firmware/x`)).rejects.toThrow(
        /Read-only/,
      );
    } finally {
      await ws.umountSysfs(netChild.nsPids[1] as number, dir);
    }
    expect(await mountedAt(netChild.hostPid, dir)).toHaveLength(0);
  });

  it("refuses to umount something that is not a mount point", async () => {
    const { ws } = workspaceFor(c.rootPid);
    const err = await ws.umountProc(1, dir).catch((e) => e);
    expect(err).toBeInstanceOf(LinuxOpError);
    expect(err.kind).toBe("failed-precondition");
  });

  it("refuses foreign pids and escaping targets before mounting anything", async () => {
    const { ws } = workspaceFor(c.rootPid);
    expect((await ws.mountProc(4000, dir).catch((e) => e)).kind).toBe("permission-denied");
    expect((await ws.mountProc(-5, dir).catch((e) => e)).kind).toBe("invalid-argument");
    expect((await ws.mountProc(1, `${dir}/../etc`).catch((e) => e)).kind).toBe("invalid-argument");
    expect(await mountedAt(c.rootPid, dir)).toHaveLength(0);
  });

  it("teardown reports failure (and keeps the record) when an unmount fails", async () => {
    const real = new NodeProcessRunner();
    let failUmount = true;
    // fault injection: the helper's umount answers EBUSY once, as a kernel might
    const runner: ProcessRunner = {
      run: (cmd, args, opts) =>
        failUmount && args[0] === "umount"
          ? Promise.resolve({
              exitCode: 3,
              signal: null,
              stdout: "",
              stderr: '{"error":"umount","errno":16,"message":"Device or resource busy"}\n',
            })
          : real.run(cmd, args, opts),
    };
    const runtime = new ProcessRuntime();
    runtime.register("ws-fault", c.rootPid);
    const ws = new WorkspaceLinux({
      workspaceId: "ws-fault",
      runtime,
      runner,
      helper: new NsHelper(runner, ensureHelperBuilt()),
      clock: systemClock,
      config: { allowedHostIds: { start: 100000, end: 165535 } },
    });
    await ws.mountProc(1, dir);
    const first = await ws.teardown();
    expect(first.success).toBe(false);
    expect(first.failures[0]).toMatch(/busy/);
    expect(await mountedAt(c.rootPid, dir)).toHaveLength(1);
    failUmount = false;
    expect((await ws.teardown()).success).toBe(true);
    expect(await mountedAt(c.rootPid, dir)).toHaveLength(0);
  });

  it("the helper itself refuses symlinks in the target (swap-after-check defence)", async () => {
    const { helper } = workspaceFor(c.rootPid);
    const link = join(dir, "link-to-root");
    await symlink("/", link);
    try {
      const err = await helper.mountProc(c.rootPid, `${link}/mnt`).catch((e) => e);
      expect(err).toBeInstanceOf(NsHelperError);
      expect(err.errno).toBe(40); // ELOOP from openat2(RESOLVE_NO_SYMLINKS)
      expect(await mountedAt(c.rootPid, "/mnt")).toHaveLength(0);
    } finally {
      await rm(link);
    }
  });

  it("teardown detaches mounts the workspace still has", async () => {
    const { ws } = workspaceFor(c.rootPid);
    await ws.mountProc(1, dir);
    await ws.mountSysfs(1, "/mnt");
    expect(await mountedAt(c.rootPid, dir)).toHaveLength(1);
    const report = await ws.teardown();
    expect(report).toMatchObject({ success: true, failures: [] });
    expect(report.undone).toHaveLength(2);
    expect(await mountedAt(c.rootPid, dir)).toHaveLength(0);
    expect(await mountedAt(c.rootPid, "/mnt")).toHaveLength(0);
  });
});
