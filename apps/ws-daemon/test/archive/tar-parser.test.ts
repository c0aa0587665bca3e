import { execFileSync } from "node:child_process";
import {
  chownSync,
  linkSync,
  lstatSync,
  mkdirSync,
  readdirSync,
  readFileSync,
  readlinkSync,
  symlinkSync,
  utimesSync,
  writeFileSync,
} from "node:fs";
import path from "node:path";
import { Readable } from "node:stream";
import { describe, expect, it } from "vitest";
import { extractArchive } from "../../src/archive/index.js";
import type { ParsedTarHeader } from "../../src/archive/safe-extractor.js";
import { TarFormatError, TarParser } from "../../src/archive/tar-parser.js";
import { ContentCorruptError } from "../../src/platform/index.js";
import { compress, packEntries } from "./tar-crafting.js";
import { isRoot } from "./tree-fixture.js";
import { useWorkDir } from "./work-dir.js";

interface Parsed {
  header: ParsedTarHeader;
  body: string;
}

/** Parses `archive` fed in pieces of `step` bytes (the parser must not care how input is cut). */
function parse(archive: Buffer, step = archive.length): Parsed[] {
  const out: Parsed[] = [];
  const parser = new TarParser({
    entry(header) {
      const chunks: Buffer[] = [];
      const item = { header, body: "" };
      out.push(item);
      return {
        write: (c) => chunks.push(Buffer.from(c)),
        end: () => {
          item.body = Buffer.concat(chunks).toString("utf8");
        },
      };
    },
  });
  for (let off = 0; off < archive.length; off += step) {
    parser.push(archive.subarray(off, Math.min(off + step, archive.length)));
  }
  parser.end();
  return out;
}

const pack = packEntries;

/** One ustar header block (plus its padded body), built by hand for types tar-stream won't write. */
function rawEntry(
  name: string,
  typeflag: string,
  body: Buffer,
  declaredSize = body.length,
): Buffer {
  const header = Buffer.alloc(512);
  header.write(name, 0, "latin1");
  header.write("0000644\0", 100, "latin1");
  header.write(`${declaredSize.toString(8).padStart(11, "0")}\0`, 124, "latin1");
  header.write(typeflag, 156, "latin1");
  header.write("ustar\u000000", 257, 8, "latin1");
  header.fill(0x20, 148, 156);
  let sum = 0;
  for (const b of header) sum += b;
  header.write(`${sum.toString(8).padStart(6, "0")}\0 `, 148, 8, "latin1");
  return Buffer.concat([header, body, Buffer.alloc((512 - (body.length % 512)) % 512)]);
}

/** Flips bits of byte `at`, as damage in storage or transit would. */
const flip = (b: Buffer, at: number, bits: number) => b.writeUInt8(b.readUInt8(at) ^ bits, at);

const work = useWorkDir("wsd-tar-parser-");

describe("TarParser", () => {
  it("reads the same entries however the input is cut", async () => {
    const archive = await pack([
      { name: "a.txt", body: "hello" },
      { name: "dir", type: "directory" },
      { name: `dir/${"n".repeat(150)}.txt`, body: "x".repeat(1500) },
      { name: "dir/link", type: "symlink", linkname: `../${"t".repeat(120)}` },
      { name: "hard", type: "link", linkname: "a.txt" },
      { name: "pax", body: "p", pax: { "custom.key": "v", mtime: "1700000000.5" } },
    ]);
    const whole = parse(archive);
    expect(whole.map((e) => [e.header.name, e.header.type, e.body.length])).toEqual([
      ["a.txt", "file", 5],
      ["dir", "directory", 0],
      [`dir/${"n".repeat(150)}.txt`, "file", 1500],
      ["dir/link", "symlink", 0],
      ["hard", "link", 0],
      ["pax", "file", 1],
    ]);
    expect(whole[3]?.header.linkname).toBe(`../${"t".repeat(120)}`);
    expect(whole[5]?.header.pax).toMatchObject({ mtime: "1700000000.5" });
    for (const step of [1, 7, 511, 512, 513, 4096]) {
      expect(parse(archive, step), `step ${step}`).toEqual(whole);
    }
  });

  it("refuses a header whose checksum does not match", async () => {
    const archive = await pack([{ name: "a.txt", body: "hello" }]);
    flip(archive, 10, 0x01);
    expect(() => parse(archive)).toThrow(TarFormatError);
    expect(() => parse(archive)).toThrow(/checksum/);
  });

  it("refuses input that stops inside an entry or its extended header", async () => {
    const archive = await pack([
      { name: "a.txt", body: "hello" },
      { name: "b".repeat(200), body: "world" },
    ]);
    expect(() => parse(archive.subarray(0, 512 + 3))).toThrow(/Unexpected end of data/);
    expect(() => parse(archive.subarray(0, 1024 + 300))).toThrow(/Unexpected end of data/);
    // between entries, without the end-of-archive blocks: accepted, as GNU tar does
    expect(parse(archive.subarray(0, 1024)).map((e) => e.header.name)).toEqual(["a.txt"]);
  });

  it("skips a lone zero block, ignores what follows the end marker and global pax headers", async () => {
    const one = await pack([{ name: "one", body: "1" }]);
    const two = await pack([{ name: "two", body: "2" }]);
    const global = rawEntry("pax_global_header", "g", Buffer.from("15 comment=abc\n"));
    const archive = Buffer.concat([
      global,
      one.subarray(0, 1024),
      Buffer.alloc(512),
      two,
      Buffer.from("trailing garbage after the end of the archive"),
    ]);
    expect(parse(archive).map((e) => [e.header.name, e.body])).toEqual([
      ["one", "1"],
      ["two", "2"],
    ]);
  });

  it("refuses oversized extended headers instead of buffering them", () => {
    expect(() => parse(rawEntry("big", "x", Buffer.alloc(0), 2 * 1024 * 1024))).toThrow(
      /too large/,
    );
    // many small ones in front of one entry add up (each merge must not cost the sum so far)
    const record = Buffer.from(`30 comment=${"c".repeat(18)}\n`);
    expect(record.length).toBe(30);
    const small = rawEntry("p", "x", Buffer.concat(Array.from({ length: 16 }, () => record)));
    expect(() => parse(Buffer.concat(Array.from({ length: 3000 }, () => small)))).toThrow(
      /too large/,
    );
    expect(() => parse(rawEntry("bad", "x", Buffer.from("99 path=x\n")))).toThrow(/invalid pax/);
  });
});

