import { chown, mkdir, mkdtemp, rm, stat, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { LinuxOpError } from "../../src/linux/errors.js";
import { writeIdMapping } from "../../src/linux/id-mapping.js";
import { NsHelperError } from "../../src/linux/ns-helper.js";
import { chooseFsShiftMethod, rootMountIsShared } from "../../src/linux/user-ns-prep.js";
import { containerForSuite, isRoot, sh } from "./support/fake-container.js";
import { workspaceFor } from "./support/workspace.js";

describe.skipIf(!isRoot)("PrepareForUserNS and ID-mapped mounts", () => {
  const c = containerForSuite(["unshare --user sleep 3641"], ["sleep 3641"]);

  it("makes the container root shared, picks idmapped mounts, and teardown reverts", async () => {
    const { ws } = workspaceFor(c().rootPid);
    // unshare(1) makes a new mount namespace private by default
    expect(await rootMountIsShared(c().rootPid)).toBe(false);
    const prep = await ws.prepareForUserNS();
    expect(prep).toEqual({ method: "idmapped", rootWasShared: false });
    expect(await rootMountIsShared(c().rootPid)).toBe(true);
    const report = await ws.teardown();
    expect(report.success).toBe(true);
    expect(report.undone).toContain("root mount propagation");
    expect(await rootMountIsShared(c().rootPid)).toBe(false);
  });

  it("fails with failed-precondition when neither method exists, changing nothing", async () => {
    const { ws, helper } = workspaceFor(c().rootPid, {
      userNs: { kernelRelease: "5.4.0-old", procFilesystems: "nodev\tproc\n\text4\n" },
    });
    const err = await ws.prepareForUserNS().catch((e) => e);
    expect(err).toBeInstanceOf(LinuxOpError);
    expect(err.kind).toBe("failed-precondition");
    expect(err.message).toMatch(/older than 5\.12.*shiftfs/);
    expect(await rootMountIsShared(c().rootPid)).toBe(false);
    // shiftfs is chosen only where the kernel lists it
    expect(
      await chooseFsShiftMethod(helper, c().rootPid, {
        kernelRelease: "5.4.0",
        procFilesystems: "nodev\tshiftfs\n",
      }),
    ).toBe("shiftfs");
  });

  it("an ID-mapped mount shows on-disk owners shifted by the user namespace's mapping", async () => {
    const { helper } = workspaceFor(c().rootPid);
    const userns = await c().find("sleep 3641");
    expect(
      await writeIdMapping(userns.hostPid, "uid", [
        { containerId: 0, hostId: 100000, size: 65536 },
      ]),
    ).toEqual({ ok: true });
    expect(
      await writeIdMapping(userns.hostPid, "gid", [
        { containerId: 0, hostId: 100000, size: 65536 },
      ]),
    ).toEqual({ ok: true });
    const src = await mkdtemp(join(tmpdir(), "wsd-idmap-src-"));
    const dst = await mkdtemp(join(tmpdir(), "wsd-idmap-dst-"));
    try {
      await writeFile(join(src, "root-owned"), "x");
      await mkdir(join(src, "user-owned"));
      await chown(join(src, "user-owned"), 33333, 33333);
      await chown(join(src, "root-owned"), 0, 0);
      await writeFile(join(src, "outside"), "x");
      await chown(join(src, "outside"), 70000, 70000);
      await helper.idmapMount(c().rootPid, userns.hostPid, src, dst);
      try {
        const ids = async (p: string) => {
          const out = await sh("nsenter", [
            "-t",
            String(c().rootPid),
            "-m",
            "--",
            "stat",
            "-c",
            "%u:%g",
            join(dst, p),
          ]);
          return out.trim();
        };
        expect(await ids("root-owned")).toBe("100000:100000");
        expect(await ids("user-owned")).toBe("133333:133333");
        expect(await ids("outside")).toBe("65534:65534"); // not covered by the mapping
        // the source itself is unchanged
        expect((await stat(join(src, "root-owned"))).uid).toBe(0);
      } finally {
        await helper.umount(c().rootPid, dst);
      }
    } finally {
      await rm(src, { recursive: true, force: true });
      await rm(dst, { recursive: true, force: true });
    }
  });

  it("the helper reports kernel errors with errno and exit code 3", async () => {
    const { helper } = workspaceFor(c().rootPid);
    const err = await helper.umount(c().rootPid, "/definitely-not-here").catch((e) => e);
    expect(err).toBeInstanceOf(NsHelperError);
    expect(err.errno).toBe(2);
    expect(err.step).toBe("umount");
    const usage = await helper.run("mount-proc", ["1", "/x"]).catch((e) => e);
    expect(usage).toBeInstanceOf(NsHelperError);
    expect(usage.step).toBe("usage");
  });
});
