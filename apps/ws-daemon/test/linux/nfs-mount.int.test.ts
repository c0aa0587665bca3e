import { readFileSync } from "node:fs";
import { readFile } from "node:fs/promises";
import { describe, expect, it } from "vitest";
import { NsHelperError } from "../../src/linux/ns-helper.js";
import { errorKind } from "./support/error-kind.js";
import { containerForSuite, isRoot, tempDirForSuite } from "./support/fake-container.js";
import { workspaceFor } from "./support/workspace.js";

const kernelHasNfs = /\tnfs4?\n/.test(readFileSync("/proc/filesystems", "utf8"));
if (!kernelHasNfs)
  console.warn(
    "[nfs tests] skipping the mounted part: 'nfs' is not in /proc/filesystems on this kernel",
  );

describe.skipIf(!isRoot)("MountNfs against the real kernel", () => {
  const c = containerForSuite();
  const dir = tempDirForSuite("wsd-nfs-");

  it("validates before reaching the kernel", async () => {
    const { ws } = workspaceFor(c().rootPid);
    const mounting = ws.mountNfs(1, {
      source: "127.0.0.1:/x",
      target: dir(),
      args: "clientaddr=1.2.3.4",
    });
    expect(await errorKind(mounting)).toBe("invalid-argument");
  });

  it.skipIf(kernelHasNfs)(
    "reaches mount(2) and reports the kernel's error when NFS is missing",
    async () => {
      const { ws } = workspaceFor(c().rootPid);
      const err = await ws
        .mountNfs(1, { source: "127.0.0.1:/export", target: dir(), args: "vers=4.2,hard" })
        .catch((e) => e);
      expect(err).toBeInstanceOf(NsHelperError);
      expect(err.errno).toBe(19);
      expect(err.message).toMatch(/No such device/);
      const mounted = (await readFile(`/proc/${c().rootPid}/mountinfo`, "utf8")).includes(dir());
      expect(mounted).toBe(false);
      // nothing recorded, nothing to undo
      expect(await ws.teardown()).toEqual({ success: true, undone: [], failures: [] });
    },
  );

  it.skipIf(!kernelHasNfs)(
    "mounts and unmounts NFS (needs an NFS-capable kernel and server)",
    async () => {
      // This machine's kernel has no NFS; on one that has, point WSD_TEST_NFS_SOURCE at an export.
      const source = process.env.WSD_TEST_NFS_SOURCE;
      if (!source) {
        console.warn("[nfs tests] WSD_TEST_NFS_SOURCE not set: no export to mount");
        return;
      }
      const { ws } = workspaceFor(c().rootPid);
      await ws.mountNfs(1, { source, target: dir(), args: "vers=4.1" });
      expect((await readFile(`/proc/${c().rootPid}/mountinfo`, "utf8")).includes(dir())).toBe(true);
      await ws.umountNfs(1, dir());
      expect((await readFile(`/proc/${c().rootPid}/mountinfo`, "utf8")).includes(dir())).toBe(
        false,
      );
    },
  );
});
