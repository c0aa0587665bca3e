import { execFileSync, spawn } from "node:child_process";
import { closeSync, constants, mkdtempSync, openSync, readFileSync, rmSync } from "node:fs";
import { open } from "node:fs/promises";
import { tmpdir } from "node:os";
import path from "node:path";
import type { SomeArchiveLimits } from "../../src/archive/archive-limits.js";
import type { PieceMark, PieceOptions } from "../../src/archive/file-pieces.js";
import { parseNativeChunkerLine } from "../../src/archive/native-chunker-report.js";
import { nativeWalkArgs, nativeWalkRefusal } from "../../src/archive/native-walk.js";
import {
  emptySummary,
  type TarWriteOptions,
  type TarWriteSummary,
  tarDirectorySync,
} from "../../src/archive/tar-writer.js";
import {
  ChunkStreamDecoder,
  cutFrame,
  dataFrameHeader,
  pieceEndFrame,
  pieceStartFrame,
  reuseFrame,
} from "../../src/chunks/index.js";

/** A framed stream reduced to what it means: data runs merged, marks in order. */
export type StreamEvent =
  | { kind: "data"; length: number }
  | { kind: "cut" }
  | { kind: "start"; fingerprint: string }
  | { kind: "end" }
  | { kind: "reuse"; chunks: string };

export function normalizeStream(framed: Buffer): { events: StreamEvent[]; data: Buffer } {
  const events: StreamEvent[] = [];
  const parts: Buffer[] = [];
  let pending: Buffer[] = [];
  const flush = () => {
    if (pending.length === 0) return;
    const b = Buffer.concat(pending);
    pending = [];
    events.push({ kind: "data", length: b.length });
    parts.push(b);
  };
  const decoder = new ChunkStreamDecoder({
    data: (b) => pending.push(Buffer.from(b)),
    cut: () => {
      flush();
      events.push({ kind: "cut" });
    },
    pieceStart: (fingerprint) => {
      flush();
      events.push({ kind: "start", fingerprint });
    },
    pieceEnd: () => {
      flush();
      events.push({ kind: "end" });
    },
    reuse: (chunks) => {
      flush();
      events.push({ kind: "reuse", chunks: chunks.map((c) => `${c.id}:${c.length}`).join(",") });
    },
  });
  decoder.push(framed);
  decoder.end();
  flush();
  return { events, data: Buffer.concat(parts) };
}

function markFrame(m: PieceMark): Buffer {
  if (m.kind === "cut") return cutFrame();
  if (m.kind === "start") return pieceStartFrame(m.fingerprint);
  if (m.kind === "reuse") return reuseFrame(m.chunks);
  return pieceEndFrame();
}

/** The framed stream the JavaScript walk writes (as tar-worker.ts does). */
export function jsWalkStream(
  root: string,
  options: Omit<TarWriteOptions, "pieces"> & {
    pieces?: TarWriteOptions["pieces"] | Omit<NonNullable<TarWriteOptions["pieces"]>, "mark">;
  } = {},
): { framed: Buffer; summary: TarWriteSummary } {
  const out: Buffer[] = [];
  const summary = emptySummary();
  const pieces = options.pieces
    ? { ...options.pieces, mark: (m: PieceMark) => out.push(markFrame(m)) }
    : undefined;
  for (const batch of tarDirectorySync(root, { ...options, pieces }, summary)) {
    out.push(dataFrameHeader(batch.length), Buffer.from(batch));
  }
  return { framed: Buffer.concat(out), summary };
}

export interface WalkResult {
  framed: Buffer;
  summary: TarWriteSummary | undefined;
  error: unknown;
}

/** The JavaScript walk, its failure caught. */
export function jsWalk(root: string, options: Parameters<typeof jsWalkStream>[1] = {}): WalkResult {
  try {
    const { framed, summary } = jsWalkStream(root, options);
    return { framed, summary, error: undefined };
  } catch (error) {
    return { framed: Buffer.alloc(0), summary: undefined, error };
  }
}

