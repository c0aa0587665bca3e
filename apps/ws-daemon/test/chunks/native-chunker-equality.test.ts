import { execFileSync, spawn } from "node:child_process";
import { createHash } from "node:crypto";
import {
  closeSync,
  constants,
  mkdtempSync,
  openSync,
  readFileSync,
  rmSync,
  writeFileSync,
  writeSync,
} from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { parseNativeChunkerLine } from "../../src/archive/native-chunker-report.js";
import {
  type ChunkSizes,
  ChunkStreamDecoder,
  ContentDefinedChunker,
  cutFrame,
  DEFAULT_CHUNK_SIZES,
  dataFrameHeader,
  pieceEndFrame,
  pieceStartFrame,
  reuseFrame,
} from "../../src/chunks/index.js";
import { nativeChunkerOrReason } from "../support/native-chunker.js";

const sha256 = (b: Buffer) => createHash("sha256").update(b).digest("hex");

/** A deterministic pseudo-random generator, so a failure can be replayed from its seed. */
function prng(seed: number): () => number {
  let x = seed >>> 0 || 1;
  return () => {
    x ^= x << 13;
    x >>>= 0;
    x ^= x >>> 17;
    x ^= x << 5;
    x >>>= 0;
    return x / 0x1_0000_0000;
  };
}

/**
 * A framed stream: random data (with repeated runs and zero runs, so chunks repeat and forced
 * cuts at max happen) in data frames of random sizes, with cuts, pieces and one reused piece.
 */
function framedStream(seed: number, totalBytes: number, maxFrame: number): Buffer {
  const rnd = prng(seed);
  const parts: Buffer[] = [];
  let written = 0;
  let earlier: Buffer | undefined;
  let reusedOnce = false;
  while (written < totalBytes) {
    const r = rnd();
    if (r < 0.05) {
      parts.push(cutFrame());
      continue;
    }
    if (r < 0.08 && !reusedOnce) {
      reusedOnce = true;
      parts.push(pieceStartFrame(sha256(Buffer.from(`piece-${seed}`))));
      parts.push(
        reuseFrame([
          { id: sha256(Buffer.from("reused-a")), length: 1000 },
          { id: sha256(Buffer.from("reused-b")), length: 77 },
        ]),
      );
      parts.push(pieceEndFrame());
      continue;
    }
    const inPiece = r < 0.15;
    if (inPiece) parts.push(pieceStartFrame(sha256(Buffer.from(`p-${written}`))));
    const n = 1 + Math.floor(rnd() * maxFrame);
    let data: Buffer;
    if (earlier && rnd() < 0.2) data = earlier;
    else if (rnd() < 0.1) data = Buffer.alloc(n);
    else data = randomBytesFrom(rnd, n);
    earlier = data;
    for (let at = 0; at < data.length; ) {
      const piece = Math.min(data.length - at, 1 + Math.floor(rnd() * maxFrame));
      parts.push(dataFrameHeader(piece), data.subarray(at, at + piece));
      at += piece;
    }
    if (inPiece) parts.push(pieceEndFrame());
    written += data.length;
  }
  return Buffer.concat(parts);
}

function randomBytesFrom(rnd: () => number, n: number): Buffer {
  const b = Buffer.allocUnsafe(n);
  for (let i = 0; i < n; i++) b[i] = Math.floor(rnd() * 256);
  return b;
}

/** What the JavaScript chunk worker makes of the stream: chunk ids and piece events, in order. */
function jsEvents(stream: Buffer, sizes: ChunkSizes, readSize: number): string[] {
  const out: string[] = [];
  const chunker = new ContentDefinedChunker(
    (c) => out.push(`chunk ${sha256(c)} ${c.length}`),
    sizes,
  );
  const decoder = new ChunkStreamDecoder({
    data: (b) => chunker.push(b),
    cut: () => chunker.cut(),
    pieceStart: (fp) => {
      chunker.cut();
      out.push(`piece-start ${fp}`);
    },
    pieceEnd: () => {
      chunker.cut();
      out.push("piece-end");
    },
    reuse: (chunks) => {
      for (const c of chunks) out.push(`chunk ${c.id} ${c.length}`);
    },
  });
  for (let at = 0; at < stream.length; at += readSize)
    decoder.push(stream.subarray(at, at + readSize));
  decoder.end();
  chunker.end();
  return out;
}

