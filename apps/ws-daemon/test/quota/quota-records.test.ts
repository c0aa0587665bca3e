import { mkdir, readdir, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { type QuotaRecord, QuotaRecords } from "../../src/quota/quota-records.js";
import { cleanupAll, makeTempDir } from "./quota-fixtures.js";

afterAll(() => cleanupAll());

const record = (workspaceId: string, overrides: Partial<QuotaRecord> = {}): QuotaRecord => ({
  version: 1,
  workspaceId,
  method: "loop-image",
  quotaBytes: 1024,
  phase: "lenient",
  limitBytes: 2048,
  ...overrides,
});

describe("QuotaRecords", () => {
  it("puts, reads back, lists and removes records, leaving no temp files", async () => {
    const records = new QuotaRecords(join(makeTempDir("records"), ".quota"));
    await records.put(record("a"));
    await records.put(record("b", { method: "xfs-project", projectId: 1001 }));
    await records.put(record("a", { phase: "hard", limitBytes: 1024 }));
    expect(await records.get("a")).toEqual(record("a", { phase: "hard", limitBytes: 1024 }));
    expect((await records.list()).map((r) => r.workspaceId).sort()).toEqual(["a", "b"]);
    expect((await readdir(records.dir)).sort()).toEqual(["a.json", "b.json"]);
    await records.remove("a");
    await records.remove("a");
    expect(await records.get("a")).toBeUndefined();
    expect(await readdir(records.dir)).toEqual(["b.json"]);
  });

  it("without a records directory there is nothing to get, list or remove", async () => {
    const records = new QuotaRecords(join(makeTempDir("records-none"), ".quota"));
    expect(await records.get("a")).toBeUndefined();
    expect(await records.list()).toEqual([]);
    await records.remove("a");
  });

  it("a damaged or foreign record is an error to get and left out of the list", async () => {
    const records = new QuotaRecords(join(makeTempDir("records-bad"), ".quota"));
    await mkdir(records.dir);
    await writeFile(join(records.dir, "torn.json"), '{"version":1,"works');
    await writeFile(join(records.dir, "other.json"), JSON.stringify(record("not-other")));
    await expect(records.get("torn")).rejects.toMatchObject({
      name: "QuotaError",
      failure: "failed",
      message: "unreadable quota record of torn",
    });
    await expect(records.get("other")).rejects.toMatchObject({ failure: "failed" });
    expect(await records.list()).toEqual([]);
  });
});
