import { readFileSync } from "node:fs";
import { mkdtemp, readFile, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { LinuxOpError } from "../../src/linux/errors.js";
import { parseNfsOptions, parseNfsSource } from "../../src/linux/nfs-mount.js";
import { NsHelperError } from "../../src/linux/ns-helper.js";
import { type FakeContainer, isRoot, startContainer } from "./support/fake-container.js";
import { workspaceFor } from "./support/workspace.js";

const kernelHasNfs = /\tnfs4?\n/.test(readFileSync("/proc/filesystems", "utf8"));
if (!kernelHasNfs)
  console.warn(
    "[nfs tests] skipping the mounted part: 'nfs' is not in /proc/filesystems on this kernel",
  );

const kindOf = (fn: () => unknown) => {
  try {
    fn();
    return "ok";
  } catch (err) {
    return err instanceof LinuxOpError ? err.kind : String(err);
  }
};

describe("NFS source and options validation", () => {
  it("parses host:/path sources", () => {
    expect(parseNfsSource("10.1.2.3:/export/ws")).toEqual({
      host: "10.1.2.3",
      address: "10.1.2.3",
      path: "/export/ws",
    });
    expect(parseNfsSource("[fd00::1]:/x")).toEqual({
      host: "[fd00::1]",
      address: "fd00::1",
      path: "/x",
    });
    expect(parseNfsSource("fs-1.efs.example.com:/")).toEqual({
      host: "fs-1.efs.example.com",
      path: "/",
    });
  });

  for (const bad of [
    "",
    "nohostpath",
    "host:relative",
    ":/x",
    "ho st:/x",
    "[not-v6]:/x",
    "host:/a/../b",
    "host:/a,b",
    "host:/a b",
    "-oops:/x",
    "a:b:/x",
  ]) {
    it(`rejects source ${JSON.stringify(bad)}`, () => {
      expect(kindOf(() => parseNfsSource(bad))).toBe("invalid-argument");
    });
  }

  it("keeps allow-listed options", () => {
    expect(parseNfsOptions("vers=4.1,proto=tcp, hard,timeo=600,,ro")).toEqual([
      "vers=4.1",
      "proto=tcp",
      "hard",
      "timeo=600",
      "ro",
    ]);
    expect(parseNfsOptions("")).toEqual([]);
  });

  for (const bad of [
    "addr=1.2.3.4",
    "clientaddr=1.1.1.1",
    "fsc",
    "vers=5",
    "port=abc",
    "sec=foo",
    "exec",
    "suid",
    "x=y",
  ]) {
    it(`rejects option ${bad}`, () => {
      expect(kindOf(() => parseNfsOptions(bad))).toBe("invalid-argument");
    });
  }
});

describe.skipIf(!isRoot)("MountNfs against the real kernel", () => {
  let c: FakeContainer;
  let dir: string;
  beforeAll(async () => {
    c = await startContainer();
    dir = await mkdtemp(join(tmpdir(), "wsd-nfs-"));
  });
  afterAll(async () => {
    await c?.stop();
    await rm(dir, { recursive: true, force: true });
  });

  it("validates before reaching the kernel", async () => {
    const { ws } = workspaceFor(c.rootPid);
    const err = await ws
      .mountNfs(1, { source: "127.0.0.1:/x", target: dir, args: "clientaddr=1.2.3.4" })
      .catch((e) => e);
    expect(err.kind).toBe("invalid-argument");
  });

  it.skipIf(kernelHasNfs)(
    "reaches mount(2) and reports the kernel's error when NFS is missing",
    async () => {
      const { ws } = workspaceFor(c.rootPid);
      const err = await ws
        .mountNfs(1, { source: "127.0.0.1:/export", target: dir, args: "vers=4.2,hard" })
        .catch((e) => e);
      expect(err).toBeInstanceOf(NsHelperError);
      expect(err.errno).toBe(19);
      expect(err.message).toMatch(/No such device/);
      const mounted = (await readFile(`/proc/${c.rootPid}/mountinfo`, "utf8")).includes(dir);
      expect(mounted).toBe(false);
      expect((await ws.teardown()).success).toBe(true); // nothing recorded, nothing to undo
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
      const { ws } = workspaceFor(c.rootPid);
      await ws.mountNfs(1, { source, target: dir, args: "vers=4.1" });
      expect((await readFile(`/proc/${c.rootPid}/mountinfo`, "utf8")).includes(dir)).toBe(true);
      await ws.umountNfs(1, dir);
      expect((await readFile(`/proc/${c.rootPid}/mountinfo`, "utf8")).includes(dir)).toBe(false);
    },
  );
});
