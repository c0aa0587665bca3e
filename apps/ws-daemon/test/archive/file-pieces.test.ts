import { execFileSync } from "node:child_process";
import { createHash, randomBytes } from "node:crypto";
import {
  appendFileSync,
  chmodSync,
  closeSync,
  mkdirSync,
  openSync,
  renameSync,
  statSync,
  writeFileSync,
  writeSync,
} from "node:fs";
import path from "node:path";
import { beforeEach, describe, expect, it } from "vitest";
import type { PieceMark, PieceOptions } from "../../src/archive/file-pieces.js";
import {
  emptySummary,
  type TarWriteSummary,
  tarDirectorySync,
} from "../../src/archive/tar-writer.js";
import type { ReusedChunk } from "../../src/chunks/index.js";
import { useWorkDir } from "./work-dir.js";

const MiB = 1024 * 1024;

/** The walk's output as a list: data runs and marks, in stream order. */
type Part = { data: Buffer } | PieceMark;

function walk(root: string, options: PieceOptions): { parts: Part[]; summary: TarWriteSummary } {
  const parts: Part[] = [];
  const summary = emptySummary();
  const pieces = { ...options, mark: (m: PieceMark) => parts.push(m) };
  for (const b of tarDirectorySync(root, { pieces }, summary, true)) {
    parts.push({ data: Buffer.from(b) });
  }
  return { parts, summary };
}

/** Each piece between its start and end mark: a digest of its bytes, or "reuse". */
interface Piece {
  fingerprint: string;
  body: string;
  length: number;
}

function piecesOf(parts: Part[]): Piece[] {
  const out: Piece[] = [];
  let open: { fingerprint: string; bytes: Buffer[]; reused: boolean } | undefined;
  for (const p of parts) {
    if ("data" in p) open?.bytes.push(p.data);
    else if (p.kind === "start") open = { fingerprint: p.fingerprint, bytes: [], reused: false };
    else if (p.kind === "reuse" && open) open.reused = true;
    else if (p.kind === "end" && open) {
      expect(open.reused && open.bytes.length > 0, "data inside a reused piece").toBe(false);
      const bytes = Buffer.concat(open.bytes);
      out.push({
        fingerprint: open.fingerprint,
        body: open.reused ? "reuse" : sha(bytes),
        length: bytes.length,
      });
      open = undefined;
    }
  }
  return out;
}

/** Big buffers compare as digests: a deep equality of MiBs in the test runner takes seconds. */
const sha = (b: Buffer) => createHash("sha256").update(b).digest("hex");

const tarOf = (parts: Part[]) => Buffer.concat(parts.flatMap((p) => ("data" in p ? [p.data] : [])));

/** A reuse map as a previous index would give it: one made-up chunk per piece, of its length. */
function reusableFor(pieces: Piece[]): Map<string, ReusedChunk[]> {
  return new Map(
    pieces.map((p, i) => [
      p.fingerprint,
      [{ id: (i + 1).toString(16).padStart(64, "0"), length: p.length }],
    ]),
  );
}

const bodies = (parts: Part[]) => piecesOf(parts).map((p) => p.body);

