import { mkdir, stat } from "node:fs/promises";
import { runChecked } from "../platform/index.js";
import {
  checkQuotaBytes,
  checkWorkspaceId,
  enforceUnprepared,
  type PrepareQuotaOptions,
  type QuotaEnforcer,
  type QuotaEnforcerOptions,
  type QuotaRecoveryReport,
  type QuotaStatus,
  type QuotaUsage,
  type QuotaWorkspaceRef,
} from "./quota-enforcer.js";
import { QuotaError, toQuotaFailure } from "./quota-error.js";
import type { QuotaRecord } from "./quota-records.js";
import { RecordedQuotaEnforcer } from "./recorded-enforcer.js";

export interface XfsProjectQuotaOptions extends QuotaEnforcerOptions {
  /** Mount point of the XFS filesystem that holds the working area (xfs_quota's target). */
  mountPoint: string;
  /** Project ids handed out, [first, end). Default [1000, 10000) like upstream. */
  projectIds?: { first: number; end: number };
}

export interface ProjectReportLine {
  projectId: number;
  usedBytes: number;
  softBytes: number;
  hardBytes: number;
}

/** `report -p -N -n -b`: lines `#<id> <used> <soft> <hard> <warn> [grace]`, numbers in KiB. */
export const parseProjectReport = (text: string): ProjectReportLine[] => {
  const lines: ProjectReportLine[] = [];
  for (const line of text.split("\n")) {
    const m = /^#(\d+)\s+(\d+)\s+(\d+)\s+(\d+)/.exec(line.trim());
    if (!m) continue;
    lines.push({
      projectId: Number(m[1]),
      usedBytes: Number(m[2]) * 1024,
      softBytes: Number(m[3]) * 1024,
      hardBytes: Number(m[4]) * 1024,
    });
  }
  return lines;
};

