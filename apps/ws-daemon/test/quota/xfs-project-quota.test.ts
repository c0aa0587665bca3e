import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import {
  parseProjectReport,
  XfsProjectQuotaEnforcer,
} from "../../src/quota/xfs-project-enforcer.js";
import { ScriptedProcessRunner, succeeded } from "../support/process-runners.js";
import { cleanupAll, MIB, makeTempDir } from "./quota-fixtures.js";

const QUOTA = 16 * MIB;

/**
 * xfs_quota as the real tool answers (exit code 0 even on errors), from a table of project usage
 * in KiB; any other command is a test failure.
 */
const scriptedXfsQuota = () => {
  const usage = new Map<number, number>();
  const xfs: { stderrFor?: (command: string) => string | undefined } = {};
  const runner = new ScriptedProcessRunner(
    (command, args) => {
      if (command !== "xfs_quota") return undefined;
      const c = args[2] ?? "";
      const stderr = xfs.stderrFor?.(c);
      if (stderr) return { ...succeeded(), stderr };
      if (!c.startsWith("report")) return succeeded();
      const lines = [...usage].map(([id, kib]) => `#${id}  ${kib}  0  0  00 [--------]`);
      return succeeded(`${lines.join("\n")}\n`);
    },
    (command) => {
      throw new Error(`unexpected ${command}`);
    },
  );
  /** The -c command of every xfs_quota call so far. */
  const commands = () => runner.calls.map((call) => call.args[2] ?? "");
  return { runner, usage, xfs, commands };
};

afterAll(() => cleanupAll());

describe("XFS project quota: commands and bookkeeping (scripted xfs_quota)", () => {
  const setup = () => {
    const area = makeTempDir("xfs-scripted");
    const scripted = scriptedXfsQuota();
    const make = () =>
      new XfsProjectQuotaEnforcer({
        workingArea: area,
        mountPoint: "/xfs",
        runner: scripted.runner,
      });
    return { area, ...scripted, enforcer: make(), make };
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
    const { area, usage, commands, enforcer } = setup();
    // Files of a deleted workspace still charged to 1000: that id must not be handed out.
    usage.set(1000, 64);
    const dirA = join(area, "a");
    const lenient = await enforcer.prepare("a", dirA, QUOTA, { sizeHint: 20 * MIB });
    expect(lenient).toMatchObject({ phase: "lenient", limitBytes: 40 * MIB });
    expect(commands().slice(-2)).toEqual([
      `project -s -p ${dirA} 1001`,
      `limit -p bsoft=${QUOTA} bhard=${40 * MIB} 1001`,
    ]);
    await enforcer.prepare("b", join(area, "b"), QUOTA);
    expect(commands().at(-1)).toBe(`limit -p bsoft=${QUOTA} bhard=${2 * QUOTA} 1002`);

    expect(await enforcer.enforce("a", dirA, QUOTA)).toMatchObject({
      phase: "hard",
      limitBytes: QUOTA,
    });
    expect(commands().at(-1)).toBe(`limit -p bsoft=${QUOTA} bhard=${QUOTA} 1001`);

    await enforcer.release("a", dirA);
    expect(commands().at(-1)).toBe("limit -p bsoft=0 bhard=0 1001");
    await enforcer.release("a", dirA);
    expect(commands().at(-1)).toBe("limit -p bsoft=0 bhard=0 1001");
    await enforcer.prepare("c", join(area, "c"), QUOTA);
    expect(commands().at(-1)).toContain(" 1001");
  });

  it("a restarted daemon re-applies the same project id and phase", async () => {
    const { area, runner, commands, enforcer, make } = setup();
    const dir = join(area, "w");
    await enforcer.prepare("w", dir, QUOTA);
    await enforcer.enforce("w", dir, QUOTA);
    await enforcer.prepare("lost", join(area, "lost"), QUOTA);
    runner.calls.splice(0);
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
    expect(commands()).toEqual([
      `project -s -d 0 -p ${dir} 1000`,
      `limit -p bsoft=${QUOTA} bhard=${QUOTA} 1000`,
    ]);
  });

  it("treats xfs_quota's stderr as failure although it exits 0", async () => {
    const { area, xfs, enforcer } = setup();
    xfs.stderrFor = (c) => (c.startsWith("limit") ? "xfs_quota: cannot set limits" : undefined);
    await expect(enforcer.prepare("e", join(area, "e"), QUOTA)).rejects.toThrow(
      /cannot set limits/,
    );
  });

  it("refuses paths xfs_quota's command line cannot carry", async () => {
    const { area, enforcer } = setup();
    await expect(enforcer.prepare("s", join(area, "with space"), QUOTA)).rejects.toMatchObject({
      name: "QuotaError",
      failure: "invalid-argument",
      message: `path unusable with xfs_quota: ${JSON.stringify(join(area, "with space"))}`,
    });
  });
});