describe("pieces in the tar walk (the skip cache)", () => {
  const work = useWorkDir("wsd-pieces-");
  let root: string;
  const big = { a: randomBytes(2 * MiB + 5), b: randomBytes(MiB) };
  const small = "small\n";
  beforeEach(() => {
    root = work.join("tree");
  });

  // pieces in walk order: a run ("./" and a.bin's header), a.bin's body, a run (a.bin's padding
  // and b.bin's header), b.bin's body, a run (small.txt)
  function build(): void {
    mkdirSync(root, { recursive: true });
    writeFileSync(path.join(root, "a.bin"), big.a);
    writeFileSync(path.join(root, "b.bin"), big.b);
    writeFileSync(path.join(root, "small.txt"), small);
  }

  it("marks large bodies and runs of small entries as pieces, and changes nothing in the stream", () => {
    build();
    const { parts, summary } = walk(root, { settleMs: 0 });
    const pieces = piecesOf(parts);
    expect(pieces).toHaveLength(5);
    expect([pieces[1]?.body, pieces[3]?.body]).toEqual([sha(big.a), sha(big.b)]);
    expect(summary.readBytes).toBe(big.a.length + big.b.length + small.length);
    expect(summary.skippedBytes).toBe(0);
    const plain = Buffer.concat([...tarDirectorySync(root, {})].map((b) => Buffer.from(b)));
    expect(sha(tarOf(parts))).toBe(sha(plain));
  });

  it("does not read what stored chunks of the right length stand for, and counts its bytes", () => {
    build();
    const first = walk(root, { settleMs: 0 });
    const reusable = reusableFor(piecesOf(first.parts));
    const again = walk(root, { settleMs: 0, reusable });
    expect(bodies(again.parts)).toEqual(["reuse", "reuse", "reuse", "reuse", "reuse"]);
    expect(again.summary.readBytes).toBe(0);
    expect(again.summary.skippedBytes).toBe(big.a.length + big.b.length + small.length);
    expect(again.summary.bytes).toBe(first.summary.bytes);
    expect(again.summary.entries).toBe(first.summary.entries);
    const reuses = again.parts.filter((p) => "kind" in p && p.kind === "reuse");
    expect(reuses).toEqual([...reusable.values()].map((chunks) => ({ kind: "reuse", chunks })));
  });

  it("reads a file again whose content changed with its size and mtime restored, or that was replaced", () => {
    build();
    const first = walk(root, { settleMs: 0 });
    const reusable = reusableFor(piecesOf(first.parts));
    const a = path.join(root, "a.bin");
    const b = path.join(root, "b.bin");
    const c = path.join(root, "small.txt");
    // a and small.txt: same size, content changed in place, mtime put back (ctime moves on)
    const before = [a, b, c].map((f) => statSync(f, { bigint: true }));
    execFileSync("touch", ["-r", a, work.join("a-times")]);
    execFileSync("touch", ["-r", c, work.join("c-times")]);
    const changedA = Buffer.from(big.a);
    changedA[1000] = (changedA[1000] ?? 0) ^ 0xff;
    const fd = openSync(a, "r+");
    writeSync(fd, changedA, 1000, 1, 1000);
    closeSync(fd);
    writeFileSync(c, "SMALL\n");
    execFileSync("touch", ["-r", work.join("a-times"), a]);
    execFileSync("touch", ["-r", work.join("c-times"), c]);
    // b: replaced by another file (new inode) of the same size and mtime
    const changedB = randomBytes(big.b.length);
    writeFileSync(`${b}.new`, changedB);
    execFileSync("touch", ["-r", b, `${b}.new`]);
    renameSync(`${b}.new`, b);
    const after = [a, b, c].map((f) => statSync(f, { bigint: true }));
    for (const [i, st] of after.entries()) {
      expect([st.size, st.mtimeNs]).toEqual([before[i]?.size, before[i]?.mtimeNs]);
    }

    const again = walk(root, { settleMs: 0, reusable });
    const got = bodies(again.parts);
    // (the root's run changed too: renaming into it moved its mtime)
    expect([got[1], got[3]]).toEqual([sha(changedA), sha(changedB)]);
    expect(got[4]).not.toBe("reuse");
    expect(again.summary.skippedBytes).toBe(0);
    expect(again.summary.readBytes).toBe(big.a.length + big.b.length + small.length);
  });

  it("reads a run of small entries again when a header in it changed (a chmod)", () => {
    build();
    writeFileSync(path.join(root, "tiny.txt"), "tiny\n");
    const first = walk(root, { settleMs: 0 });
    const reusable = reusableFor(piecesOf(first.parts));
    chmodSync(path.join(root, "small.txt"), 0o600);
    const again = walk(root, { settleMs: 0, reusable });
    expect(bodies(again.parts).slice(0, 4)).toEqual(["reuse", "reuse", "reuse", "reuse"]);
    expect(bodies(again.parts).slice(4)).toEqual([expect.not.stringMatching(/^reuse$/)]);
  });

  it("reads what stored chunks do not add up to (a forged or stale index)", () => {
    build();
    const first = walk(root, { settleMs: 0 });
    const reusable = reusableFor(
      piecesOf(first.parts).map((p) => ({ ...p, length: p.length + 1 })),
    );
    const again = walk(root, { settleMs: 0, reusable });
    expect(bodies(again.parts)).not.toContain("reuse");
    expect(again.summary.skippedBytes).toBe(0);
  });

  it("a file that grew since it was listed is read as today, not reused", () => {
    build();
    const first = walk(root, { settleMs: 0 });
    const reusable = reusableFor(piecesOf(first.parts));
    appendFileSync(path.join(root, "a.bin"), "more");
    const again = walk(root, { settleMs: 0, reusable });
    const got = bodies(again.parts);
    expect(got[1]).toBe(sha(Buffer.concat([big.a, Buffer.from("more")])));
    expect(got[3]).toBe("reuse");
  });

  it("gives no fingerprint where a file changed just before the walk (its times cannot be trusted yet)", () => {
    build();
    // a minute, not the default: however slow this machine, the files are younger than that
    const { parts } = walk(root, { settleMs: 60_000 });
    // the runs of "./" and the large files' headers hold no file: nothing to distrust
    expect(piecesOf(parts)).toHaveLength(2);
    // the rest is still cut where its pieces would be, so its chunks are the same
    expect(parts.filter((p) => "kind" in p && p.kind === "cut")).toHaveLength(6);
  });
});