/** Paths go into xfs_quota's own command line (-c), which splits on blanks and knows no quoting. */
const checkCommandSafePath = (path: string): void => {
  if (/[\s"'\\]/.test(path)) {
    throw new QuotaError(
      "invalid-argument",
      `path unusable with xfs_quota: ${JSON.stringify(path)}`,
    );
  }
};

/** Quota limits are kept in 512-byte basic blocks and reported in KiB: round up to KiB. */
const kib = (bytes: number): number => Math.ceil(bytes / 1024) * 1024;

/**
 * XFS project quota, as upstream: every workspace's content directory gets its own project id
 * (inherited by everything created below it) and a block limit on that id. The id is persisted in
 * the quota record, so a restarted daemon re-applies the same limit to the same id.
 */
export class XfsProjectQuotaEnforcer extends RecordedQuotaEnforcer implements QuotaEnforcer {
  readonly method = "xfs-project" as const;
  readonly reason: string;
  private readonly ids: { first: number; end: number };

  constructor(private readonly options: XfsProjectQuotaOptions) {
    super(options);
    this.ids = options.projectIds ?? { first: 1000, end: 10000 };
    this.reason = options.reason ?? `XFS project quota on ${options.mountPoint}`;
  }

  /** xfs_quota exits 0 even when a command fails, so anything on stderr counts as failure. */
  private async xfsQuota(command: string): Promise<string> {
    const result = await runChecked(
      this.options.runner,
      "xfs_quota",
      ["-x", "-c", command, this.options.mountPoint],
      { toError: toQuotaFailure },
    );
    if (result.stderr.trim() !== "") {
      throw new QuotaError("failed", `xfs_quota -c '${command}' failed: ${result.stderr.trim()}`);
    }
    return result.stdout;
  }

  private async setLimit(projectId: number, soft: number, hard: number): Promise<void> {
    await this.xfsQuota(`limit -p bsoft=${kib(soft)} bhard=${kib(hard)} ${projectId}`);
  }

  private limitsOf(record: QuotaRecord): { soft: number; hard: number } {
    return record.phase === "hard"
      ? { soft: record.quotaBytes, hard: record.quotaBytes }
      : { soft: record.quotaBytes, hard: record.limitBytes };
  }

  private status(record: QuotaRecord): QuotaStatus {
    return {
      method: this.method,
      phase: record.phase,
      quotaBytes: record.quotaBytes,
      limitBytes: kib(this.limitsOf(record).hard),
    };
  }

  async report(): Promise<ProjectReportLine[]> {
    return parseProjectReport(await this.xfsQuota("report -p -N -n -b"));
  }

  /** Lowest id in range used by no record and charged with no blocks (files of a deleted workspace may linger). */
  private async allocateProjectId(): Promise<number> {
    const taken = new Set<number>();
    for (const r of await this.records.list()) if (r.projectId) taken.add(r.projectId);
    for (const line of await this.report()) if (line.usedBytes > 0) taken.add(line.projectId);
    for (let id = this.ids.first; id < this.ids.end; id++) if (!taken.has(id)) return id;
    throw new QuotaError("failed", "no free XFS project id left");
  }

  async prepare(
    workspaceId: string,
    contentDir: string,
    quotaBytes: number,
    options: PrepareQuotaOptions = {},
  ): Promise<QuotaStatus> {
    checkWorkspaceId(workspaceId);
    checkQuotaBytes(quotaBytes);
    checkCommandSafePath(contentDir);
    await mkdir(contentDir, { recursive: true, mode: 0o755 });
    if (quotaBytes === 0) {
      return { method: this.method, phase: "hard", quotaBytes: 0, limitBytes: 0 };
    }
    const { phase, limitBytes } = this.initialLimit(quotaBytes, options);
    // Allocation reads every record: one at a time across workspaces.
    const record = await this.queue.run("\0allocate", async () => {
      const existing = await this.records.get(workspaceId);
      const r: QuotaRecord = {
        version: 1,
        workspaceId,
        method: this.method,
        quotaBytes,
        phase,
        limitBytes,
        projectId: existing?.projectId ?? (await this.allocateProjectId()),
      };
      await this.records.put(r);
      return r;
    });
    return this.queue.run(workspaceId, async () => {
      const id = record.projectId as number;
      await this.xfsQuota(`project -s -p ${contentDir} ${id}`);
      const { soft, hard } = this.limitsOf(record);
      await this.setLimit(id, soft, hard);
      this.log("info", "workspace quota prepared", { workspaceId, projectId: id, phase });
      return this.status(record);
    });
  }

  async enforce(
    workspaceId: string,
    _contentDir: string,
    quotaBytes: number,
  ): Promise<QuotaStatus> {
    checkWorkspaceId(workspaceId);
    checkQuotaBytes(quotaBytes);
    return this.queue.run(workspaceId, async () => {
      const record = await this.records.get(workspaceId);
      if (!record) return enforceUnprepared(this.method, workspaceId, quotaBytes);
      record.phase = "hard";
      record.quotaBytes = quotaBytes;
      record.limitBytes = quotaBytes;
      await this.setLimit(record.projectId as number, quotaBytes, quotaBytes);
      await this.records.put(record);
      this.log("info", "workspace quota enforced", { workspaceId, projectId: record.projectId });
      return this.status(record);
    });
  }

  async release(workspaceId: string, _contentDir: string): Promise<void> {
    checkWorkspaceId(workspaceId);
    await this.queue.run(workspaceId, async () => {
      const record = await this.records.get(workspaceId);
      if (!record) return;
      // Limit 0 = unlimited. The id only returns to the pool once its files are gone (see allocate).
      await this.setLimit(record.projectId as number, 0, 0);
      await this.records.remove(workspaceId);
    });
  }

  async recover(workspaces: readonly QuotaWorkspaceRef[]): Promise<QuotaRecoveryReport> {
    return this.recoverRecorded(workspaces, async ({ workspaceId, contentDir }) => {
      const record = await this.records.get(workspaceId);
      if (!record) return false;
      checkCommandSafePath(contentDir);
      await stat(contentDir);
      // Project ids and limits live on disk; applying them again repairs a half-done prepare.
      // Depth 0 marks the directory itself: what is below inherited the id when created, and a
      // full walk of every workspace at each start would be slow.
      await this.queue.run(workspaceId, async () => {
        await this.xfsQuota(`project -s -d 0 -p ${contentDir} ${record.projectId}`);
        const { soft, hard } = this.limitsOf(record);
        await this.setLimit(record.projectId as number, soft, hard);
      });
      return true;
    });
  }

  async usage(workspaceId: string, _contentDir: string): Promise<QuotaUsage | undefined> {
    checkWorkspaceId(workspaceId);
    const record = await this.records.get(workspaceId);
    if (!record) return undefined;
    const line = (await this.report()).find((l) => l.projectId === record.projectId);
    return {
      usedBytes: line?.usedBytes ?? 0,
      limitBytes: line?.hardBytes ?? 0,
      phase: record.phase,
    };
  }
}
