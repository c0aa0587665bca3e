import { execFileSync } from "node:child_process";
import {
  chmodSync,
  createReadStream,
  lstatSync,
  mkdirSync,
  readdirSync,
  readFileSync,
  writeFileSync,
} from "node:fs";
import path from "node:path";
import { describe, expect, it } from "vitest";
import { extractArchive } from "../../src/archive/index.js";
import { ContentCorruptError } from "../../src/platform/index.js";
import { archivedTree } from "./archive-files.js";
import { expectSameTree } from "./tree-fixture.js";
import { useWorkDir } from "./work-dir.js";

const work = useWorkDir("wsd-archive-");

describe("archive round trip", () => {
  it("keeps content, modes, links, hard link identity, mtimes and empty dirs", async () => {
    const { src, file, result } = await archivedTree(work);
    expect(result.size).toBe(lstatSync(file).size);
    expect(result.sha256).toBe(
      execFileSync("sha256sum", [file], { encoding: "utf8" }).split(" ")[0],
    );
    expect(result.warnings).toEqual([]);

    const out = work.join("out");
    const restored = await extractArchive(createReadStream(file), out, {
      expected: { sha256: result.sha256, size: result.size },
    });
    expect(restored.entries).toBe(result.fileCount);
    // setuid/setgid are stripped on restore unless asked to keep them (issue 17, finding 7)
    expect(lstatSync(path.join(src, "src/setgid-tool")).mode & 0o7777).toBe(0o2755);
    expect(lstatSync(path.join(out, "src/setgid-tool")).mode & 0o7777).toBe(0o755);
    expectSameTree(out, src);
    const kept = work.join("kept");
    await extractArchive(createReadStream(file), kept, { keepSetid: true });
    expectSameTree(kept, src, { setid: "kept" });
    expect(lstatSync(path.join(out, "src/index.ts")).ino).toBe(
      lstatSync(path.join(out, "nested/hardlink-2.ts")).ino,
    );
  });

  it("writes archives GNU tar restores identically, and restores archives GNU tar wrote", async () => {
    const { src, file: ours } = await archivedTree(work, { largeBytes: 700_000 });
    const byGnu = work.join("by-gnu");
    mkdirSync(byGnu);
    execFileSync("sh", ["-c", `zstd -dc '${ours}' | tar -x --numeric-owner -p -C '${byGnu}'`]);
    expectSameTree(byGnu, src, { setid: "kept" });

    const gnu = work.join("gnu.tar.zst");
    execFileSync("sh", [
      "-c",
      `tar -C '${src}' --format=posix --numeric-owner -c . | zstd -q -1 > '${gnu}'`,
    ]);
    const out = work.join("from-gnu");
    await extractArchive(createReadStream(gnu), out);
    expectSameTree(out, src);
  });

  it("refuses a corrupted archive and leaves the target empty", async () => {
    const { file, result } = await archivedTree(work, { largeBytes: 2_000_000 });
    const bytes = readFileSync(file);
    const middle = Math.floor(bytes.length / 2);
    bytes.writeUInt8(bytes.readUInt8(middle) ^ 0x55, middle);
    const bad = work.join("bad.tar.zst");
    writeFileSync(bad, bytes);
    const out = work.join("out");
    await expect(
      extractArchive(createReadStream(bad), out, {
        expected: { sha256: result.sha256, size: result.size },
      }),
    ).rejects.toBeInstanceOf(ContentCorruptError);
    expect(readdirSync(out)).toEqual([]);
  });

  it("a zstd that cannot start or gets killed is this machine's problem, not corrupt content", async () => {
    const { file } = await archivedTree(work, { largeBytes: 100_000 });
    const killed = work.join("killed-zstd");
    writeFileSync(killed, "#!/bin/sh\nkill -9 $$\n");
    chmodSync(killed, 0o755);
    const expectedMessage = {
      "no-such-zstd": /^cannot run .*no-such-zstd: spawn .* ENOENT$/,
      "killed-zstd": /^zstd decompression failed \(SIGKILL\)/,
    };
    for (const [name, message] of Object.entries(expectedMessage)) {
      const zstdPath = work.join(name);
      const out = work.join(`out-${name}`);
      const err = await extractArchive(createReadStream(file), out, { zstdPath }).then(
        () => undefined,
        (e: unknown) => e,
      );
      expect(err, name).toBeInstanceOf(Error);
      expect(err, name).not.toBeInstanceOf(ContentCorruptError);
      expect((err as Error).message, name).toMatch(message);
      expect(readdirSync(out)).toEqual([]);
    }
  });

  it("refuses a target that is not empty", async () => {
    const { file } = await archivedTree(work, { largeBytes: 10 });
    const out = work.join("out");
    mkdirSync(path.join(out, "existing"), { recursive: true });
    await expect(extractArchive(createReadStream(file), out)).rejects.toThrow(
      `restore target ${out} is not empty`,
    );
  });
});
