import { mkdir, readdir, readFile, symlink, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { beforeEach, describe, expect, it } from "vitest";
import type { SnapshotRecord, WorkspaceRecord } from "../../src/content/index.js";
import {
  recoverWorkspaces,
  type StartupRecoveryContext,
} from "../../src/content/startup-recovery.js";
import { WorkspaceStateStore } from "../../src/content/state-store.js";
import { WorkspaceDisk } from "../../src/content/workspace-disk.js";
import { recoverRecord } from "../../src/content/workspace-recovery.js";
import { WorkspaceRegistry } from "../../src/content/workspace-registry.js";
import type { LogFields, LogLevel } from "../../src/platform/index.js";
import type {
  QuotaEnforcer,
  QuotaRecoveryReport,
  QuotaStatus,
  QuotaWorkspaceRef,
} from "../../src/quota/index.js";
import { useContentArea, workspaceRecord } from "./fixtures.js";

const NOW = "2026-02-02T02:02:02.000Z";
const BEFORE = "2026-01-01T00:00:00.000Z";

const snapshot = (snapshotId: string, over: Partial<SnapshotRecord>): SnapshotRecord => ({
  snapshotId,
  state: "done",
  startedAt: BEFORE,
  ...over,
});

describe("recoverRecord", () => {
  it("fails an init that was SETTING_UP: state none, initFailure, no init result", () => {
    const record = workspaceRecord("ws", {
      state: "setting-up",
      initResult: { source: "from-other", stats: [], finishedAt: BEFORE },
    });
    expect(recoverRecord(record, NOW)).toEqual({ action: "init-failed", changed: true });
    expect(record).toEqual(
      workspaceRecord("ws", {
        state: "none",
        initFailure: {
          kind: "internal",
          message: "daemon restarted during initialization",
          failedAt: NOW,
        },
        updatedAt: NOW,
      }),
    );
  });

  it("puts a WRAPPING_UP workspace back to AVAILABLE and keeps what it had", () => {
    const initResult = { source: "from-backup" as const, stats: [], finishedAt: BEFORE };
    const record = workspaceRecord("ws", { state: "wrapping-up", initResult });
    expect(recoverRecord(record, NOW)).toEqual({ action: "back-to-available", changed: true });
    expect(record).toEqual(
      workspaceRecord("ws", { state: "available", initResult, updatedAt: NOW }),
    );
  });

  it.each<[string, Partial<WorkspaceRecord>]>([
    ["available", { state: "available" }],
    [
      "failed init",
      { state: "none", initFailure: { kind: "not-found", message: "gone", failedAt: BEFORE } },
    ],
    [
      "finished snapshots",
      {
        snapshots: [
          snapshot("a", { state: "done", url: "u", finishedAt: BEFORE }),
          snapshot("b", {
            state: "failed",
            finishedAt: BEFORE,
            error: { kind: "internal", message: "x" },
          }),
        ],
      },
    ],
  ])("leaves a settled record (%s) exactly as it was", (_name, over) => {
    const record = workspaceRecord("ws", over);
    expect(recoverRecord(record, NOW)).toEqual({ action: "none", changed: false });
    expect(record).toEqual(workspaceRecord("ws", over));
  });

  it("fails queued and running snapshots and leaves finished ones alone", () => {
    const done = snapshot("done", { state: "done", url: "u", finishedAt: BEFORE });
    const record = workspaceRecord("ws", {
      snapshots: [
        done,
        snapshot("queued", { state: "queued" }),
        snapshot("running", { state: "running", url: "planned" }),
      ],
    });
    expect(recoverRecord(record, NOW)).toEqual({ action: "none", changed: true });
    const lost = {
      kind: "unavailable" as const,
      message: "daemon restarted before the snapshot finished",
    };
    expect(record.snapshots).toEqual([
      done,
      snapshot("queued", { state: "failed", finishedAt: NOW, error: lost }),
      snapshot("running", { state: "failed", url: "planned", finishedAt: NOW, error: lost }),
    ]);
    expect(record.state).toBe("available");
    expect(record.updatedAt).toBe(NOW);
  });
});

/** Records what recovery asks of the quota; chosen workspaces fail to recover or release. */
class RecordingQuota implements QuotaEnforcer {
  readonly method = "none" as const;
  readonly reason = "test";
  readonly recovered: string[][] = [];
  readonly released: string[] = [];
  readonly failRecover = new Map<string, string>();
  readonly failRelease = new Map<string, Error>();

  async prepare(_id: string, _dir: string, quotaBytes: number): Promise<QuotaStatus> {
    return { method: "none", phase: "hard", quotaBytes, limitBytes: 0 };
  }
  async enforce(_id: string, _dir: string, quotaBytes: number): Promise<QuotaStatus> {
    return { method: "none", phase: "hard", quotaBytes, limitBytes: 0 };
  }
  async release(workspaceId: string): Promise<void> {
    const failure = this.failRelease.get(workspaceId);
    if (failure) throw failure;
    this.released.push(workspaceId);
  }
  async recover(workspaces: readonly QuotaWorkspaceRef[]): Promise<QuotaRecoveryReport> {
    const ids = workspaces.map((w) => w.workspaceId);
    this.recovered.push(ids);
    const failed = ids.flatMap((workspaceId) => {
      const error = this.failRecover.get(workspaceId);
      return error === undefined ? [] : [{ workspaceId, error }];
    });
    return { recovered: [], withoutQuota: [], failed, orphans: [] };
  }
  async usage(): Promise<undefined> {
    return undefined;
  }
}

describe("recoverWorkspaces", () => {
  const area = useContentArea();
  let workingArea: string;
  let stateDir: string;
  let quota: RecordingQuota;
  let logs: { level: LogLevel; message: string; fields: LogFields | undefined }[];

  beforeEach(async () => {
    workingArea = area.dirs.area;
    stateDir = join(workingArea, ".state");
    await mkdir(stateDir, { recursive: true });
    quota = new RecordingQuota();
    logs = [];
  });

  /** Written compactly: a file the recovery rewrites comes back pretty-printed. */
  const persist = (record: WorkspaceRecord) =>
    writeFile(join(stateDir, `${record.id}.json`), JSON.stringify(record));
  const onDisk = async (id: string) => readFile(join(stateDir, `${id}.json`), "utf8");
  const withContent = async (id: string) => {
    await mkdir(join(workingArea, id), { recursive: true });
    await writeFile(join(workingArea, id, "work.txt"), `work of ${id}`);
  };

  const recover = async (over: Partial<StartupRecoveryContext> = {}) => {
    const registry = new WorkspaceRegistry();
    const report = await recoverWorkspaces({
      stateStore: new WorkspaceStateStore(stateDir),
      registry,
      disk: new WorkspaceDisk(workingArea, quota, () => undefined),
      log: (level, message, fields) => logs.push({ level, message, fields }),
      nowIso: NOW,
      removeOrphanedContent: false,
      ...over,
    });
    return { report, registry };
  };

  it("fails interrupted inits (content removed), reopens interrupted disposals (content kept)", async () => {
    await persist(workspaceRecord("setting", { state: "setting-up" }));
    await persist(workspaceRecord("wrapping", { state: "wrapping-up" }));
    await persist(workspaceRecord("ready"));
    await withContent("setting");
    await withContent("wrapping");
    await withContent("ready");

    const { report, registry } = await recover();

    expect(report).toEqual({
      failedInits: ["setting"],
      backToAvailable: ["wrapping"],
      unreadable: [],
      orphans: [],
      trash: [],
    });
    expect(await readdir(workingArea)).toEqual(expect.arrayContaining(["wrapping", "ready"]));
    expect(await readdir(workingArea)).not.toContain("setting");
    expect(quota.released).toEqual(["setting"]);
    expect(JSON.parse(await onDisk("setting"))).toMatchObject({
      state: "none",
      initFailure: { kind: "internal", failedAt: NOW },
      updatedAt: NOW,
    });
    expect(JSON.parse(await onDisk("wrapping"))).toMatchObject({
      state: "available",
      updatedAt: NOW,
    });
    // unchanged records are not rewritten
    expect(await onDisk("ready")).toBe(JSON.stringify(workspaceRecord("ready")));
    expect(registry.all().map((e) => [e.record.id, e.record.state])).toEqual([
      ["ready", "available"],
      ["setting", "none"],
      ["wrapping", "available"],
    ]);
    // nothing is running for a loaded workspace: waiting for its init returns at once
    for (const entry of registry.all()) {
      expect(entry.disposed).toBe(false);
      await entry.initSettled.promise;
    }
  });

  it("restores the quota of quota-limited content only, and blocks archiving where that fails", async () => {
    await persist(workspaceRecord("limited", { storageQuotaBytes: 100 }));
    await persist(workspaceRecord("broken-image", { storageQuotaBytes: 100 }));
    await persist(workspaceRecord("unlimited"));
    await persist(
      workspaceRecord("was-setting-up", { state: "setting-up", storageQuotaBytes: 100 }),
    );
    await persist(
      workspaceRecord("was-wrapping-up", { state: "wrapping-up", storageQuotaBytes: 100 }),
    );
    quota.failRecover.set("broken-image", "mount failed");

    const { registry } = await recover();

    expect(quota.recovered).toEqual([["broken-image", "limited", "was-wrapping-up"]]);
    expect(registry.get("broken-image")?.archiveBlocked).toBe(
      "its quota-limited content could not be mounted (mount failed)",
    );
    for (const id of ["limited", "unlimited", "was-setting-up", "was-wrapping-up"]) {
      expect(registry.get(id)?.archiveBlocked).toBeUndefined();
    }
    expect(logs).toContainEqual({
      level: "error",
      message: "cannot restore the storage quota of a workspace",
      fields: { id: "broken-image", reason: "mount failed" },
    });
  });

  it("a workspace that cannot be repaired is logged and loaded; the others are repaired", async () => {
    await persist(workspaceRecord("stuck", { state: "setting-up" }));
    await persist(workspaceRecord("fine", { state: "setting-up" }));
    await withContent("stuck");
    const busy = new Error("device busy");
    quota.failRelease.set("stuck", busy);

    const { report, registry } = await recover();

    expect(report.failedInits).toEqual(["fine"]);
    expect(logs).toContainEqual({
      level: "error",
      message: "cannot repair a workspace after the restart",
      fields: { id: "stuck", err: busy },
    });
    expect(registry.get("stuck")?.record.state).toBe("none");
    expect(JSON.parse(await onDisk("fine"))).toMatchObject({ state: "none" });
    expect(await readFile(join(workingArea, "stuck", "work.txt"), "utf8")).toBe("work of stuck");
  });

  it("keeps the id of an unreadable state file taken and its file in place", async () => {
    await writeFile(join(stateDir, "torn.json"), "{torn");
    await writeFile(join(stateDir, "not a name.json"), "{torn");
    await withContent("torn");

    const { report, registry } = await recover({ removeOrphanedContent: true });

    expect(report.unreadable).toEqual([
      { file: join(stateDir, "not a name.json"), error: expect.stringContaining("JSON") },
      { file: join(stateDir, "torn.json"), error: expect.stringContaining("JSON") },
    ]);
    expect(registry.claims("torn")).toBe(true);
    expect(registry.claims("not a name")).toBe(false);
    expect(registry.all()).toEqual([]);
    expect(report.orphans).toEqual([]);
    expect(await readFile(join(workingArea, "torn", "work.txt"), "utf8")).toBe("work of torn");
    expect(await onDisk("torn")).toBe("{torn");
    const logged = logs.filter((l) => l.message.startsWith("unreadable workspace state file"));
    expect(logged.map((l) => l.fields?.file)).toEqual([
      join(stateDir, "not a name.json"),
      join(stateDir, "torn.json"),
    ]);
    for (const l of logged) expect(l.fields?.err).toBeInstanceOf(SyntaxError);
  });

  it("reports content of no workspace and removes it (quota first) only when configured", async () => {
    await persist(workspaceRecord("known"));
    await withContent("known");
    await withContent("orphan");
    await mkdir(join(workingArea, ".daemon-own"));

    const kept = await recover();
    expect(kept.report.orphans).toEqual(["orphan"]);
    expect(await readFile(join(workingArea, "orphan", "work.txt"), "utf8")).toBe("work of orphan");
    expect(quota.released).toEqual([]);
    expect(logs).toContainEqual({
      level: "warn",
      message: "working area holds content of no workspace",
      fields: { orphans: ["orphan"], removed: false },
    });

    const removed = await recover({ removeOrphanedContent: true });
    expect(removed.report.orphans).toEqual(["orphan"]);
    expect(quota.released).toEqual(["orphan"]);
    // Removed through the trash (issue 17, finding 3), which stays behind, empty.
    expect((await readdir(workingArea)).sort()).toEqual([
      ".daemon-own",
      ".state",
      ".trash",
      "known",
    ]);
    expect(await readdir(join(workingArea, ".trash"))).toEqual([]);
  });

  it("deletes what an interrupted delete left in the trash, following no link in it", async () => {
    await persist(workspaceRecord("known"));
    await withContent("known");
    const canary = join(workingArea, "..", "canary");
    await mkdir(canary, { recursive: true });
    await writeFile(join(canary, "work.txt"), "canary");
    const leftover = join(workingArea, ".trash", "gone-1a2b3c");
    await mkdir(join(leftover, "deep", "er"), { recursive: true });
    await writeFile(join(leftover, "deep", "er", "file"), "x");
    await symlink(canary, join(leftover, "deep", "link"));
    await writeFile(join(workingArea, ".trash", "stray"), "x");

    const { report } = await recover();

    expect(report.trash.sort()).toEqual(["gone-1a2b3c", "stray"]);
    expect(await readdir(join(workingArea, ".trash"))).toEqual([]);
    expect(await readFile(join(canary, "work.txt"), "utf8")).toBe("canary");
    expect(await readFile(join(workingArea, "known", "work.txt"), "utf8")).toBe("work of known");
    expect(logs).toContainEqual({
      level: "info",
      message: "deleted what interrupted deletes left in the trash",
      fields: { entries: report.trash },
    });
  });
});
