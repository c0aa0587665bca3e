import { describe, expect, it } from "vitest";
import { InvalidContentUrlError } from "../../src/platform/index.js";
import {
  archiveDataOf,
  assertKeyComponent,
  BACKUP_URL_SCHEME,
  backupManifestKey,
  backupPrefix,
  backupUrl,
  isBackupDataKey,
  newBackupDataKey,
  newSnapshotLocation,
  parseBackupUrl,
  parseSnapshotUrl,
  SNAPSHOT_URL_SCHEME,
  snapshotUrl,
  timestampId,
  workspacePrefix,
} from "../../src/storage/object-keys.js";

/**
 * One bad input per check of object-keys.ts (issue 17, finding 6): owner and metaId become
 * object key segments and URLs come from callers, so each rule is proven on its own, with an
 * input that only that rule refuses.
 */
const ID = "20260101T000000000Z-0badc0de";
const NOW = Date.UTC(2026, 1, 3, 4, 5, 6, 7);

const refusal = (work: () => unknown): string => {
  try {
    work();
  } catch (err) {
    expect(err).toBeInstanceOf(InvalidContentUrlError);
    expect(err).toMatchObject({ kind: "invalid-argument" });
    return (err as Error).message;
  }
  throw new Error("accepted");
};

describe("assertKeyComponent", () => {
  it.each(["a", "Z9", "a.b", "a_b-c", "0", `a${"b".repeat(127)}`])("accepts %j", (v) => {
    expect(() => assertKeyComponent("owner", v)).not.toThrow();
  });

  it("first character: a name starting with `-`, `_` or `.` (the rest valid)", () => {
    for (const v of ["-a", "_a", ".a"]) {
      expect(refusal(() => assertKeyComponent("owner", v))).toBe(
        `owner ${JSON.stringify(v)} is not a valid storage key component`,
      );
    }
  });

  it("charset: a character outside [A-Za-z0-9._-] after a valid start", () => {
    for (const v of ["a/b", "a b", "aü", "a\0"]) refusal(() => assertKeyComponent("metaId", v));
  });

  it("end anchor: a valid name followed by a slash", () => {
    refusal(() => assertKeyComponent("owner", "a/"));
  });

  it("length: 129 characters", () => {
    refusal(() => assertKeyComponent("owner", `a${"b".repeat(128)}`));
  });

  it("`..` anywhere, although the charset allows dots", () => {
    expect(refusal(() => assertKeyComponent("metaId", "a..b"))).toBe(
      'metaId "a..b" is not a valid storage key component',
    );
  });
});

describe("key layout", () => {
  const ws = { owner: "o", metaId: "m" };

  it("builds the documented keys", () => {
    expect(workspacePrefix(ws)).toBe("workspaces/o/m");
    expect(backupPrefix(ws)).toBe("workspaces/o/m/backup/full/");
    expect(backupManifestKey(ws)).toBe("workspaces/o/m/backup/full/manifest.json");
    expect(newBackupDataKey(ws, NOW)).toMatch(
      /^workspaces\/o\/m\/backup\/full\/data-20260203T040506007Z-[0-9a-f]{8}\.tar\.zst$/,
    );
    expect(backupUrl(ws)).toBe(`${BACKUP_URL_SCHEME}workspaces/o/m/backup/full`);
  });

  it("keys and URLs round-trip with longer names", () => {
    const long = { owner: "owner-1", metaId: "meta.id_2" };
    const data = newBackupDataKey(long, NOW);
    expect(archiveDataOf(data)).toEqual({
      workspacePrefix: "workspaces/owner-1/meta.id_2",
      manifestKey: backupManifestKey(long),
      kind: "backup",
    });
    expect(isBackupDataKey(data)).toBe(true);
    expect(parseBackupUrl(backupUrl(long))).toEqual(long);
    const loc = newSnapshotLocation(long, NOW);
    expect(archiveDataOf(loc.dataKey)).toEqual({
      workspacePrefix: "workspaces/owner-1/meta.id_2",
      manifestKey: loc.manifestKey,
      kind: "snapshot",
    });
  });

  it("timestampId is UTC YYYYMMDDTHHMMSSmmmZ and 8 random hex digits", () => {
    const id = timestampId(NOW);
    expect(id).toMatch(/^20260203T040506007Z-[0-9a-f]{8}$/);
    expect(timestampId(NOW)).not.toBe(id);
  });

  it("a snapshot location: prefix, manifest and data keys and its URL", () => {
    const loc = newSnapshotLocation(ws, NOW);
    expect(loc.prefix).toMatch(/^workspaces\/o\/m\/snapshots\/20260203T040506007Z-[0-9a-f]{32}$/);
    expect(loc.manifestKey).toBe(`${loc.prefix}/manifest.json`);
    expect(loc.dataKey).toBe(`${loc.prefix}/data.tar.zst`);
    expect(snapshotUrl(loc)).toBe(`${SNAPSHOT_URL_SCHEME}${loc.prefix}`);
    expect(parseSnapshotUrl(snapshotUrl(loc))).toEqual(loc);
  });

  it("checks owner and metaId, each under its name", () => {
    expect(refusal(() => workspacePrefix({ owner: "..", metaId: "m" }))).toContain("owner");
    expect(refusal(() => workspacePrefix({ owner: "o", metaId: "a/b" }))).toContain("metaId");
  });
});

