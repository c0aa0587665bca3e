import { afterAll, describe, expect, it } from "vitest";
import { NodeProcessRunner } from "../../src/platform/index.js";
import { detectQuotaEnforcer } from "../../src/quota/index.js";
import { parseMountInfo } from "../../src/quota/mount-info.js";
import { cleanupAll, collectLog, makeTempDir } from "./quota-fixtures.js";

afterAll(() => cleanupAll());

const runner = new NodeProcessRunner();

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

describe("detectQuotaEnforcer without root or without quota", () => {
  it("without root: none, with the reason logged as a warning", async () => {
    const { lines, log } = collectLog();
    const enforcer = await detectQuotaEnforcer(makeTempDir("detect-nonroot"), {
      runner,
      log,
      isRoot: false,
    });
    const notUsed = [
      "xfs-project: the daemon does not run as root",
      "loop-image: the daemon does not run as root",
    ];
    expect(enforcer.method).toBe("none");
    expect(enforcer.reason).toBe(`no quota mechanism: ${notUsed.join("; ")}`);
    expect(lines).toEqual([
      {
        level: "warn",
        message: "storage quota method",
        fields: { method: "none", reason: enforcer.reason, notUsed },
      },
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
});
