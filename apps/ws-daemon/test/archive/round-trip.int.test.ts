import { execFileSync } from "node:child_process";
import { createReadStream, mkdirSync, readdirSync } from "node:fs";
import path from "node:path";
import { describe, expect, it } from "vitest";
import { extractArchive } from "../../src/archive/index.js";
import { ContentCorruptError } from "../../src/platform/index.js";
import { notRootReason } from "../support/env.js";
import { archivedTree } from "./archive-files.js";
import { expectSameTree, isRoot } from "./tree-fixture.js";
import { useWorkDir } from "./work-dir.js";

if (!isRoot) console.warn(notRootReason("[archive round trip] id shifting and full-disk tests"));

const work = useWorkDir("wsd-archive-root-");

describe.skipIf(!isRoot)("archive round trip as root", () => {
  it("shifts numeric ids between host and archive", async () => {
    const { src, file } = await archivedTree(work, {
      largeBytes: 600_000,
      prepare: (dir) => execFileSync("chown", ["-R", "-h", "101000:101000", dir]),
      idShift: 100_000,
    });
    const listing = execFileSync("sh", ["-c", `zstd -dc '${file}' | tar -tv --numeric-owner`], {
      encoding: "utf8",
    });
    expect(listing).toContain(" 1000/1000 ");
    expect(listing).not.toContain("101000");
    const out = work.join("out");
    await extractArchive(createReadStream(file), out, { idShift: 200_000 });
    expectSameTree(out, src, { idDelta: 100_000 });
  });

  it("a full disk during restore is that error, not corrupt content", async () => {
    const { file } = await archivedTree(work, { largeBytes: 4 * 1024 * 1024 });
    const small = work.join("small");
    mkdirSync(small);
    execFileSync("mount", ["-t", "tmpfs", "-o", "size=2m", "tmpfs", small]);
    try {
      const err = await extractArchive(createReadStream(file), path.join(small, "out")).then(
        () => undefined,
        (e: unknown) => e,
      );
      expect(err).not.toBeInstanceOf(ContentCorruptError);
      expect(err).toMatchObject({ code: "ENOSPC", syscall: "write" });
      expect(readdirSync(path.join(small, "out"))).toEqual([]);
    } finally {
      execFileSync("umount", [small]);
    }
  });
});