/**
 * The native walk (`wsd-chunker --walk ... --dump-stream`), with the same arguments the daemon
 * passes (nativeWalkArgs) and the fault hook played through its test FIFOs: `afterList` runs
 * after each directory was listed, before any of its children is opened, as in the JS walk.
 */
export async function nativeWalk(
  chunker: string,
  root: string,
  options: {
    idShift?: number | undefined;
    limits?: SomeArchiveLimits | undefined;
    pieces?: PieceOptions | undefined;
    afterList?: ((dirRel: string) => void) | undefined;
  } = {},
): Promise<WalkResult> {
  const dir = mkdtempSync(path.join(tmpdir(), "wsd-native-walk-"));
  try {
    const dump = path.join(dir, "stream");
    const args = [
      ...nativeWalkArgs(root, {
        idShift: options.idShift,
        limits: options.limits,
        pieces: options.pieces,
        workDir: dir,
        startedMs: Date.now(),
      }),
      "--dump-stream",
      dump,
    ];
    const req = path.join(dir, "req");
    const ack = path.join(dir, "ack");
    let hook: Promise<void> = Promise.resolve();
    if (options.afterList) {
      execFileSync("mkfifo", [req, ack]);
      args.push("--test-after-list", `${req},${ack}`);
      hook = playHook(req, ack, options.afterList);
    }
    const run = new Promise<{ code: number | null; stdout: string; stderr: string }>((resolve) => {
      const child = spawn(chunker, args, { stdio: ["ignore", "pipe", "pipe"] });
      let stdout = "";
      let stderr = "";
      child.stdout.setEncoding("utf8").on("data", (s: string) => {
        stdout += s;
      });
      child.stderr.setEncoding("utf8").on("data", (s: string) => {
        stderr += s;
      });
      child.on("close", (code) => resolve({ code, stdout, stderr }));
    });
    const { code, stdout, stderr } = await run;
    if (options.afterList) {
      // a walk that ended before it listed anything never opened the FIFOs: let the hook go
      for (const [fifo, flags] of [
        [req, constants.O_WRONLY | constants.O_NONBLOCK],
        [ack, constants.O_RDONLY | constants.O_NONBLOCK],
      ] as const) {
        try {
          closeSync(openSync(fifo, flags));
        } catch {
          // nobody waits at that end
        }
      }
    }
    await hook.catch(() => {});
    if (code !== 0) {
      const error =
        nativeWalkRefusal(stderr) ??
        new Error(`the native chunker failed (exit ${code}): ${stderr.trim()}`);
      return { framed: Buffer.alloc(0), summary: undefined, error };
    }
    const summary = emptySummary();
    for (const line of stdout.split("\n")) {
      if (line === "") continue;
      const e = parseNativeChunkerLine(line, dir);
      if (e.kind === "warning") summary.warnings.push(e.text);
      else if (e.kind === "walked") {
        const { kind: _, ...counts } = e;
        Object.assign(summary, counts);
      } else throw new Error(`unexpected line ${line}`);
    }
    return { framed: readFileSync(dump), summary, error: undefined };
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

async function playHook(req: string, ack: string, afterList: (rel: string) => void): Promise<void> {
  const [r, a] = await Promise.all([open(req, "r"), open(ack, "w")]);
  try {
    let pending = "";
    for await (const chunk of r.createReadStream({ encoding: "utf8" })) {
      pending += chunk;
      for (let nl = pending.indexOf("\n"); nl >= 0; nl = pending.indexOf("\n")) {
        const rel = Buffer.from(pending.slice(0, nl), "hex").toString("utf8");
        pending = pending.slice(nl + 1);
        afterList(rel);
        await a.write(Buffer.of(1));
      }
    }
  } finally {
    await a.close().catch(() => {});
    await r.close().catch(() => {});
  }
}
