import { spawn } from "node:child_process";
import { randomBytes } from "node:crypto";
import {
  chmodSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  rmSync,
  symlinkSync,
  writeFileSync,
} from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import {
  dataFrameHeader,
  pieceEndFrame,
  pieceStartFrame,
  reuseFrame,
} from "../../src/chunks/index.js";
import { nativeChunkerOrReason } from "../support/native-chunker.js";

const dirs: string[] = [];
afterAll(() => {
  for (const d of dirs) rmSync(d, { recursive: true, force: true });
});

function privateDir(): string {
  const d = mkdtempSync(path.join(tmpdir(), "wsd-native-hostile-"));
  dirs.push(d);
  return d;
}

/** Runs wsd-chunker on `input` (a regular file) with its stdin closed at once (no acks). */
function run(
  bin: string,
  input: Buffer,
  packDir: string,
  extra: string[] = [],
): Promise<{ code: number | null; stdout: string; stderr: string }> {
  const inputFile = path.join(privateDir(), "input");
  writeFileSync(inputFile, input);
  const child = spawn(bin, ["--input", inputFile, "--pack-dir", packDir, ...extra], {
    stdio: ["pipe", "pipe", "pipe"],
  });
  child.stdin.end();
  let stdout = "";
  let stderr = "";
  child.stdout.setEncoding("utf8").on("data", (s: string) => {
    stdout += s;
  });
  child.stderr.setEncoding("utf8").on("data", (s: string) => {
    stderr += s;
  });
  return new Promise((resolve) => child.on("close", (code) => resolve({ code, stdout, stderr })));
}

const data = (n: number) => {
  const b = randomBytes(n);
  return Buffer.concat([dataFrameHeader(n), b]);
};
const fingerprint = "ab".repeat(32);
const u32 = (n: number) => {
  const b = Buffer.alloc(4);
  b.writeUInt32LE(n >>> 0);
  return b;
};