describe("archiveDataOf and isBackupDataKey", () => {
  it("recognises backup data and names its manifest", () => {
    const key = "workspaces/o/m/backup/full/data-x.tar.zst";
    expect(archiveDataOf(key)).toEqual({
      workspacePrefix: "workspaces/o/m",
      manifestKey: "workspaces/o/m/backup/full/manifest.json",
      kind: "backup",
    });
    expect(isBackupDataKey(key)).toBe(true);
  });

  it("recognises snapshot data and names its manifest", () => {
    const key = `workspaces/o/m/snapshots/${ID}/data.tar.zst`;
    expect(archiveDataOf(key)).toEqual({
      workspacePrefix: "workspaces/o/m",
      manifestKey: `workspaces/o/m/snapshots/${ID}/manifest.json`,
      kind: "snapshot",
    });
    expect(isBackupDataKey(key)).toBe(false);
  });

  it.each([
    ["a manifest", "workspaces/o/m/backup/full/manifest.json"],
    ["something before the root", "x/workspaces/o/m/backup/full/data-x.tar.zst"],
    ["something after the name", "workspaces/o/m/backup/full/data-x.tar.zst.part"],
    ["a deeper backup path", "workspaces/o/m/backup/full/x/data-x.tar.zst"],
    ["a deeper workspace path", "workspaces/o/m/n/backup/full/data-x.tar.zst"],
    ["a snapshot data name of a backup", "workspaces/o/m/backup/full/data.tar.zst"],
    ["a snapshot without its id", "workspaces/o/m/snapshots/data.tar.zst"],
  ])("ignores %s", (_what, key) => {
    expect(archiveDataOf(key)).toBeUndefined();
  });

  it("isBackupDataKey needs the whole name at the end", () => {
    expect(isBackupDataKey("workspaces/o/m/backup/full/data-x.tar.zst.part")).toBe(false);
    expect(isBackupDataKey("workspaces/o/m/backup/full/data-a/b.tar.zst")).toBe(false);
    expect(isBackupDataKey("workspaces/o/m/backup/data-x.tar.zst")).toBe(false);
  });
});

