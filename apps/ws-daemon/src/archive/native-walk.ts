import { writeFileSync } from "node:fs";
import path from "node:path";
import type { ReusedChunk } from "../chunks/index.js";
import { ArchiveTreeChangedError } from "./archive-errors.js";
import {
  ArchiveLimitError,
  type ArchiveLimits,
  archiveLimitsOf,
  type SomeArchiveLimits,
} from "./archive-limits.js";
import {
  DEFAULT_PIECE_MIN_BYTES,
  DEFAULT_PIECE_SETTLE_MS,
  type PieceOptions,
} from "./file-pieces.js";

/**
 * The native walk (`wsd-chunker --walk`, native/wsd-chunker-walk.c): the chunker reads the tree
 * itself and makes the same stream the tar worker would
 * (test/chunks/native-walk-differential.int.test.ts), so file bodies never pass through
 * JavaScript. These are its arguments and the errors it reports.
 */
export interface NativeWalkOptions {
  idShift?: number | undefined;
  limits?: SomeArchiveLimits | undefined;
  pieces?: PieceOptions | undefined;
  /** A private directory for the reusable pieces' file. */
  workDir: string;
  /** When the walk starts (ms since the epoch): files changed since `settleMs` before get no fingerprint. */
  startedMs: number;
}

export function nativeWalkArgs(root: string, o: NativeWalkOptions): string[] {
  const l = archiveLimitsOf(o.limits);
  const args = [
    "--walk",
    root,
    "--id-shift",
    String(o.idShift ?? 0),
    "--limits",
    [l.maxEntryBytes, l.maxTotalBytes, l.maxEntries, l.maxPathBytes].join(","),
  ];
  const p = o.pieces;
  if (!p) return args;
  args.push("--pieces", String(p.minBytes ?? DEFAULT_PIECE_MIN_BYTES));
  const settle = p.settleMs ?? DEFAULT_PIECE_SETTLE_MS;
  // as PiecePlanner: BigInt(Math.floor(walkStartedMs - settle)) * 1_000_000n
  if (settle !== 0)
    args.push("--settled-before-ns", String(BigInt(Math.floor(o.startedMs - settle)) * 1_000_000n));
  if (p.reusable && p.reusable.size > 0) {
    const file = path.join(o.workDir, "reusable-pieces");
    writeFileSync(file, encodeReusable(p.reusable), { flag: "wx", mode: 0o600 });
    args.push("--reusable", file);
  }
  return args;
}

/** Per piece: 32-byte fingerprint, u32 LE count, count x (32-byte sha256, u32 LE length). */
export function encodeReusable(reusable: ReadonlyMap<string, readonly ReusedChunk[]>): Buffer {
  let size = 0;
  for (const chunks of reusable.values()) size += 36 + chunks.length * 36;
  const out = Buffer.alloc(size);
  let at = 0;
  for (const [fingerprint, chunks] of reusable) {
    if (out.write(fingerprint, at, 32, "hex") !== 32)
      throw new RangeError(`bad fingerprint ${fingerprint}`);
    out.writeUInt32LE(chunks.length, at + 32);
    at += 36;
    for (const c of chunks) {
      if (out.write(c.id, at, 32, "hex") !== 32) throw new RangeError(`bad chunk id ${c.id}`);
      out.writeUInt32LE(c.length, at + 32);
      at += 36;
    }
  }
  return out;
}

const LIMIT_KEYS = new Set<string>([
  "maxEntryBytes",
  "maxTotalBytes",
  "maxEntries",
  "maxPathBytes",
]);
const REFUSAL = /^wsd-chunker: refused (limit|tree-changed) ((?:[0-9a-f]{2})*) (.*)$/m;

/**
 * The typed error a refusal of the native walk stands for (the one the JavaScript walk throws for
 * the same tree), or undefined when `stderr` holds none.
 */
export function nativeWalkRefusal(stderr: string): Error | undefined {
  const m = REFUSAL.exec(stderr);
  if (!m) return undefined;
  const rel = Buffer.from(m[2] ?? "", "hex").toString("utf8");
  const detail = m[3] ?? "";
  if (m[1] === "tree-changed") return ArchiveTreeChangedError.directory(rel, detail);
  const space = detail.indexOf(" ");
  const limit = detail.slice(0, space);
  if (space < 0 || !LIMIT_KEYS.has(limit)) return undefined;
  return ArchiveLimitError.of(rel, {
    limit: limit as keyof ArchiveLimits,
    reason: detail.slice(space + 1),
  });
}
