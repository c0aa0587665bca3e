import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { NodeProcessRunner } from "../../src/platform/process.js";
import { detectQuotaEnforcer } from "../../src/quota/detect-quota-enforcer.js";
import { mountAt, parseMountInfo } from "../../src/quota/mount-info.js";
import type { QuotaLog } from "../../src/quota/quota-enforcer.js";
import {
  cleanupAll,
  errorCode,
  isRoot,
  MIB,
  makeTempDir,
  mountTestXfs,
  writeBytes,
} from "./quota-fixtures.js";

afterAll(() => cleanupAll());

const runner = new NodeProcessRunner();
const collect = () => {
  const lines: { level: string; message: string; fields: Record<string, unknown> }[] = [];
  const log: QuotaLog = (level, message, fields) => lines.push({ level, message, fields });
  return { lines, log };
};

describe("mountinfo parsing", () => {
  it("decodes escaped mount points and splits both option lists", () => {
    const [entry] = parseMountInfo(
      "36 35 7:0 / /mnt/with\\040space rw,nosuid shared:1 - xfs /dev/loop0 rw,attr2,prjquota\n",
    );
    expect(entry).toEqual({
      mountPoint: "/mnt/with space",
      mountOptions: ["rw", "nosuid"],
      fsType: "xfs",
      source: "/dev/loop0",
      superOptions: ["rw", "attr2", "prjquota"],
    });
  });
});

describe("detectQuotaEnforcer", () => {
  it("without root: none, with the reason logged as a warning", async () => {
    const { lines, log } = collect();
    const enforcer = await detectQuotaEnforcer(makeTempDir("detect-nonroot"), {
      runner,
      log,
      isRoot: false,
    });
    expect(enforcer.method).toBe("none");
    expect(enforcer.reason).toMatch(/root/);
    expect(lines).toEqual([
      expect.objectContaining({
        level: "warn",
        fields: expect.objectContaining({ method: "none" }),
      }),
    ]);
  });

  it("configured off: none", async () => {
    const enforcer = await detectQuotaEnforcer(makeTempDir("detect-off"), {
      runner,
      method: "none",
    });
    expect(enforcer.method).toBe("none");
    expect(enforcer.reason).toBe("disabled by configuration");
  });

  it.skipIf(!isRoot)(
    "ext4 working area as root: loop-image, after saying why not XFS",
    async () => {
      const { lines, log } = collect();
      const enforcer = await detectQuotaEnforcer(makeTempDir("detect-ext4"), { runner, log });
      expect(enforcer.method).toBe("loop-image");
      expect(lines[0]?.fields.notUsed).toEqual(["xfs-project: the working area is not on XFS"]);
    },
  );

  it.skipIf(!isRoot)("asking for XFS project quota where there is none fails clearly", async () => {
    await expect(
      detectQuotaEnforcer(makeTempDir("detect-forced"), { runner, method: "xfs-project" }),
    ).rejects.toMatchObject({ failure: "unavailable", message: /not on XFS/ });
  });
});

const plainXfs = mountTestXfs("detect-xfs-noquota", undefined);
if (!plainXfs.ok) console.warn(`[quota detect tests] XFS part skipped: ${plainXfs.reason}`);

describe.skipIf(!plainXfs.ok)("XFS working area without prjquota", () => {
  it("falls back to loop images, which work there too", async () => {
    const { lines, log } = collect();
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
