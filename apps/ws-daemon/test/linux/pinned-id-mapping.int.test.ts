import { constants } from "node:fs";
import { open, readFile } from "node:fs/promises";
import { describe, expect, it } from "vitest";
import { writeIdMapping } from "../../src/linux/id-mapping.js";
import { processStartTime } from "../../src/platform/index.js";
import { errorKind } from "./support/error-kind.js";
import { containerForSuite, isRoot } from "./support/fake-container.js";
import { recyclePid } from "./support/recycled-pid.js";

const startOf = async (hostPid: number): Promise<bigint> => {
  const started = await processStartTime(hostPid);
  if (started === undefined) throw new Error(`process ${hostPid} is gone`);
  return started;
};

const maps = [{ containerId: 0, hostId: 100000, size: 65536 }];

/**
 * WriteIDMapping writes /proc/<pid>/uid_map in Node: it must land in the process the daemon
 * checked, not in whatever process holds the number by the time of the write. These tests
 * recycle the number for real (the host's ns_last_pid), between the check and the write.
 */
describe.skipIf(!isRoot)("WriteIDMapping pins its pid", () => {
  const c = containerForSuite(
    ["unshare --user sleep 3621", "unshare --user sleep 3622", "unshare --user sleep 3623"],
    ["sleep 3621", "sleep 3622", "sleep 3623"],
  );

  it("on this kernel, a /proc/<pid> directory fd keeps meaning its process after the number is reused", async () => {
    const a = (await c().find("sleep 3621")).hostPid;
    const dir = await open(`/proc/${a}`, constants.O_RDONLY | constants.O_DIRECTORY);
    try {
      const b = await recyclePid(a, "unshare --user sleep 3691");
      try {
        // the number now names the new process ...
        expect(await readFile(`/proc/${a}/cmdline`, "utf8")).toBe("sleep\u00003691\u0000");
        // ... but the directory opened before stays the ended one: nothing of it can be opened
        const viaFd = await readFile(`/proc/self/fd/${dir.fd}/cmdline`, "utf8").catch(
          (e: NodeJS.ErrnoException) => e.code,
        );
        expect(viaFd).toBe("ESRCH");
        const mapViaFd = await open(`/proc/self/fd/${dir.fd}/uid_map`, "w").catch(
          (e: NodeJS.ErrnoException) => e.code,
        );
        expect(mapViaFd).toBe("ESRCH");
      } finally {
        await b.stop();
      }
    } finally {
      await dir.close();
    }
  });

  it("refuses a pid recycled after the check with FAILED_PRECONDITION and writes nothing into the new process", async () => {
    const a = (await c().find("sleep 3622")).hostPid;
    const checked = await startOf(a);
    const b = await recyclePid(a, "unshare --user sleep 3692");
    try {
      const write = writeIdMapping(a, "uid", maps, { startTime: checked });
      expect(await errorKind(write)).toBe("failed-precondition");
      const err = await writeIdMapping(a, "gid", maps, {
        startTime: checked,
        denySetgroups: true,
      }).catch((e: unknown) => e);
      expect(String(err)).toMatch(/its pid was reused.*nothing was changed/);
      expect(await readFile(`/proc/${b.pid}/uid_map`, "utf8")).toBe("");
      expect(await readFile(`/proc/${b.pid}/gid_map`, "utf8")).toBe("");
      expect((await readFile(`/proc/${b.pid}/setgroups`, "utf8")).trim()).toBe("allow");
    } finally {
      await b.stop();
    }
  });

  it("writes the maps of the process whose start time was checked", async () => {
    const a = (await c().find("sleep 3623")).hostPid;
    const checked = await startOf(a);
    expect(await writeIdMapping(a, "uid", maps, { startTime: checked })).toEqual({ ok: true });
    expect(
      await writeIdMapping(a, "gid", maps, { startTime: checked, denySetgroups: true }),
    ).toEqual({ ok: true });
    for (const f of ["uid_map", "gid_map"]) {
      const line = (await readFile(`/proc/${a}/${f}`, "utf8")).trim();
      expect(line.split(/\s+/).map(Number)).toEqual([0, 100000, 65536]);
    }
    expect((await readFile(`/proc/${a}/setgroups`, "utf8")).trim()).toBe("deny");
  });
});