describe("parseBackupUrl", () => {
  it("accepts a backup URL", () => {
    expect(parseBackupUrl(`${BACKUP_URL_SCHEME}workspaces/o/m/backup/full`)).toEqual({
      owner: "o",
      metaId: "m",
    });
  });

  it.each([
    ["another scheme", `${SNAPSHOT_URL_SCHEME}workspaces/o/m/backup/full`],
    ["another scheme of the same length", "wsd-bakkup:workspaces/o/m/backup/full"],
    ["no scheme", "workspaces/o/m/backup/full"],
    ["something before the path", `${BACKUP_URL_SCHEME}x/workspaces/o/m/backup/full`],
    ["something after the path", `${BACKUP_URL_SCHEME}workspaces/o/m/backup/full/x`],
    ["an extra segment", `${BACKUP_URL_SCHEME}workspaces/o/x/m/backup/full`],
  ])("refuses %s as malformed", (_what, url) => {
    expect(refusal(() => parseBackupUrl(url))).toBe(`malformed backup URL ${JSON.stringify(url)}`);
  });

  it("checks the owner", () => {
    expect(refusal(() => parseBackupUrl(`${BACKUP_URL_SCHEME}workspaces/../m/backup/full`))).toBe(
      'owner ".." is not a valid storage key component',
    );
  });

  it("checks the metaId", () => {
    expect(refusal(() => parseBackupUrl(`${BACKUP_URL_SCHEME}workspaces/o/-m/backup/full`))).toBe(
      'metaId "-m" is not a valid storage key component',
    );
  });
});

describe("parseSnapshotUrl", () => {
  const url = (path: string) => `${SNAPSHOT_URL_SCHEME}${path}`;

  it("accepts an id with 128 random bits (the current form)", () => {
    const id = "20260101T000000000Z-0123456789abcdef0123456789abcdef";
    expect(parseSnapshotUrl(url(`workspaces/o/m/snapshots/${id}`)).prefix).toBe(
      `workspaces/o/m/snapshots/${id}`,
    );
  });

  it("new snapshot ids differ in 128 random bits", () => {
    const ids = new Set(
      Array.from(
        { length: 64 },
        () => newSnapshotLocation({ owner: "o", metaId: "m" }, NOW).prefix,
      ),
    );
    expect(ids.size).toBe(64);
    for (const prefix of ids) expect(prefix.split("-").at(-1)).toMatch(/^[0-9a-f]{32}$/);
  });

  it("accepts a snapshot URL", () => {
    expect(parseSnapshotUrl(url(`workspaces/o/m/snapshots/${ID}`))).toEqual({
      prefix: `workspaces/o/m/snapshots/${ID}`,
      manifestKey: `workspaces/o/m/snapshots/${ID}/manifest.json`,
      dataKey: `workspaces/o/m/snapshots/${ID}/data.tar.zst`,
    });
  });

  it("scheme: a backup URL is not a snapshot URL", () => {
    const backup = `${BACKUP_URL_SCHEME}workspaces/o/m/snapshots/${ID}`;
    expect(refusal(() => parseSnapshotUrl(backup))).toBe(
      `snapshot URL must start with ${SNAPSHOT_URL_SCHEME}: ${JSON.stringify(backup)}`,
    );
  });

  it.each([
    ["six segments", `workspaces/o/m/snapshots/${ID}/x`],
    ["four segments", "workspaces/o/m/snapshots"],
    ["a root other than workspaces", `workspace/o/m/snapshots/${ID}`],
    ["a folder other than snapshots", `workspaces/o/m/snapshot/${ID}`],
    ["an id in upper case", "workspaces/o/m/snapshots/20260101T000000000Z-0BADC0DE"],
    ["an id with a prefix", `workspaces/o/m/snapshots/x${ID}`],
    ["an id with a suffix", `workspaces/o/m/snapshots/${ID}0`],
    ["an id of neither 8 nor 32 hex digits", `workspaces/o/m/snapshots/${ID}0badc0de`],
    [
      "an id of 33 hex digits",
      "workspaces/o/m/snapshots/20260101T000000000Z-0123456789abcdef0123456789abcdef0",
    ],
  ])("refuses %s as malformed", (_what, path) => {
    expect(refusal(() => parseSnapshotUrl(url(path)))).toBe(
      `malformed snapshot URL ${JSON.stringify(url(path))}`,
    );
  });

  it("checks the owner", () => {
    expect(refusal(() => parseSnapshotUrl(url(`workspaces/.o/m/snapshots/${ID}`)))).toBe(
      'owner ".o" is not a valid storage key component',
    );
  });

  it("checks the metaId", () => {
    expect(refusal(() => parseSnapshotUrl(url(`workspaces/o/a..b/snapshots/${ID}`)))).toBe(
      'metaId "a..b" is not a valid storage key component',
    );
  });
});
