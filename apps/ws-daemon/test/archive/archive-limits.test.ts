import { mkdirSync, writeFileSync } from "node:fs";
import path from "node:path";
import { beforeEach, describe, expect, it } from "vitest";
import {
  ArchiveLimitError,
  type ArchiveLimits,
  DEFAULT_ARCHIVE_LIMITS,
  HostileArchiveError,
} from "../../src/archive/index.js";
import { SafeExtractor } from "../../src/archive/safe-extractor.js";
import { TarParser } from "../../src/archive/tar-parser.js";
import { tarDirectorySync } from "../../src/archive/tar-writer.js";
import { useWorkDir } from "./work-dir.js";

/**
 * The writer and the extractor share one limits object: for every limit, a tree that needs
 * exactly the limit passes both, and one unit less makes both refuse it. So a backup is refused
 * exactly when its restore would be.
 */

const work = useWorkDir("wsd-limits-");
let src: string;
const LONG = "a-name-that-makes-the-longest-path";
beforeEach(() => {
  src = work.join("src");
  mkdirSync(path.join(src, "d"), { recursive: true });
  writeFileSync(path.join(src, "a.txt"), "0123456789");
  writeFileSync(path.join(src, "d", LONG), "01234567890123456789");
});

/** What the tree above needs: root, a.txt, d, d/LONG. */
const needed: Record<keyof ArchiveLimits, number> = {
  maxEntries: 4,
  maxEntryBytes: 20,
  maxTotalBytes: 30,
  maxPathBytes: `d/${LONG}`.length,
};

const tarOf = (limits: Partial<ArchiveLimits> = {}): Buffer =>
  Buffer.concat([...tarDirectorySync(src, { limits })].map((b) => Buffer.from(b)));

/** Extracts `tar` synchronously, as the extract worker does. */
function extract(tar: Buffer, limits: Partial<ArchiveLimits>, target: string): void {
  mkdirSync(target);
  const extractor = new SafeExtractor(target, limits);
  const parser = new TarParser(extractor);
  try {
    parser.push(tar);
    parser.end();
    extractor.finish();
  } finally {
    extractor.abort();
  }
}

const outcome = (run: () => unknown): unknown => {
  try {
    run();
    return "ok";
  } catch (err) {
    return err;
  }
};

describe("writer and extractor apply the same limits", () => {
  const unlimited = () => tarOf();
  for (const key of Object.keys(needed) as (keyof ArchiveLimits)[]) {
    it(`${key}: the exact need passes both, one less is refused by both`, () => {
      const archive = unlimited();
      const enough = { [key]: needed[key] };
      expect(outcome(() => tarOf(enough))).toBe("ok");
      expect(outcome(() => extract(archive, enough, work.join("enough")))).toBe("ok");

      const short = { [key]: needed[key] - 1 };
      const written = outcome(() => tarOf(short));
      expect(written).toBeInstanceOf(ArchiveLimitError);
      expect((written as Error).message).toContain(`(archive.${key})`);
      const restored = outcome(() => extract(archive, short, work.join("short")));
      expect(restored).toBeInstanceOf(HostileArchiveError);
    });
  }

  it("the defaults hold what a restore could always write", () => {
    expect(DEFAULT_ARCHIVE_LIMITS).toEqual({
      maxEntryBytes: 64 * 1024 ** 3,
      maxTotalBytes: 1024 ** 4,
      maxEntries: 10_000_000,
      maxPathBytes: 3072,
    });
  });
});