describe("pax numbers are decimal only, as POSIX writes them", () => {
  const withPax = (record: string) =>
    Buffer.concat([
      rawEntry("PaxHeaders/f", "x", Buffer.from(record)),
      rawEntry("f", "0", Buffer.alloc(0)),
    ]);
  const rec = (kv: string) => {
    const rest = ` ${kv}\n`;
    let len = rest.length + 1;
    while (`${len}${rest}`.length !== len) len++;
    return `${len}${rest}`;
  };
  for (const bad of [
    "size=",
    "size=0x5",
    "size=1e3",
    "size= 7",
    "uid=-1",
    "gid=1.5",
    "mtime=abc",
  ]) {
    it(`refuses ${bad}`, () => {
      expect(() => parse(withPax(rec(bad)))).toThrow(TarFormatError);
    });
  }
  it("takes uid, gid and fractional mtime from pax", () => {
    const [e] = parse(withPax(rec("uid=3000000") + rec("gid=7") + rec("mtime=1700000000.25")));
    expect(e?.header).toMatchObject({ uid: 3_000_000, gid: 7, mtimeSeconds: 1_700_000_000.25 });
  });
  it("ids beyond what the kernel stores are a hostile entry", async () => {
    const archive = await pack([{ name: "f", body: "x", pax: { uid: "4294967295" } }]);
    const err = await extractArchive(Readable.from([compress(archive)]), work.join("out"), {
      chown: true,
    }).then(
      () => undefined,
      (e: unknown) => e,
    );
    expect(err).toBeInstanceOf(ContentCorruptError);
    expect((err as Error).message).toMatch(/invalid uid/);
  });
});

describe("archives written by GNU tar restore exactly", () => {
  const longName = `${"d".repeat(90)}/${"f".repeat(120)}.txt`;
  function buildTree(src: string): void {
    mkdirSync(path.join(src, "d".repeat(90)), { recursive: true });
    writeFileSync(path.join(src, longName), "long name\n");
    writeFileSync(path.join(src, "plain.txt"), "plain\n");
    mkdirSync(path.join(src, "empty"));
    symlinkSync("t".repeat(150), path.join(src, "long-link"));
    linkSync(path.join(src, "plain.txt"), path.join(src, "hard.txt"));
    utimesSync(path.join(src, "plain.txt"), 1_600_000_000, 1_600_000_000);
    if (isRoot) chownSync(path.join(src, "plain.txt"), 3_000_000, 4_000_000);
  }

  for (const format of ["gnu", "posix", "oldgnu"] as const) {
    it(`--format=${format}`, async () => {
      const src = work.join("src");
      buildTree(src);
      const archive = execFileSync("tar", [`--format=${format}`, "-C", src, "-cf", "-", "."], {
        maxBuffer: 64 * 1024 * 1024,
      });
      const out = work.join("out");
      await extractArchive(Readable.from([compress(archive)]), out, { symlinks: "inert" });
      expect(readFileSync(path.join(out, longName), "utf8")).toBe("long name\n");
      expect(readlinkSync(path.join(out, "long-link"))).toBe("t".repeat(150));
      expect(lstatSync(path.join(out, "hard.txt")).ino).toBe(
        lstatSync(path.join(out, "plain.txt")).ino,
      );
      expect(readdirSync(path.join(out, "empty"))).toEqual([]);
      const st = lstatSync(path.join(out, "plain.txt"));
      expect(st.mtimeMs).toBe(1_600_000_000_000);
      if (isRoot) expect([st.uid, st.gid]).toEqual([3_000_000, 4_000_000]);
    });
  }

  it("a damaged header inside a compressed archive is corrupt content", async () => {
    const src = work.join("src");
    buildTree(src);
    const archive = execFileSync("tar", ["-C", src, "-cf", "-", "."]);
    flip(archive, 20, 0xff);
    const err = await extractArchive(Readable.from([compress(archive)]), work.join("out")).catch(
      (e: unknown) => e,
    );
    expect(err).toBeInstanceOf(ContentCorruptError);
    expect((err as Error).message).toMatch(/not a valid tar stream/);
    expect(readdirSync(work.join("out"))).toEqual([]);
  });
});
