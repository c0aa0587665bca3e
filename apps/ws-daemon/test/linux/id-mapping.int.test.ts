import { readFile } from "node:fs/promises";
import { describe, expect, it } from "vitest";
import { writeIdMapping } from "../../src/linux/id-mapping.js";
import { containerForSuite, isRoot } from "./support/fake-container.js";
import { workspaceFor } from "./support/workspace.js";

describe.skipIf(!isRoot)("writeIdMapping on a real user namespace", () => {
  const c = containerForSuite(["unshare --user sleep 3611"], ["sleep 3611"]);

  it("writes uid_map and gid_map and the kernel reports them back", async () => {
    const target = await c().find("sleep 3611");
    const maps = [
      { containerId: 0, hostId: 133332, size: 1 },
      { containerId: 1, hostId: 100000, size: 33332 },
    ];
    expect(await writeIdMapping(target.hostPid, "uid", maps)).toEqual({ ok: true });
    expect(await writeIdMapping(target.hostPid, "gid", maps)).toEqual({ ok: true });
    for (const f of ["uid_map", "gid_map"]) {
      const lines = (await readFile(`/proc/${target.hostPid}/${f}`, "utf8")).trim().split("\n");
      expect(lines.map((l) => l.trim().split(/\s+/).map(Number))).toEqual([
        [0, 133332, 1],
        [1, 100000, 33332],
      ]);
    }
    // setgroups stays allowed: the workspace may still call setgroups(2)
    expect((await readFile(`/proc/${target.hostPid}/setgroups`, "utf8")).trim()).toBe("allow");
  });

  it("WorkspaceLinux.writeIdMapping resolves the container pid and validates first", async () => {
    const { ws } = workspaceFor(c().rootPid);
    const target = await c().find("sleep 3611");
    const ok = [{ containerId: 0, hostId: 100000, size: 1 }];
    // already mapped by the previous test: the kernel's EPERM is FAILED_PRECONDITION with its
    // message (issue 11: it was data inside an OK, which workspacekit never reads)
    await expect(ws.writeIdMapping(target.nsPids[1] as number, false, ok)).rejects.toMatchObject({
      kind: "failed-precondition",
      errno: 1,
      message: expect.stringMatching(/cannot write uid_map of pid \d+: .*operation not permitted/i),
    });
    const outOfRange = [{ containerId: 0, hostId: 165535, size: 2 }];
    await expect(
      ws.writeIdMapping(target.nsPids[1] as number, false, outOfRange),
    ).rejects.toMatchObject({
      kind: "invalid-argument",
    });
    await expect(ws.writeIdMapping(3999, false, ok)).rejects.toMatchObject({
      kind: "permission-denied",
    });
    await expect(ws.writeIdMapping(-1, true, ok)).rejects.toMatchObject({
      kind: "invalid-argument",
    });
  });

  it("returns the kernel's errno when the map is already written", async () => {
    const target = await c().find("sleep 3611");
    const res = await writeIdMapping(target.hostPid, "uid", [
      { containerId: 0, hostId: 100000, size: 1 },
    ]);
    expect(res).toMatchObject({ ok: false, errno: 1, code: "EPERM" });
  });

  it("returns ENOENT-style errors for a vanished pid", async () => {
    const res = await writeIdMapping(4_194_000, "uid", [
      { containerId: 0, hostId: 100000, size: 1 },
    ]);
    expect(res).toMatchObject({ ok: false, code: "ENOENT", errno: 2 });
  });
});

describe.skipIf(!isRoot)("writeIdMapping with denySetgroups on a real user namespace", () => {
  const c = containerForSuite(["unshare --user sleep 3612"], ["sleep 3612"]);

  it("writes `deny` to setgroups before the gid map, and the kernel keeps both", async () => {
    const target = await c().find("sleep 3612");
    const maps = [{ containerId: 0, hostId: 133332, size: 1 }];
    expect(await writeIdMapping(target.hostPid, "gid", maps, { denySetgroups: true })).toEqual({
      ok: true,
    });
    expect((await readFile(`/proc/${target.hostPid}/setgroups`, "utf8")).trim()).toBe("deny");
    const line = (await readFile(`/proc/${target.hostPid}/gid_map`, "utf8")).trim();
    expect(line.split(/\s+/).map(Number)).toEqual([0, 133332, 1]);
    // setgroups can no longer be allowed once a gid map exists
    const again = await writeIdMapping(target.hostPid, "gid", maps, { denySetgroups: true });
    expect(again).toMatchObject({ ok: false, code: "EPERM" });
  });
});
