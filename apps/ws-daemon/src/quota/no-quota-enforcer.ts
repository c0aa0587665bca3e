import { mkdir } from "node:fs/promises";
import type { Log } from "../platform/index.js";
import {
  checkQuotaBytes,
  checkWorkspaceId,
  guardedLog,
  type QuotaEnforcer,
  type QuotaRecoveryReport,
  type QuotaStatus,
  type QuotaUsage,
  type QuotaWorkspaceRef,
} from "./quota-enforcer.js";

/** No mechanism: quotas are recorded by the caller but not enforced; says so once per workspace. */
export class NoQuotaEnforcer implements QuotaEnforcer {
  readonly method = "none" as const;
  private readonly log: Log;

  constructor(
    readonly reason: string,
    log?: Log,
  ) {
    this.log = guardedLog(log);
  }

  async prepare(workspaceId: string, contentDir: string, quotaBytes: number): Promise<QuotaStatus> {
    checkWorkspaceId(workspaceId);
    checkQuotaBytes(quotaBytes);
    await mkdir(contentDir, { recursive: true, mode: 0o755 });
    if (quotaBytes > 0) {
      this.log("warn", "storage quota is not enforced", {
        workspaceId,
        quotaBytes,
        reason: this.reason,
      });
    }
    return { method: this.method, phase: "hard", quotaBytes, limitBytes: 0 };
  }

  async enforce(
    workspaceId: string,
    _contentDir: string,
    quotaBytes: number,
  ): Promise<QuotaStatus> {
    checkWorkspaceId(workspaceId);
    return { method: this.method, phase: "hard", quotaBytes, limitBytes: 0 };
  }

  async release(): Promise<void> {}

  async recover(workspaces: readonly QuotaWorkspaceRef[]): Promise<QuotaRecoveryReport> {
    return {
      recovered: [],
      withoutQuota: workspaces.map((w) => w.workspaceId),
      failed: [],
      orphans: [],
    };
  }

  async usage(): Promise<QuotaUsage | undefined> {
    return undefined;
  }
}
