import { randomBytes } from "node:crypto";
import { mkdir, open, readdir, readFile, rename, rm } from "node:fs/promises";
import { join } from "node:path";
import { QuotaError, type QuotaMethod, type QuotaPhase } from "./quota-enforcer.js";

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
      if ((err as NodeJS.ErrnoException).code === "ENOENT") return undefined;
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
    const target = this.file(record.workspaceId);
    const temp = `${target}.tmp-${randomBytes(6).toString("hex")}`;
    const handle = await open(temp, "wx", 0o600);
    try {
      await handle.writeFile(`${JSON.stringify(record, null, 2)}\n`);
      await handle.sync();
    } finally {
      await handle.close();
    }
    await rename(temp, target);
  }

  async remove(workspaceId: string): Promise<void> {
    await rm(this.file(workspaceId), { force: true });
  }

  async list(): Promise<QuotaRecord[]> {
    let names: string[];
    try {
      names = await readdir(this.dir);
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === "ENOENT") return [];
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
