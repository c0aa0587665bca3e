import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { NodeProcessRunner } from "../../src/platform/index.js";
import { detectQuotaEnforcer } from "../../src/quota/index.js";
import { mountAt } from "../../src/quota/mount-info.js";
import { notRootReason } from "../support/env.js";
import {
  cleanupAll,
  collectLog,
  errorCode,
  isRoot,
  MIB,
  makeTempDir,
  mountTestXfs,
  writeBytes,
} from "./quota-fixtures.js";

afterAll(() => cleanupAll());

const runner = new NodeProcessRunner();

if (!isRoot) console.warn(notRootReason("[quota detect tests] probing as root"));

describe.skipIf(!isRoot)("detectQuotaEnforcer as root", () => {
  it("ext4 working area as root: loop-image, after saying why not XFS", async () => {
    const { lines, log } = collectLog();
    const enforcer = await detectQuotaEnforcer(makeTempDir("detect-ext4"), { runner, log });
    expect(enforcer.method).toBe("loop-image");
    expect(lines).toEqual([
      {
        level: "info",
        message: "storage quota method",
        fields: {
          method: "loop-image",
          reason: "per-workspace loop-mounted ext4 image",
          notUsed: ["xfs-project: the working area is not on XFS"],
        },
      },
    ]);
  });

  it("asking for XFS project quota where there is none fails clearly", async () => {
    await expect(
      detectQuotaEnforcer(makeTempDir("detect-forced"), { runner, method: "xfs-project" }),
    ).rejects.toMatchObject({ failure: "unavailable", message: /not on XFS/ });
  });
});

const plainXfs = mountTestXfs("detect-xfs-noquota", undefined);
if (!plainXfs.ok) console.warn(`[quota detect tests] XFS part skipped: ${plainXfs.reason}`);

describe.skipIf(!plainXfs.ok)("XFS working area without prjquota", () => {
  it("falls back to loop images, which work there too", async () => {
    const { lines, log } = collectLog();
    const area = join(plainXfs.mountPoint, "area");
    const enforcer = await detectQuotaEnforcer(area, { runner, log });
    expect(enforcer.method).toBe("loop-image");
    expect(String(lines[0]?.fields.notUsed)).toMatch(/without prjquota/);

    const dir = join(area, "ws");
    await enforcer.prepare("ws", dir, 16 * MIB, { lenient: false });
    expect((await mountAt(dir))?.fsType).toBe("ext4");
    expect(await errorCode(writeBytes(join(dir, "a"), 12 * MIB))).toBe("ok");
    expect(await errorCode(writeBytes(join(dir, "b"), 8 * MIB))).toBe("ENOSPC");
    await enforcer.release("ws", dir);
    expect(await mountAt(dir)).toBeUndefined();
  });
});
