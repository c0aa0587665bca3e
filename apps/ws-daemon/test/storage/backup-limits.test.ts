import { mkdtempSync, rmSync, truncateSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import {
  ArchiveDeadlineError,
  ArchiveLimitError,
  type SomeArchiveLimits,
} from "../../src/archive/index.js";
import { ArchiveContentStore, LocalDirectoryObjectStore } from "../../src/storage/index.js";
import { backupThenFail } from "./local-backup-failure.js";

/**
 * Finding 4 of issue 17: a backup the restore would refuse must be refused itself, before it
 * replaces the last good one; a backup that never ends must end. Limits lowered by configuration
 * keep these fast; each case checks the previous backup still restores byte-identical and that
 * nothing of the failed attempt stays in the store (backupThenFail).
 */

const scratch = mkdtempSync(path.join(tmpdir(), "wsd-backup-limits-"));
afterAll(() => rmSync(scratch, { recursive: true, force: true }));

const GiB = 1024 ** 3;
const storeRoot = (name: string) => path.join(scratch, name);
const storeWith = (root: string, limits: SomeArchiveLimits = {}) =>
  new ArchiveContentStore(new LocalDirectoryObjectStore(root), { limits });

describe("backups the restore would refuse are refused, and the previous backup stays", () => {
  it("a sparse file beyond the entry limit (`truncate -s 70G`, costs no quota)", async () => {
    const root = storeRoot("sparse-70g");
    const err = await backupThenFail(scratch, root, (src) => {
      // 70 GiB of holes: not read (it would take minutes), refused by its size alone
      writeFileSync(path.join(src, "huge"), "");
      truncateSync(path.join(src, "huge"), 70 * GiB);
      return storeWith(root);
    });
    expect(err).toBeInstanceOf(ArchiveLimitError);
    expect(err).toMatchObject({ kind: "resource-exhausted" });
    expect((err as Error).message).toBe(
      `cannot archive "huge": ${70 * GiB} bytes exceeds the entry limit of ${64 * GiB} (archive.maxEntryBytes); a restore would refuse it`,
    );
  });

  it("a sparse file beyond a lowered entry limit", async () => {
    const root = storeRoot("sparse-lowered");
    const err = await backupThenFail(scratch, root, (src) => {
      writeFileSync(path.join(src, "holes"), "");
      truncateSync(path.join(src, "holes"), 5 * 1024 * 1024);
      return storeWith(root, { maxEntryBytes: 4 * 1024 * 1024 });
    });
    expect(err).toBeInstanceOf(ArchiveLimitError);
    expect((err as Error).message).toMatch(/"holes": 5242880 bytes exceeds the entry limit/);
  });

  it("more entries than the limit", async () => {
    const root = storeRoot("entries");
    const err = await backupThenFail(scratch, root, (src) => {
      for (let i = 0; i < 60; i++) writeFileSync(path.join(src, `many-${i}`), "");
      return storeWith(root, { maxEntries: 50 });
    });
    expect(err).toBeInstanceOf(ArchiveLimitError);
    expect((err as Error).message).toMatch(/more than 50 entries \(archive\.maxEntries\)/);
  });

  it("more content than the limit", async () => {
    const root = storeRoot("total");
    const err = await backupThenFail(scratch, root, () => storeWith(root, { maxTotalBytes: 1000 }));
    expect(err).toBeInstanceOf(ArchiveLimitError);
    expect((err as Error).message).toMatch(/archive\.maxTotalBytes/);
  });

  it("a path longer than the limit", async () => {
    const root = storeRoot("path");
    const err = await backupThenFail(scratch, root, () => storeWith(root, { maxPathBytes: 255 }));
    expect(err).toBeInstanceOf(ArchiveLimitError);
    expect((err as Error).message).toMatch(/a path of \d+ bytes exceeds the limit of 255/);
  });
});

describe("an archive past its deadline is abandoned", () => {
  it("fails the attempt with DEADLINE_EXCEEDED and keeps the previous backup", async () => {
    const root = storeRoot("deadline");
    const err = await backupThenFail(scratch, root, (src) => {
      writeFileSync(path.join(src, "big"), Buffer.alloc(64 * 1024 * 1024, 1));
      return new ArchiveContentStore(new LocalDirectoryObjectStore(root), {
        deadline: { baseMs: 1, msPerGiB: 0 },
      });
    });
    expect(err).toBeInstanceOf(ArchiveDeadlineError);
    expect(err).toMatchObject({ kind: "deadline-exceeded" });
    expect((err as Error).message).toMatch(
      /abandoned after \d+ ms: its deadline was 1 ms for \d+ bytes begun/,
    );
  });
});
