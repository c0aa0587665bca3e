import { execFileSync } from "node:child_process";
import { randomBytes } from "node:crypto";
import { mkdirSync, writeFileSync } from "node:fs";
import path from "node:path";
import { describe, expect, it } from "vitest";
import { ArchiveContentStore, LocalDirectoryObjectStore } from "../../src/storage/index.js";
import { isRoot } from "../archive/tree-fixture.js";
import { useWorkDir } from "../archive/work-dir.js";
import { notRootReason } from "../support/env.js";
import { backupThenFail } from "./local-backup-failure.js";

if (!isRoot) console.warn(notRootReason("[local store] the full-disk test (mounts a tmpfs)"));

const work = useWorkDir("wsd-local-store-root-");

describe.skipIf(!isRoot)("local backups written by zstd directly, as root", () => {
  it("a full disk fails the backup and leaves the previous one", async () => {
    const small = work.join("small-fs");
    mkdirSync(small);
    execFileSync("mount", ["-t", "tmpfs", "-o", "size=3m", "tmpfs", small]);
    try {
      const err = await backupThenFail(work.path, small, (src) => {
        writeFileSync(path.join(src, "incompressible.bin"), randomBytes(4 * 1024 * 1024));
        return new ArchiveContentStore(new LocalDirectoryObjectStore(small));
      });
      expect(err).toMatchObject({
        message: expect.stringMatching(/No space left on device|ENOSPC/),
      });
    } finally {
      execFileSync("umount", [small]);
    }
  });
});
