import { mkdir, rm, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { NodeProcessRunner } from "../../src/platform/index.js";
import { XfsProjectQuotaEnforcer } from "../../src/quota/index.js";
import { cleanupAll, errorCode, MIB, mountTestXfs, writeBytes } from "./quota-fixtures.js";

const QUOTA = 16 * MIB;

afterAll(() => cleanupAll());

const xfs = mountTestXfs("xfs-prjquota", "prjquota");
if (!xfs.ok) console.warn(`[quota XFS tests] real XFS project quota part skipped: ${xfs.reason}`);

describe.skipIf(!xfs.ok)("XFS project quota on a real prjquota filesystem", () => {
  it("limits a workspace, lenient then hard; release lifts the limit", async () => {
    const area = join(xfs.mountPoint, "area");
    await mkdir(area);
    const runner = new NodeProcessRunner();
    const enforcer = new XfsProjectQuotaEnforcer({
      workingArea: area,
      mountPoint: xfs.mountPoint,
      runner,
    });
    const dir = join(area, "ws");
    await enforcer.prepare("ws", dir, QUOTA);
    await enforcer.prepare("ws", dir, QUOTA);
    // Lenient: beyond the quota, within twice of it.
    await writeBytes(join(dir, "restored"), QUOTA + 4 * MIB);
    await rm(join(dir, "restored"));
    await writeBytes(join(dir, "kept"), 8 * MIB);
    await enforcer.enforce("ws", dir, QUOTA);
    await enforcer.enforce("ws", dir, QUOTA);
    expect(await errorCode(writeBytes(join(dir, "within"), 6 * MIB))).toBe("ok");
    // XFS answers ENOSPC (not EDQUOT) when a project quota is exceeded.
    expect(["ENOSPC", "EDQUOT"]).toContain(
      await errorCode(writeBytes(join(dir, "beyond"), 4 * MIB)),
    );
    const usage = await enforcer.usage("ws", dir);
    expect(usage?.limitBytes).toBe(QUOTA);
    expect(usage?.usedBytes).toBeGreaterThan(12 * MIB);

    // After a restart the same id keeps limiting.
    const report = await new XfsProjectQuotaEnforcer({
      workingArea: area,
      mountPoint: xfs.mountPoint,
      runner,
    }).recover([{ workspaceId: "ws", contentDir: dir }]);
    expect(report.recovered).toEqual(["ws"]);
    expect(["ENOSPC", "EDQUOT"]).toContain(
      await errorCode(writeBytes(join(dir, "beyond2"), 4 * MIB)),
    );

    await enforcer.release("ws", dir);
    await enforcer.release("ws", dir);
    expect(await errorCode(writeBytes(join(dir, "free"), 8 * MIB))).toBe("ok");
    await writeFile(join(dir, "x"), "x");
  });
});
