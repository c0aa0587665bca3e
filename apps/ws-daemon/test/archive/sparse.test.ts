import { execFileSync } from "node:child_process";
import { createHash } from "node:crypto";
import {
  closeSync,
  constants,
  createReadStream,
  lstatSync,
  mkdirSync,
  openSync,
  readdirSync,
  readFileSync,
  truncateSync,
  writeFileSync,
  writeSync,
} from "node:fs";
import path from "node:path";
import { Readable } from "node:stream";
import { beforeEach, describe, expect, it } from "vitest";
import { extractArchive } from "../../src/archive/index.js";
import { ContentCorruptError } from "../../src/platform/index.js";
import { archiveTo } from "./archive-files.js";
import { compress, packEntries } from "./tar-crafting.js";
import { useWorkDir } from "./work-dir.js";

const MiB = 1024 * 1024;
const work = useWorkDir("wsd-sparse-");

/** Writes `data` at `offset` into `file` (creating it), leaving everything else a hole. */
function writeAt(file: string, offset: number, data: string): void {
  const fd = openSync(file, constants.O_WRONLY | constants.O_CREAT, 0o644);
  try {
    writeSync(fd, data, offset);
  } finally {
    closeSync(fd);
  }
}

const sha = (file: string) => createHash("sha256").update(readFileSync(file)).digest("hex");
/** Bytes the file system allocated for `file`. */
const allocated = (file: string) => lstatSync(file).blocks * 512;

let src: string;
beforeEach(() => {
  src = work.join("src");
  mkdirSync(src);
  // data in the middle, holes around it
  writeAt(path.join(src, "middle"), 5 * MiB, "hello in the middle");
  truncateSync(path.join(src, "middle"), 10 * MiB);
  // a hole, then data up to the end
  writeFileSync(path.join(src, "tail"), "");
  truncateSync(path.join(src, "tail"), 3 * MiB);
  writeAt(path.join(src, "tail"), 3 * MiB, "the end");
  // nothing but a hole (truncate -s 40M), and data, a hole, data
  writeFileSync(path.join(src, "empty"), "");
  truncateSync(path.join(src, "empty"), 40 * MiB);
  writeFileSync(path.join(src, "both-ends"), "start");
  writeAt(path.join(src, "both-ends"), 8 * MiB, "finish");
  writeFileSync(path.join(src, "dense"), Buffer.alloc(2 * MiB, 7));
});

function expectSameContent(out: string): void {
  for (const name of readdirSync(src)) {
    const a = path.join(out, name);
    const b = path.join(src, name);
    expect(lstatSync(a).size, name).toBe(lstatSync(b).size);
    expect(sha(a), name).toBe(sha(b));
  }
}

/** The restored files with holes take about what the originals take, not their full size. */
function expectHolesKept(out: string): void {
  for (const name of ["middle", "tail", "empty", "both-ends"]) {
    const restored = allocated(path.join(out, name));
    expect(restored, name).toBeLessThanOrEqual(allocated(path.join(src, name)) + 64 * 1024);
    expect(restored, name).toBeLessThan(MiB);
  }
}

describe("sparse files keep their holes", () => {
  it("are archived without reading or storing their holes, and restored with them", async () => {
    expect(allocated(path.join(src, "empty"))).toBe(0);
    const file = work.join("a.tar.zst");
    const result = await archiveTo(src, file);
    expect(result.warnings).toEqual([]);
    // 55 MiB of holes were neither read into the tar stream nor stored
    expect(result.uncompressedBytes).toBeLessThan(3 * MiB);
    const out = work.join("out");
    await extractArchive(createReadStream(file), out);
    expectSameContent(out);
    expectHolesKept(out);
  });

  it("GNU tar restores our sparse files, and we restore GNU tar's (pax, GNU sparse 1.0)", async () => {
    const ours = work.join("ours.tar.zst");
    await archiveTo(src, ours);
    const byGnu = work.join("by-gnu");
    mkdirSync(byGnu);
    execFileSync("sh", ["-c", `zstd -dc '${ours}' | tar -x -C '${byGnu}'`]);
    expectSameContent(byGnu);
    expectHolesKept(byGnu);

    const gnu = work.join("gnu.tar.zst");
    execFileSync("sh", [
      "-c",
      `tar -C '${src}' --format=posix --sparse --sparse-version=1.0 -c . | zstd -q -1 > '${gnu}'`,
    ]);
    const out = work.join("from-gnu");
    await extractArchive(createReadStream(gnu), out);
    expectSameContent(out);
    expectHolesKept(out);
  });
});

