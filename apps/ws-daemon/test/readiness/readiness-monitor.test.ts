/**
 * The readiness checks on real directories and a real (missing, then present) runtime socket.
 * Free space below the threshold is produced by a threshold above the disk's size: the check
 * reads the real filesystem either way.
 */
import { existsSync } from "node:fs";
import { mkdir, mkdtemp, readdir, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import * as path from "node:path";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import type { LogFields, LogLevel } from "../../src/platform/index.js";
import {
  freeBytes,
  InsufficientDiskSpaceError,
  PROBE_FILE,
  ReadinessMonitor,
  type ReadinessOptions,
} from "../../src/readiness/index.js";
import { CriRuntime, ProcessRuntime } from "../../src/runtime/index.js";
import { FakeCriServer } from "../runtime/fake-cri-server.js";

let dir: string;
let area: string;
let lines: Array<{ level: LogLevel; message: string; fields: LogFields | undefined }>;
const cleanups: Array<() => Promise<void> | void> = [];

beforeEach(async () => {
  dir = await mkdtemp(path.join(tmpdir(), "wsd-readiness-"));
  area = path.join(dir, "workspaces");
  await mkdir(area);
  lines = [];
});
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
  await rm(dir, { recursive: true, force: true });
});

const monitor = (options: Partial<ReadinessOptions> = {}) =>
  new ReadinessMonitor({
    workingArea: area,
    minFreeBytes: 0,
    intervalMs: 60_000,
    runtime: new ProcessRuntime(),
    log: (level, message, fields) => lines.push({ level, message, fields }),
    ...options,
  });

describe("ReadinessMonitor", () => {
  it("is ready when the runtime answers and the working area takes data, leaving no file", async () => {
    const state = await monitor({ minFreeBytes: 1 }).check();
    expect(state).toMatchObject({ ready: true, failures: {} });
    const now = await freeBytes(area);
    expect(Math.abs((state.freeBytes ?? 0) - now)).toBeLessThan(512 * 1024 ** 2);
    expect(await readdir(area)).toEqual([]);
    expect(lines.map((l) => l.message)).toEqual(["ready: every check passes"]);
  });

  it("is not ready while the runtime socket does not answer, and says so once", async () => {
    const socketPath = path.join(dir, "cri.sock");
    const runtime = new CriRuntime({ socketPath });
    cleanups.push(() => runtime.close());
    const m = monitor({ runtime });
    const down = await m.check();
    expect(down.ready).toBe(false);
    expect(down.failures).toEqual({
      runtime: `container runtime unreachable at ${socketPath} (ENOENT) during Version`,
    });
    await m.check();
    const warnings = lines.filter((l) => l.level === "warn");
    expect(warnings).toHaveLength(1);
    expect(warnings[0]?.message).toBe(`not ready: ${down.failures.runtime}`);
    expect(warnings[0]?.fields).toMatchObject({ check: "runtime" });

    const cri = await FakeCriServer.start({ socketPath });
    cleanups.push(() => cri.stop());
    cleanups.push(() => runtime.close());
    expect((await m.check()).ready).toBe(true);
    expect(lines.slice(-2).map((l) => [l.level, l.message])).toEqual([
      ["info", "runtime check passes again"],
      ["info", "ready: every check passes"],
    ]);
  });

  it("is not ready when the working area is gone or is not a directory", async () => {
    await rm(area, { recursive: true });
    const gone = await monitor().check();
    expect(gone.ready).toBe(false);
    expect(gone.failures["working-area-writable"]).toMatch(/^cannot write to .*: ENOENT/);
    expect(gone.failures["disk-space"]).toMatch(/^cannot read the free space of .*: ENOENT/);
    await writeFile(area, "not a directory");
    const file = await monitor().check();
    expect(file.failures["working-area-writable"]).toMatch(/ENOTDIR/);
  });

  it("is not ready under the free-space threshold, and refuses new workspaces there", async () => {
    const huge = Number.MAX_SAFE_INTEGER;
    const m = monitor({ minFreeBytes: huge });
    const state = await m.check();
    expect(state.ready).toBe(false);
    expect(Object.keys(state.failures)).toEqual(["disk-space"]);
    expect(state.failures["disk-space"]).toMatch(
      /^\d+\.\d\d GiB free in .*workspaces, below the threshold of 8388608\.00 GiB$/,
    );
    const refused = await m.admitNewWorkspace()?.catch((e: unknown) => e);
    expect(refused).toBeInstanceOf(InsufficientDiskSpaceError);
    expect((refused as InsufficientDiskSpaceError).kind).toBe("resource-exhausted");
    expect((refused as Error).message).toMatch(
      /^the working area has \d+\.\d\d GiB free, less than the 8388608\.00 GiB a new workspace needs \(health\.minFreeBytes\)$/,
    );
    // Before any check there is no figure: it is read at the call.
    await expect(monitor({ minFreeBytes: 1 }).admitNewWorkspace()).resolves.toBeUndefined();
    expect(monitor({ minFreeBytes: 0 }).admitNewWorkspace()).toBeUndefined();
    // After a check that found enough, admission needs no I/O at all.
    const roomy = monitor({ minFreeBytes: 1 });
    await roomy.check();
    expect(roomy.admitNewWorkspace()).toBeUndefined();
  });

  it("reports every run, flagging the ones that changed something", async () => {
    const seen: Array<[boolean, boolean]> = [];
    const m = monitor({ onResult: (s, changed) => seen.push([s.ready, changed]) });
    await m.check();
    await m.check();
    await rm(area, { recursive: true });
    await m.check();
    expect(seen).toEqual([
      [true, true],
      [true, false],
      [false, true],
    ]);
  });

  it("re-checks on its interval until stopped", async () => {
    let runs = 0;
    const m = monitor({ intervalMs: 100, onResult: () => runs++ });
    await m.start();
    await new Promise((r) => setTimeout(r, 450));
    m.stop();
    const atStop = runs;
    expect(atStop).toBeGreaterThanOrEqual(3);
    await new Promise((r) => setTimeout(r, 250));
    expect(runs).toBe(atStop);
    expect(existsSync(path.join(area, PROBE_FILE))).toBe(false);
  });
});
