import { join } from "node:path";
import { KeyedMutex, type Log } from "../platform/index.js";
import {
  guardedLog,
  lenientLimitBytes,
  type PrepareQuotaOptions,
  type QuotaEnforcerOptions,
  type QuotaPhase,
  type QuotaRecoveryReport,
  type QuotaWorkspaceRef,
  recoverEach,
} from "./quota-enforcer.js";
import { QuotaRecords } from "./quota-records.js";

/**
 * What the two real enforcers share: a record per workspace in `<workingArea>/.quota` (a dot-name
 * the content manager leaves alone), one queue of operations per workspace, the lenient factor,
 * and a log that never breaks quota handling.
 */
export abstract class RecordedQuotaEnforcer {
  protected readonly records: QuotaRecords;
  protected readonly queue = new KeyedMutex();
  protected readonly log: Log;
  private readonly lenientFactor: number;

  constructor(options: QuotaEnforcerOptions) {
    this.records = new QuotaRecords(join(options.workingArea, ".quota"));
    this.lenientFactor = options.lenientFactor ?? 2;
    this.log = guardedLog(options.log);
  }

  /** The phase and limit a prepare starts with: lenient unless the caller asks for hard. */
  protected initialLimit(
    quotaBytes: number,
    options: PrepareQuotaOptions,
  ): { phase: QuotaPhase; limitBytes: number } {
    if (!(options.lenient ?? true)) return { phase: "hard", limitBytes: quotaBytes };
    return {
      phase: "lenient",
      limitBytes: lenientLimitBytes(quotaBytes, options.sizeHint, this.lenientFactor),
    };
  }

  /** recoverEach over the recorded workspaces; each one that cannot be recovered is logged. */
  protected recoverRecorded(
    workspaces: readonly QuotaWorkspaceRef[],
    repairOne: (ref: QuotaWorkspaceRef) => Promise<boolean>,
  ): Promise<QuotaRecoveryReport> {
    return recoverEach(
      workspaces,
      repairOne,
      async () => (await this.records.list()).map((r) => r.workspaceId),
      (workspaceId, err) =>
        this.log("error", "cannot recover workspace quota", { workspaceId, err }),
    );
  }
}
