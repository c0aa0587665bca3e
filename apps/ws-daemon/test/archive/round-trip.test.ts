import { execFileSync } from "node:child_process";
import {
  chmodSync,
  createReadStream,
  createWriteStream,
  lstatSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  rmSync,
  writeFileSync,
} from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { pipeline } from "node:stream/promises";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { createArchiveStream } from "../../src/archive/create-archive.js";
import { extractArchive } from "../../src/archive/extract-archive.js";
import { ContentCorruptError } from "../../src/storage/content-store.js";
import { buildFullTree, expectSameTree, isRoot } from "./tree-fixture.js";

if (!isRoot)
  console.warn(
    "[archive round trip] not root: the id-shift and full-disk (tmpfs mount) tests are skipped",
  );

let work: string;
beforeEach(() => {
  work = mkdtempSync(path.join(tmpdir(), "wsd-archive-"));
});
afterEach(() => {
  rmSync(work, { recursive: true, force: true });
});

async function archiveTo(dir: string, file: string, idShift?: number) {
  const a = createArchiveStream(dir, { idShift });
  await pipeline(a.stream, createWriteStream(file));
  return a.result;
}

describe("archive round trip", () => {
  it("keeps content, modes, links, hard link identity, mtimes and empty dirs", async () => {
    const src = path.join(work, "src");
    buildFullTree(src);
    const file = path.join(work, "a.tar.zst");
    const result = await archiveTo(src, file);
    expect(result.size).toBe(lstatSync(file).size);
    expect(result.sha256).toBe(
      execFileSync("sha256sum", [file], { encoding: "utf8" }).split(" ")[0],
    );
    expect(result.warnings).toEqual([]);

    const out = path.join(work, "out");
    const restored = await extractArchive(createReadStream(file), out, {
      expected: { sha256: result.sha256, size: result.size },
    });
    expect(restored.entries).toBe(result.fileCount);
    expectSameTree(out, src);
    expect(lstatSync(path.join(out, "src/index.ts")).ino).toBe(
      lstatSync(path.join(out, "nested/hardlink-2.ts")).ino,
    );
  });

  it("writes archives GNU tar restores identically, and restores archives GNU tar wrote", async () => {
    const src = path.join(work, "src");
    buildFullTree(src, { largeBytes: 700_000 });
    const ours = path.join(work, "ours.tar.zst");
    await archiveTo(src, ours);
    const byGnu = path.join(work, "by-gnu");
    mkdirSync(byGnu);
    execFileSync("sh", ["-c", `zstd -dc '${ours}' | tar -x --numeric-owner -p -C '${byGnu}'`]);
    expectSameTree(byGnu, src);

    const gnu = path.join(work, "gnu.tar.zst");
    execFileSync("sh", [
      "-c",
      `tar -C '${src}' --format=posix --numeric-owner -c . | zstd -q -1 > '${gnu}'`,
    ]);
    const out = path.join(work, "from-gnu");
    await extractArchive(createReadStream(gnu), out);
    expectSameTree(out, src);
  });

  it.skipIf(!isRoot)("shifts numeric ids between host and archive", async () => {
    const src = path.join(work, "src");
    buildFullTree(src, { largeBytes: 600_000 });
    execFileSync("chown", ["-R", "-h", "101000:101000", src]);
    const file = path.join(work, "a.tar.zst");
    await archiveTo(src, file, 100_000);
    const listing = execFileSync("sh", ["-c", `zstd -dc '${file}' | tar -tv --numeric-owner`], {
      encoding: "utf8",
    });
    expect(listing).toContain(" 1000/1000 ");
    expect(listing).not.toContain("101000");
    const out = path.join(work, "out");
    await extractArchive(createReadStream(file), out, { idShift: 200_000 });
    expectSameTree(out, src, { idDelta: 100_000 });
  });

  it("refuses a corrupted archive and leaves the target empty", async () => {
    const src = path.join(work, "src");
    buildFullTree(src, { largeBytes: 2_000_000 });
    const file = path.join(work, "a.tar.zst");
    const result = await archiveTo(src, file);
    const bytes = readFileSync(file);
    bytes[Math.floor(bytes.length / 2)]! ^= 0x55;
    const bad = path.join(work, "bad.tar.zst");
    writeFileSync(bad, bytes);
    const out = path.join(work, "out");
    await expect(
      extractArchive(createReadStream(bad), out, {
        expected: { sha256: result.sha256, size: result.size },
      }),
    ).rejects.toBeInstanceOf(ContentCorruptError);
    expect(readdirSync(out)).toEqual([]);
  });

  it.skipIf(!isRoot)("a full disk during restore is that error, not corrupt content", async () => {
    const src = path.join(work, "src");
    buildFullTree(src, { largeBytes: 4 * 1024 * 1024 });
    const file = path.join(work, "a.tar.zst");
    await archiveTo(src, file);
    const small = path.join(work, "small");
    mkdirSync(small);
    execFileSync("mount", ["-t", "tmpfs", "-o", "size=2m", "tmpfs", small]);
    try {
      const err = await extractArchive(createReadStream(file), path.join(small, "out")).then(
        () => undefined,
        (e: unknown) => e as NodeJS.ErrnoException,
      );
      expect(err).not.toBeInstanceOf(ContentCorruptError);
      expect(err?.code).toBe("ENOSPC");
      expect(readdirSync(path.join(small, "out"))).toEqual([]);
    } finally {
      execFileSync("umount", [small]);
    }
  });

  it("a zstd that cannot start or gets killed is this machine's problem, not corrupt content", async () => {
    const src = path.join(work, "src");
    buildFullTree(src, { largeBytes: 100_000 });
    const file = path.join(work, "a.tar.zst");
    await archiveTo(src, file);
    const killed = path.join(work, "killed-zstd");
    writeFileSync(killed, "#!/bin/sh\nkill -9 $$\n");
    chmodSync(killed, 0o755);
    for (const zstdPath of [path.join(work, "no-such-zstd"), killed]) {
      const out = path.join(work, `out-${path.basename(zstdPath)}`);
      const err = await extractArchive(createReadStream(file), out, { zstdPath }).then(
        () => undefined,
        (e: unknown) => e as Error,
      );
      expect(err, zstdPath).toBeInstanceOf(Error);
      expect(err, zstdPath).not.toBeInstanceOf(ContentCorruptError);
      expect(err?.message).toMatch(/cannot run|SIGKILL/);
      expect(readdirSync(out)).toEqual([]);
    }
  });

  it("refuses a target that is not empty", async () => {
    const src = path.join(work, "src");
    buildFullTree(src, { largeBytes: 10 });
    const file = path.join(work, "a.tar.zst");
    await archiveTo(src, file);
    const out = path.join(work, "out");
    mkdirSync(path.join(out, "existing"), { recursive: true });
    await expect(extractArchive(createReadStream(file), out)).rejects.toThrow(/not empty/);
  });
});
