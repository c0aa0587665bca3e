import { mkdir, rm, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import type { ProcessRunner, RunResult } from "../../src/platform/process.js";
import { NodeProcessRunner } from "../../src/platform/process.js";
import { QuotaError } from "../../src/quota/quota-enforcer.js";
import {
  parseProjectReport,
  XfsProjectQuotaEnforcer,
} from "../../src/quota/xfs-project-enforcer.js";
import {
  cleanupAll,
  errorCode,
  MIB,
  makeTempDir,
  mountTestXfs,
  writeBytes,
} from "./quota-fixtures.js";

const QUOTA = 16 * MIB;
const ok = (stdout = "", stderr = ""): RunResult => ({ exitCode: 0, signal: null, stdout, stderr });

/** Answers xfs_quota like the real tool (exit code 0 even on errors) from a table of project usage. */
class ScriptedXfsQuota implements ProcessRunner {
  readonly commands: string[] = [];
  usage = new Map<number, number>();
  stderrFor: ((command: string) => string | undefined) | undefined;

  async run(command: string, args: readonly string[]): Promise<RunResult> {
    if (command !== "xfs_quota") throw new Error(`unexpected ${command}`);
    const c = args[2] ?? "";
    this.commands.push(c);
    const stderr = this.stderrFor?.(c);
    if (stderr) return ok("", stderr);
    if (c.startsWith("report")) {
      const lines = [...this.usage].map(([id, kib]) => `#${id}  ${kib}  0  0  00 [--------]`);
      return ok(`${lines.join("\n")}\n`);
    }
    return ok();
  }
}

// File level: the real XFS filesystem below must outlive the first describe block.
afterAll(() => cleanupAll());

describe("XFS project quota: commands and bookkeeping (scripted xfs_quota)", () => {
  const setup = () => {
    const area = makeTempDir("xfs-scripted");
    const runner = new ScriptedXfsQuota();
    const make = () =>
      new XfsProjectQuotaEnforcer({ workingArea: area, mountPoint: "/xfs", runner });
    return { area, runner, enforcer: make(), make };
  };

  it("parses xfs_quota reports", () => {
    expect(
      parseProjectReport(
        "#0   12  0  0  00 [--------]\n#1001  2048  16384  32768  00 [--------]\n",
      ),
    ).toEqual([
      { projectId: 0, usedBytes: 12 * 1024, softBytes: 0, hardBytes: 0 },
      { projectId: 1001, usedBytes: 2048 * 1024, softBytes: 16 * MIB, hardBytes: 32 * MIB },
    ]);
  });

  it("allocates the lowest id not in use, lenient then hard limits, release frees the id", async () => {
    const { area, runner, enforcer } = setup();
    // Files of a deleted workspace still charged to 1000: that id must not be handed out.
    runner.usage.set(1000, 64);
    const dirA = join(area, "a");
    const lenient = await enforcer.prepare("a", dirA, QUOTA, { sizeHint: 20 * MIB });
    expect(lenient).toMatchObject({ phase: "lenient", limitBytes: 40 * MIB });
    expect(runner.commands.slice(-2)).toEqual([
      `project -s -p ${dirA} 1001`,
      `limit -p bsoft=${QUOTA} bhard=${40 * MIB} 1001`,
    ]);
    await enforcer.prepare("b", join(area, "b"), QUOTA);
    expect(runner.commands.at(-1)).toBe(`limit -p bsoft=${QUOTA} bhard=${2 * QUOTA} 1002`);

    expect(await enforcer.enforce("a", dirA, QUOTA)).toMatchObject({
      phase: "hard",
      limitBytes: QUOTA,
    });
    expect(runner.commands.at(-1)).toBe(`limit -p bsoft=${QUOTA} bhard=${QUOTA} 1001`);

    await enforcer.release("a", dirA);
    expect(runner.commands.at(-1)).toBe("limit -p bsoft=0 bhard=0 1001");
    await enforcer.release("a", dirA);
    expect(runner.commands.at(-1)).toBe("limit -p bsoft=0 bhard=0 1001");
    await enforcer.prepare("c", join(area, "c"), QUOTA);
    expect(runner.commands.at(-1)).toContain(" 1001");
  });

  it("a restarted daemon re-applies the same project id and phase", async () => {
    const { area, runner, enforcer, make } = setup();
    const dir = join(area, "w");
    await enforcer.prepare("w", dir, QUOTA);
    await enforcer.enforce("w", dir, QUOTA);
    await enforcer.prepare("lost", join(area, "lost"), QUOTA);
    runner.commands.length = 0;
    const report = await make().recover([
      { workspaceId: "w", contentDir: dir },
      { workspaceId: "plain", contentDir: join(area, "plain") },
    ]);
    expect(report).toEqual({
      recovered: ["w"],
      withoutQuota: ["plain"],
      failed: [],
      orphans: ["lost"],
    });
    expect(runner.commands).toEqual([
      `project -s -d 0 -p ${dir} 1000`,
      `limit -p bsoft=${QUOTA} bhard=${QUOTA} 1000`,
    ]);
  });

  it("treats xfs_quota's stderr as failure although it exits 0", async () => {
    const { area, runner, enforcer } = setup();
    runner.stderrFor = (c) => (c.startsWith("limit") ? "xfs_quota: cannot set limits" : undefined);
    await expect(enforcer.prepare("e", join(area, "e"), QUOTA)).rejects.toThrow(
      /cannot set limits/,
    );
  });

  it("refuses paths xfs_quota's command line cannot carry", async () => {
    const { area, enforcer } = setup();
    await expect(enforcer.prepare("s", join(area, "with space"), QUOTA)).rejects.toBeInstanceOf(
      QuotaError,
    );
  });
});

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