/** A GNU sparse 1.0 entry as an attacker could write it: any map, any data. */
async function sparseArchive(map: string, data: string, realSize: number): Promise<Buffer> {
  const mapBlock = Buffer.alloc(Math.ceil(Buffer.byteLength(map) / 512) * 512);
  mapBlock.write(map);
  return compress(
    await packEntries([
      {
        name: "GNUSparseFile.0/f",
        body: Buffer.concat([mapBlock, Buffer.from(data)]),
        pax: {
          "GNU.sparse.major": "1",
          "GNU.sparse.minor": "0",
          "GNU.sparse.name": "f",
          "GNU.sparse.realsize": String(realSize),
        },
      },
    ]),
  );
}

/** A map of exactly one block (no padding) whose segment count promises more blocks. */
function fullBlockMap(): string {
  let text = "500\n";
  for (let i = 0; text.length < 512; i++) text += `${i * 2}\n1\n`;
  return text.slice(0, 512);
}

describe("sparse maps are checked", () => {
  const restore = async (archive: Buffer) => {
    const out = work.join("out");
    const err = await extractArchive(Readable.from([archive]), out).then(
      () => undefined,
      (e: unknown) => e,
    );
    return { err, out };
  };

  it("a valid crafted map restores", async () => {
    const { err, out } = await restore(await sparseArchive("2\n3\n2\n10\n1\n", "abc", 20));
    expect(err).toBeUndefined();
    const content = readFileSync(path.join(out, "f"));
    expect(content.length).toBe(20);
    expect(content.toString("latin1")).toBe("\0\0\0ab\0\0\0\0\0c\0\0\0\0\0\0\0\0\0");
  });

  const refused: [string, string, string, number, RegExp][] = [
    ["segments out of order", "2\n10\n1\n3\n2\n", "abc", 20, /overlaps/],
    ["overlapping segments", "2\n3\n4\n5\n1\n", "abcde", 20, /overlaps/],
    ["a segment beyond the real size", "1\n18\n3\n", "abc", 20, /beyond the file/],
    [
      "more data than the map names",
      "1\n0\n2\n",
      "abc",
      20,
      /names 2 data bytes, the entry holds 3/,
    ],
    ["a map longer than allowed", "70000\n", "", 20, /70000 segments/],
    ["a number that is not decimal", "1\n0x1\n1\n", "a", 20, /invalid number/],
    ["a map cut short", "2\n0\n1\n", "a", 20, /sparse map cut short/],
    // one full block of map that promises more segments, and nothing after it
    ["a map that runs past its entry", fullBlockMap(), "", 10_000, /runs past its entry/],
  ];
  for (const [what, map, data, realSize, message] of refused) {
    it(`refuses ${what}`, async () => {
      const { err, out } = await restore(await sparseArchive(map, data, realSize));
      expect(err).toBeInstanceOf(ContentCorruptError);
      expect((err as Error).message).toMatch(message);
      expect(readdirSync(out)).toEqual([]);
    });
  }

  it("refuses a sparse file whose real size is beyond the entry limit", async () => {
    const archive = await sparseArchive("1\n0\n1\n", "a", 10 * MiB);
    const out = work.join("out");
    await expect(
      extractArchive(Readable.from([archive]), out, { maxEntryBytes: MiB }),
    ).rejects.toThrow(/10485760 bytes exceeds the entry limit of 1048576/);
  });
});