const chunker = nativeChunkerOrReason();
if (!("path" in chunker)) {
  console.warn(`native chunker hostile input tests skipped: ${chunker.reason}`);
  describe("the native chunker on hostile input", () => {
    it.skip(`skipped: ${chunker.reason}`, () => {});
  });
} else {
  const bin = chunker.path;
  describe("the native chunker on hostile input", () => {
    it.each([
      [
        "a truncated data record",
        Buffer.concat([data(100), dataFrameHeader(50), Buffer.alloc(10)]),
        /ends inside a record/,
      ],
      [
        "a truncated record header",
        Buffer.concat([data(100), Buffer.from([0x44, 1, 0])]),
        /ends inside a record/,
      ],
      [
        "a data frame of 4 GiB",
        Buffer.concat([Buffer.from([0x44]), u32(0xffffffff), Buffer.alloc(100)]),
        /data frame of 4294967295 bytes/,
      ],
      [
        "an empty data frame",
        Buffer.concat([Buffer.from([0x44]), u32(0)]),
        /data frame of 0 bytes/,
      ],
      [
        "a reuse record outside a piece",
        Buffer.concat([data(10), reuseFrame([{ id: fingerprint, length: 5 }])]),
        /not the whole content of a piece/,
      ],
      [
        "a reuse record after data in a piece",
        Buffer.concat([
          pieceStartFrame(fingerprint),
          data(10),
          reuseFrame([{ id: fingerprint, length: 5 }]),
          pieceEndFrame(),
        ]),
        /not the whole content of a piece/,
      ],
      [
        "data after a reuse record",
        Buffer.concat([
          pieceStartFrame(fingerprint),
          reuseFrame([{ id: fingerprint, length: 5 }]),
          data(10),
          pieceEndFrame(),
        ]),
        /data inside a reused piece/,
      ],
      [
        "a reuse record of 2^32-1 chunks",
        Buffer.concat([pieceStartFrame(fingerprint), Buffer.from([0x52]), u32(0xffffffff)]),
        /reuse frame of 4294967295 chunks/,
      ],
      [
        "a reused chunk of length 0",
        Buffer.concat([
          pieceStartFrame(fingerprint),
          reuseFrame([{ id: fingerprint, length: 1 }]).fill(0, 37, 41),
          pieceEndFrame(),
        ]),
        /length 0/,
      ],
      [
        "a reused chunk of 4 GiB",
        Buffer.concat([
          pieceStartFrame(fingerprint),
          reuseFrame([{ id: fingerprint, length: 0xffffffff }]),
          pieceEndFrame(),
        ]),
        /longer than the largest chunk/,
      ],
      [
        "a piece inside a piece",
        Buffer.concat([pieceStartFrame(fingerprint), pieceStartFrame(fingerprint)]),
        /piece starts inside a piece/,
      ],
      ["a piece end without a start", Buffer.concat([data(10), pieceEndFrame()]), /never started/],
      [
        "a piece left open",
        Buffer.concat([pieceStartFrame(fingerprint), data(10)]),
        /ends inside a piece/,
      ],
      ["an unknown record", Buffer.concat([data(10), Buffer.from("Z")]), /unknown record type 90/],
    ])("%s: exits non-zero with a message", async (_name, input, message) => {
      const packDir = privateDir();
      const r = await run(bin, input, packDir);
      expect(r.code).toBe(1);
      expect(r.stderr).toMatch(/^wsd-chunker: /);
      expect(r.stderr).toMatch(message);
      expect(r.stdout).not.toMatch(/^end /m);
    });

    it("never writes through a link planted where a pack goes, nor into an existing file", async () => {
      const packDir = privateDir();
      const outside = path.join(privateDir(), "victim");
      writeFileSync(outside, "precious\n");
      symlinkSync(outside, path.join(packDir, "pack-0.zst"));
      const r = await run(bin, data(100_000), packDir);
      expect(r.code).toBe(1);
      expect(r.stderr).toMatch(/cannot create pack pack-0\.zst: File exists/);
      expect(readFileSync(outside, "utf8")).toBe("precious\n");
      // a dangling link is not followed either
      const dangling = privateDir();
      const target = path.join(privateDir(), "created-through-link");
      symlinkSync(target, path.join(dangling, "pack-0.zst"));
      const r2 = await run(bin, data(100_000), dangling);
      expect(r2.code).toBe(1);
      expect(readdirSync(path.dirname(target))).toEqual([]);
    });

    it("refuses a pack directory others may enter, or a link to one", async () => {
      const open = privateDir();
      chmodSync(open, 0o755);
      const r = await run(bin, data(100), open);
      expect(r.code).toBe(1);
      expect(r.stderr).toMatch(/must be private/);
      const link = path.join(privateDir(), "link");
      symlinkSync(privateDir(), link);
      const r2 = await run(bin, data(100), link);
      expect(r2.code).toBe(1);
      expect(r2.stderr).toMatch(/cannot open pack directory/);
      expect(readdirSync(open)).toEqual([]);
    });

    it("stops at the bound of unacknowledged packs until the daemon acknowledges", async () => {
      // no acknowledgement ever comes (stdin is closed): the first pack is sealed, the second
      // may not start
      const packDir = privateDir();
      const r = await run(bin, data(3_000_000), packDir, [
        "--sizes",
        "4096,16384,65536",
        "--pack-target",
        "200000",
        "--max-sealed",
        "1",
      ]);
      expect(r.code).toBe(1);
      expect(r.stderr).toMatch(/closed the acknowledgement channel/);
      expect(r.stdout.match(/^sealed /gm)?.length).toBe(1);
      expect(readdirSync(packDir)).toEqual(["pack-0.zst"]);
    });

    it("refuses a known-ids file that is not whole ids, and bad options", async () => {
      const packDir = privateDir();
      const known = path.join(privateDir(), "known");
      writeFileSync(known, Buffer.alloc(33));
      const r = await run(bin, data(10), packDir, ["--known", known]);
      expect(r.code).toBe(1);
      expect(r.stderr).toMatch(/not a multiple of 32/);
      for (const bad of [
        ["--level", "0"],
        ["--sizes", "5,4,3"],
        ["--pack-target", "x"],
        ["--nope", "1"],
      ]) {
        const b = await run(bin, data(10), packDir, bad);
        expect(b.code).toBe(1);
        expect(b.stderr).toMatch(/^wsd-chunker: /);
      }
    });
  });
}