interface NativeRun {
  events: string[];
  lines: string[];
  packDir: string;
  code: number | null;
  stderr: string;
}

/** Runs wsd-chunker on `stream`, written into its input FIFO in writes of `writeSize` bytes. */
async function runNative(
  bin: string,
  stream: Buffer,
  writeSize: number,
  extra: string[] = [],
  packDir = mkdtempSync(path.join(tmpdir(), "wsd-native-eq-")),
): Promise<NativeRun> {
  const fifo = path.join(packDir, "input");
  execFileSync("mkfifo", ["-m", "600", fifo]);
  const child = spawn(
    bin,
    ["--input", fifo, "--pack-dir", packDir, "--max-sealed", "1000", ...extra],
    { stdio: ["pipe", "pipe", "pipe"] },
  );
  let stdout = "";
  let stderr = "";
  child.stdout.setEncoding("utf8").on("data", (s: string) => {
    stdout += s;
  });
  child.stderr.setEncoding("utf8").on("data", (s: string) => {
    stderr += s;
  });
  const closed = new Promise<number | null>((resolve) => child.on("close", resolve));
  // a chunker that died before opening its input would leave our open() waiting: release it
  void closed.then(() => closeSync(openSync(fifo, constants.O_RDWR)));
  const fd = openSync(fifo, constants.O_WRONLY);
  try {
    for (let at = 0; at < stream.length; at += writeSize) {
      const piece = stream.subarray(at, at + writeSize);
      let off = 0;
      while (off < piece.length) off += writeSync(fd, piece, off, piece.length - off);
      // let the chunker read this piece before the next one comes (reads of odd sizes)
      if (at % (writeSize * 16) === 0) await new Promise((r) => setImmediate(r));
    }
  } catch {
    // EPIPE: the chunker failed; its exit code and stderr tell why
  } finally {
    closeSync(fd);
  }
  const code = await closed;
  const lines = stdout.split("\n").filter((l) => l !== "");
  const events = lines
    .map((l) => parseNativeChunkerLine(l, packDir))
    .flatMap((e) =>
      e.kind === "chunk"
        ? [`chunk ${e.id} ${e.length}`]
        : e.kind === "piece-start"
          ? [`piece-start ${e.fingerprint}`]
          : e.kind === "piece-end"
            ? ["piece-end"]
            : [],
    );
  return { events, lines, packDir, code, stderr };
}

const chunker = nativeChunkerOrReason();
const dirs: string[] = [];
afterAll(() => {
  for (const d of dirs) rmSync(d, { recursive: true, force: true });
});

