import { mkdir, readdir, readFile } from "node:fs/promises";
import { join } from "node:path";
import { errnoCode, errorMessage, removeFileDurably, writeFileAtomic } from "../platform/index.js";
import type { WorkspaceRecord } from "./workspace-record.js";

/** A state file that could not be parsed; kept on disk for a human to look at, never deleted. */
export interface UnreadableStateFile {
  file: string;
  error: string;
}

export interface LoadedRecords {
  records: WorkspaceRecord[];
  unreadable: (UnreadableStateFile & { err: unknown })[];
}

const SUFFIX = ".json";

/**
 * One JSON file per workspace in `<dir>/<id>.json`, written atomically. Writes for one id are
 * chained so that a slow earlier write can never overwrite a later one.
 */
export class WorkspaceStateStore {
  private readonly chains = new Map<string, Promise<void>>();

  constructor(readonly dir: string) {}

  async ensureDir(): Promise<void> {
    await mkdir(this.dir, { recursive: true, mode: 0o700 });
  }

  private fileOf(id: string): string {
    return join(this.dir, `${id}${SUFFIX}`);
  }

  private chain(id: string, op: () => Promise<void>): Promise<void> {
    const previous = this.chains.get(id) ?? Promise.resolve();
    const next = previous.then(op, op);
    this.chains.set(id, next);
    const cleanup = () => {
      if (this.chains.get(id) === next) this.chains.delete(id);
    };
    next.then(cleanup, cleanup);
    return next;
  }

  save(record: WorkspaceRecord): Promise<void> {
    // Serialize now: the caller may keep mutating its object after we return.
    const json = `${JSON.stringify(record, null, 2)}\n`;
    return this.chain(record.id, () => writeFileAtomic(this.fileOf(record.id), json, 0o600));
  }

  remove(id: string): Promise<void> {
    return this.chain(id, () => removeFileDurably(this.fileOf(id)));
  }

  /** Waits until every write issued so far has reached the disk. */
  async flush(): Promise<void> {
    await Promise.allSettled([...this.chains.values()]);
  }

  async loadAll(): Promise<LoadedRecords> {
    const result: LoadedRecords = { records: [], unreadable: [] };
    let names: string[];
    try {
      names = await readdir(this.dir);
    } catch (err) {
      if (errnoCode(err) === "ENOENT") return result;
      throw err;
    }
    for (const name of names.sort()) {
      // Leftover temp files of an interrupted write start with "." and are ignored.
      if (!name.endsWith(SUFFIX) || name.startsWith(".")) continue;
      const file = join(this.dir, name);
      try {
        const parsed = JSON.parse(await readFile(file, "utf8")) as WorkspaceRecord;
        if (parsed.version !== 1 || `${parsed.id}${SUFFIX}` !== name) {
          throw new Error("not a version 1 workspace record for this file name");
        }
        result.records.push(parsed);
      } catch (err) {
        result.unreadable.push({ file, error: errorMessage(err), err });
      }
    }
    return result;
  }
}
