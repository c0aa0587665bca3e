import { mkdir, readdir, readFile } from "node:fs/promises";
import { join } from "node:path";
import { errnoCode, removeFileDurably, writeFileAtomic } from "../platform/index.js";
import type { QuotaMethod, QuotaPhase } from "./quota-enforcer.js";
import { QuotaError } from "./quota-error.js";

/** What survives a daemon restart so `recover` can re-establish a workspace's limit. */
export interface QuotaRecord {
  version: 1;
  workspaceId: string;
  method: Exclude<QuotaMethod, "none">;
  quotaBytes: number;
  phase: QuotaPhase;
  /** The limit in effect (lenient or hard). */
  limitBytes: number;
  /** xfs-project only. */
  projectId?: number;
}

/**
 * One JSON file per workspace in `<workingArea>/.quota/` (a dot-name, which the content manager
 * leaves alone), written atomically so a crash leaves either the old or the new record.
 */
export class QuotaRecords {
  constructor(readonly dir: string) {}

  async ensureDir(): Promise<void> {
    await mkdir(this.dir, { recursive: true, mode: 0o700 });
  }

  private file(workspaceId: string): string {
    return join(this.dir, `${workspaceId}.json`);
  }

  async get(workspaceId: string): Promise<QuotaRecord | undefined> {
    let text: string;
    try {
      text = await readFile(this.file(workspaceId), "utf8");
    } catch (err) {
      if (errnoCode(err) === "ENOENT") return undefined;
      throw err;
    }
    try {
      const record = JSON.parse(text) as QuotaRecord;
      if (record.version !== 1 || record.workspaceId !== workspaceId) throw new Error("mismatch");
      return record;
    } catch (err) {
      throw new QuotaError("failed", `unreadable quota record of ${workspaceId}`, { cause: err });
    }
  }

  async put(record: QuotaRecord): Promise<void> {
    await this.ensureDir();
    await writeFileAtomic(
      this.file(record.workspaceId),
      `${JSON.stringify(record, null, 2)}\n`,
      0o600,
    );
  }

  async remove(workspaceId: string): Promise<void> {
    try {
      await removeFileDurably(this.file(workspaceId));
    } catch (err) {
      // no records directory yet: there is no record to remove
      if (errnoCode(err) !== "ENOENT") throw err;
    }
  }

  async list(): Promise<QuotaRecord[]> {
    let names: string[];
    try {
      names = await readdir(this.dir);
    } catch (err) {
      if (errnoCode(err) === "ENOENT") return [];
      throw err;
    }
    const records: QuotaRecord[] = [];
    for (const name of names) {
      if (!name.endsWith(".json")) continue;
      const record = await this.get(name.slice(0, -".json".length)).catch(() => undefined);
      if (record) records.push(record);
    }
    return records;
  }
}
