import { createHash } from "node:crypto";
import { type BigIntStats, fstatSync, type Stats } from "node:fs";
import type { ReusedChunk } from "../chunks/index.js";

/**
 * The skip cache's pieces: stretches of the tar stream whose bytes the walk predicts from
 * metadata alone (docs/chunked-backups.md, "Skip cache"): the body of a large regular file, and
 * a run of consecutive small entries (headers and bodies).
 */
export interface PieceOptions {
  /** Bodies smaller than this are not pieces (their chunks would be small). Default 1 MiB. */
  minBytes?: number | undefined;
  /**
   * A file whose ctime is less than this before the walk started gets no fingerprint: a write
   * in the same clock tick as our stat would not change its times (the "racy" case git knows).
   * Default 100 ms: ten times the coarsest Linux timestamp tick (one jiffy at HZ=100; ext4, xfs,
   * btrfs and tmpfs keep ns or jiffy times). 0 trusts files changed just now (tests only).
   */
  settleMs?: number | undefined;
  /** Fingerprint -> the stored chunks that are that piece's body; those files are not read. */
  reusable?: ReadonlyMap<string, readonly ReusedChunk[]> | undefined;
}

/** What the walk tells the chunker besides tar bytes, in stream order. */
export type PieceMark =
  | { kind: "cut" }
  | { kind: "start"; fingerprint: string }
  | { kind: "reuse"; chunks: readonly ReusedChunk[] }
  | { kind: "end" };

export const DEFAULT_PIECE_MIN_BYTES = 1024 * 1024;
export const DEFAULT_PIECE_SETTLE_MS = 100;

// Bump when anything that decides a piece's tar bytes changes (the encoding of a body or a
// header, or what the fingerprint covers): old fingerprints then simply never match.
const FINGERPRINT_VERSION = "wsd-file-body-v1";
const RUN_FINGERPRINT_VERSION = "wsd-entry-run-v1";

/** A run ends after this many entries or tar bytes at the latest. */
export const MAX_RUN_ENTRIES = 256;
export const MAX_RUN_BYTES = 1024 * 1024;
/** ... and otherwise after an entry whose path hashes to 0 mod this: an added file moves no other run's end. */
const RUN_PATH_MODULUS = 64;

/** One entry of a run of small entries, as the walk prepared it. */
export interface RunEntry {
  /** The entry's exact tar header bytes. */
  header: Buffer;
  /** A regular file's open descriptor; its body follows the header. */
  fd?: number | undefined;
  item: { st: Stats };
}

/**
 * sha256 over what identifies a regular, non-sparse file's content without reading it: its
 * path, size, modification and change times in ns, inode and device. The workspace sets mtime
 * at will but not ctime, and a new inode or any write changes ctime.
 */
export function pieceFingerprint(rel: string, st: BigIntStats): string {
  return createHash("sha256")
    .update([FINGERPRINT_VERSION, rel, st.size, st.mtimeNs, st.ctimeNs, st.ino, st.dev].join("\0"))
    .digest("hex");
}

/** Decides, per large file, whether it is a piece and whether its body can be reused. */
export class PiecePlanner {
  readonly minBytes: number;
  private readonly settledBeforeNs: bigint | undefined;
  private readonly reusable: ReadonlyMap<string, readonly ReusedChunk[]>;

  constructor(options: PieceOptions, walkStartedMs: number) {
    this.minBytes = options.minBytes ?? DEFAULT_PIECE_MIN_BYTES;
    const settle = options.settleMs ?? DEFAULT_PIECE_SETTLE_MS;
    this.settledBeforeNs =
      settle === 0 ? undefined : BigInt(Math.floor(walkStartedMs - settle)) * 1_000_000n;
    this.reusable = options.reusable ?? new Map();
  }

  /**
   * The piece of the file open as `fd` (listed as `st`): undefined when it may not be one
   * (another file than the one listed, or changed too recently to trust its times); `reuse`
   * when stored chunks of exactly its size stand for its body.
   */
  plan(
    fd: number,
    rel: string,
    st: Stats,
  ): { fingerprint: string; reuse: readonly ReusedChunk[] | undefined } | undefined {
    const now = this.stableStat(fd, st);
    if (!now) return undefined;
    const fingerprint = pieceFingerprint(rel, now);
    const chunks = this.reusable.get(fingerprint);
    // a previous index only names chunks; their lengths must add up to this very body
    const fits = chunks && chunks.reduce((n, c) => n + c.length, 0) === st.size;
    return { fingerprint, reuse: fits ? chunks : undefined };
  }

  /** Whether a run of small entries ends after the entry at `rel`. */
  endsRun(rel: string, entries: number, tarBytes: number): boolean {
    return (
      entries >= MAX_RUN_ENTRIES || tarBytes >= MAX_RUN_BYTES || fnv1a(rel) % RUN_PATH_MODULUS === 0
    );
  }

  /**
   * The piece a run of small entries is, fingerprinted by its exact header bytes (names, modes,
   * owners, times, sizes, link targets), the padding of a large body before it (`leadingZeros`)
   * and each file's identity as for a large body; undefined
   * when a file may not be trusted (see plan). `reuse` when stored chunks of exactly the run's
   * `tarBytes` stand for it.
   */
  planRun(
    entries: readonly RunEntry[],
    leadingZeros: number,
    tarBytes: number,
  ): { fingerprint: string; reuse: readonly ReusedChunk[] | undefined } | undefined {
    const hash = createHash("sha256").update(`${RUN_FINGERPRINT_VERSION}\0${leadingZeros}\0`);
    const length = Buffer.alloc(4);
    for (const e of entries) {
      length.writeUInt32LE(e.header.length);
      hash.update(length).update(e.header);
      if (e.fd === undefined) continue;
      const now = this.stableStat(e.fd, e.item.st);
      if (!now) return undefined;
      hash.update(`${[now.size, now.mtimeNs, now.ctimeNs, now.ino, now.dev].join("\0")}\n`);
    }
    const fingerprint = hash.digest("hex");
    const chunks = this.reusable.get(fingerprint);
    const fits = chunks && chunks.reduce((n, c) => n + c.length, 0) === tarBytes;
    return { fingerprint, reuse: fits ? chunks : undefined };
  }

  /** fstat of the open file when it is the one listed and its times can be trusted. */
  private stableStat(fd: number, st: Stats): BigIntStats | undefined {
    const now = fstatSync(fd, { bigint: true });
    const same =
      now.isFile() &&
      now.ino === BigInt(st.ino) &&
      now.dev === BigInt(st.dev) &&
      now.size === BigInt(st.size);
    const settled = this.settledBeforeNs === undefined || now.ctimeNs < this.settledBeforeNs;
    return same && settled ? now : undefined;
  }
}

/** 32-bit FNV-1a of a string's UTF-16 code units: cheap, fixed forever (run ends are part of the format). */
function fnv1a(text: string): number {
  let h = 0x811c9dc5;
  for (let i = 0; i < text.length; i++) {
    h ^= text.charCodeAt(i);
    h = Math.imul(h, 0x01000193) >>> 0;
  }
  return h;
}