if (!("path" in chunker)) {
  console.warn(`native chunker equality skipped: ${chunker.reason}`);
  describe("the native chunker", () => {
    it.skip(`skipped: ${chunker.reason}`, () => {});
  });
} else {
  const bin = chunker.path;
  describe("the native chunker cuts exactly as the JavaScript chunker", () => {
    const small: ChunkSizes = { min: 2048, average: 8192, max: 32768 };
    it.each([
      [1, 3_000_000, 70_001, 4099, 65_537],
      [2, 1_500_000, 9_000, 1, 999],
      [3, 800_000, 300, 7, 31],
      [4, 5_000_000, 1_000_000, 1_048_577, 8191],
    ])(
      "with small chunk sizes (seed %i, %i bytes, frames up to %i, reads of %i / writes of %i)",
      async (seed, total, maxFrame, readSize, writeSize) => {
        const stream = framedStream(seed, total, maxFrame);
        const expected = jsEvents(stream, small, readSize);
        const run = await runNative(bin, stream, writeSize, [
          "--sizes",
          `${small.min},${small.average},${small.max}`,
          "--pack-target",
          "100000",
        ]);
        dirs.push(run.packDir);
        expect(run.stderr).toBe("");
        expect(run.code).toBe(0);
        expect(run.events.length).toBeGreaterThan(50);
        expect(run.events).toEqual(expected);
      },
    );

    it("with the format's chunk sizes, and knows chunks it was told about", async () => {
      const stream = framedStream(5, 24_000_000, 3_000_000);
      const expected = jsEvents(stream, DEFAULT_CHUNK_SIZES, 65_536);
      const expectedIds = expected
        .filter((e) => e.startsWith("chunk "))
        .map((e) => e.split(" ")[1] as string);
      const reused = new Set(["reused-a", "reused-b"].map((s) => sha256(Buffer.from(s))));
      const knownIds = expectedIds.filter((id) => !reused.has(id)).slice(0, 3);
      const packDir = mkdtempSync(path.join(tmpdir(), "wsd-native-eq-"));
      dirs.push(packDir);
      const knownFile = path.join(packDir, "known");
      writeFileSync(knownFile, Buffer.from(knownIds.join(""), "hex"));
      const run = await runNative(bin, stream, 1_000_003, ["--known", knownFile], packDir);
      expect(run.stderr).toBe("");
      expect(run.code).toBe(0);
      expect(run.events).toEqual(expected);
      expect(expectedIds.length).toBeGreaterThan(15);
      // the known ones are reported known, repeated ones dup, the rest new (and stored once)
      const kinds = new Map<string, string[]>();
      for (const l of run.lines.filter((l) => l.startsWith("chunk "))) {
        const [, id, , kind] = l.split(" ");
        kinds.set(id as string, [...(kinds.get(id as string) ?? []), kind as string]);
      }
      for (const id of knownIds) expect(kinds.get(id)?.[0]).toBe("known");
      for (const [, k] of kinds) expect(k.filter((x) => x === "new").length).toBeLessThanOrEqual(1);
      expect([...kinds.values()].some((k) => k.includes("dup"))).toBe(true);
    });

    it("writes every new chunk as its own zstd frame, and a pack decompresses whole to its chunks", async () => {
      const stream = framedStream(6, 4_000_000, 200_000);
      const run = await runNative(bin, stream, 65_536, [
        "--sizes",
        "4096,16384,65536",
        "--pack-target",
        "500000",
      ]);
      dirs.push(run.packDir);
      expect(run.code).toBe(0);
      const data = Buffer.concat(jsEventsData(stream));
      expect(data.length).toBeGreaterThan(3_000_000);
      const sealed = run.lines.filter((l) => l.startsWith("sealed "));
      expect(sealed.length).toBeGreaterThan(3);
      const rawOf = new Map<number, Buffer[]>();
      let frames = 0;
      for (const l of run.lines) {
        const e = parseNativeChunkerLine(l, run.packDir);
        if (e.kind !== "chunk" || e.dedup !== "new") continue;
        const pack = readFileSync(path.join(run.packDir, `pack-${e.pack}.zst`));
        const frame = pack.subarray(e.frameOffset, e.frameOffset + e.frameLength);
        const raw = execFileSync("zstd", ["-d", "-c", "-q"], { input: frame, maxBuffer: 1 << 26 });
        expect(sha256(raw)).toBe(e.id);
        expect(raw.length).toBe(e.length);
        const list = rawOf.get(e.pack) ?? [];
        expect(e.offset).toBe(list.reduce((n, b) => n + b.length, 0));
        list.push(raw);
        rawOf.set(e.pack, list);
        frames++;
      }
      expect(frames).toBeGreaterThan(20);
      for (const l of sealed) {
        const e = parseNativeChunkerLine(l, run.packDir);
        if (e.kind !== "sealed") throw new Error("not a sealed line");
        const whole = execFileSync("zstd", ["-d", "-c", "-q", e.file], { maxBuffer: 1 << 26 });
        expect(whole.equals(Buffer.concat(rawOf.get(e.pack) ?? []))).toBe(true);
        expect(whole.length).toBe(e.rawSize);
        expect(readFileSync(e.file).length).toBe(e.size);
      }
    });
  });

  /** The data bytes of a framed stream, for sanity checks. */
  function jsEventsData(stream: Buffer): Buffer[] {
    const out: Buffer[] = [];
    const d = new ChunkStreamDecoder({
      data: (b) => out.push(Buffer.from(b)),
      cut: () => {},
      pieceStart: () => {},
      pieceEnd: () => {},
      reuse: () => {},
    });
    d.push(stream);
    d.end();
    return out;
  }
}
